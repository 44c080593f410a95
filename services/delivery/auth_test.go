package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/money"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
	"github.com/vendorgate/vendorgate/services/delivery/internal/server"
)

// The keys of the tests' callers. Only their hashes go into keys files.
const (
	sandboxKey  = "vg_sandbox-dev_testSandboxKey2345678"
	shopKey     = "vg_shop_shopKeyABCDEFGHJKLMNPQRSTUVWX"
	shopKeyNew  = "vg_shop_shopKeyNEWabcdefghjkmnpqrstuv"
	readerKey   = "vg_reader_readerKeyABCDEFGHJKLMNPQRST"
	strangerKey = "vg_stranger_strangerKeyABCDEFGHJKLMNP"
	cappedKey   = "vg_capped_cappedKeyABCDEFGHJKLMNPQRST"
)

// deliveryService is the allow-list prefix of every DeliveryService RPC.
const deliveryService = "vendorgate.delivery.v1.DeliveryService/"

// keysFile is a keys file of the issue's shape: shop may call every
// delivery RPC but ResolveOperation (with shopKeys, one or two during a
// rotation; the paid CreateOrder named in full), reader only GetOrder,
// stranger only another service, capped the same as shop under a daily
// spend cap of ¥13.
func keysFile(shopKeys ...string) string {
	var hashes []string
	for _, k := range shopKeys {
		hashes = append(hashes, strconv.Quote(auth.HashKey(k)))
	}
	return "callers:\n" +
		"  - name: shop\n    keys: [" + strings.Join(hashes, ", ") + "]\n    allow: [\"" + deliveryService + "*\", \"" + deliveryService + "CreateOrder\"]\n" +
		"  - name: reader\n    keys: [\"" + auth.HashKey(readerKey) + "\"]\n    allow: [\"" + deliveryService + "GetOrder\"]\n" +
		"  - name: stranger\n    keys: [\"" + auth.HashKey(strangerKey) + "\"]\n    allow: [\"vendorgate.esign.v1.EsignService/*\"]\n" +
		"  - name: capped\n    keys: [\"" + auth.HashKey(cappedKey) + "\"]\n    allow: [\"" + deliveryService + "*\", \"" + deliveryService + "CreateOrder\"]\n    daily_spend_cap_yuan: \"13\"\n"
}

// writeKeys replaces the keys file at path in one rename, so that a reload
// never reads half of it.
func writeKeys(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startAuth starts the service with AUTH_MODE=api-key and the callers of
// keysFile(shopKey), re-read every 50ms; it returns the keys file's path.
func startAuth(t *testing.T, env ...string) (*harness, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, keysFile(shopKey))
	h := start(t, append([]string{"AUTH_MODE=api-key", "AUTH_KEYS_FILE=" + path, "AUTH_RELOAD_INTERVAL=50ms"}, env...)...)
	return h, path
}

// bearer returns ctx sending key as "authorization: Bearer <key>".
func bearer(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// restAs sends a REST call with key (none when "") and decodes a 200
// answer into out; it returns the HTTP status and the body.
func (h *harness) restAs(t *testing.T, key, method, path string, body, out proto.Message) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := protojson.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, h.rest+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := protojson.Unmarshal(b, out); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
	}
	return resp.StatusCode, string(b)
}

// secrets are what no refusal may name: the keys, their hashes, and the
// callers other than the one refused.
var secrets = []string{shopKey, readerKey, strangerKey, cappedKey, auth.HashKey(shopKey), auth.HashKey(strangerKey), "shop", "reader", "capped"}

// TestAuthOverGRPCAndREST: no key and a wrong key are UNAUTHENTICATED /
// 401, a caller without the RPC in its allow list is PERMISSION_DENIED /
// 403 with ErrorInfo and no other caller or key named, the right key
// works, on both faces; no refused call reaches the vendor.
func TestAuthOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	h, _ := startAuth(t)
	ctx := context.Background()
	if _, err := h.client.CreateOrder(bearer(ctx, shopKey), validOrder("AUTH-1")); err != nil {
		t.Fatal(err)
	}
	reads := h.sim.Calls(dingdangsim.PathOrderRecord)
	lists := h.sim.Calls(dingdangsim.PathOrderList)
	cases := []struct {
		name   string
		key    string
		rpc    string
		code   codes.Code
		http   int
		reason string
	}{
		{"no key", "", "GetOrder", codes.Unauthenticated, http.StatusUnauthorized, auth.ReasonMissing},
		{"wrong key", "vg_shop_notTheKeyABCDEFGHJKLMNPQRSTU", "GetOrder", codes.Unauthenticated, http.StatusUnauthorized, auth.ReasonInvalid},
		{"caller of another service", strangerKey, "GetOrder", codes.PermissionDenied, http.StatusForbidden, auth.ReasonDenied},
		{"RPC not in the allow list", readerKey, "ListOrders", codes.PermissionDenied, http.StatusForbidden, auth.ReasonDenied},
		{"allowed RPC", readerKey, "GetOrder", codes.OK, http.StatusOK, ""},
		{"Service/*", shopKey, "ListOrders", codes.OK, http.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cctx := ctx
			if c.key != "" {
				cctx = bearer(ctx, c.key)
			}
			var err error
			path := "/v1/delivery/orders/AUTH-1"
			if c.rpc == "GetOrder" {
				_, err = h.client.GetOrder(cctx, &deliveryv1.GetOrderRequest{OriginId: "AUTH-1"})
			} else {
				_, err = h.client.ListOrders(cctx, &deliveryv1.ListOrdersRequest{})
				path = "/v1/delivery/orders"
			}
			st := status.Convert(err)
			if st.Code() != c.code {
				t.Fatalf("gRPC: got %v, want %s", err, c.code)
			}
			if c.code != codes.OK {
				info := errorInfo(t, err)
				if info.GetReason() != c.reason || info.GetDomain() != server.Domain {
					t.Errorf("gRPC ErrorInfo: got %v, want reason %s in %s", info, c.reason, server.Domain)
				}
				for _, s := range secrets {
					if strings.Contains(st.Message(), s) {
						t.Errorf("gRPC: the refusal %q names %q", st.Message(), s)
					}
				}
			}
			code, body := h.restAs(t, c.key, http.MethodGet, path, nil, nil)
			if code != c.http || (c.reason != "" && !strings.Contains(body, `"reason":"`+c.reason+`"`) && !strings.Contains(body, `"reason": "`+c.reason+`"`)) {
				t.Errorf("REST: got %d %s, want %d %s", code, body, c.http, c.reason)
			}
			if c.code != codes.OK {
				var st struct {
					Message string `json:"message"`
				}
				_ = json.Unmarshal([]byte(body), &st)
				for _, s := range secrets {
					if strings.Contains(st.Message, s) {
						t.Errorf("REST: the refusal %q names %q", st.Message, s)
					}
				}
			}
		})
	}
	// Two allowed calls of each face: GetOrder by reader, ListOrders by shop.
	if got := h.sim.Calls(dingdangsim.PathOrderRecord) - reads; got != 2 {
		t.Errorf("orderRecord calls: got %d, want 2 (refused calls must not reach the vendor)", got)
	}
	if got := h.sim.Calls(dingdangsim.PathOrderList) - lists; got != 2 {
		t.Errorf("list calls: got %d, want 2 (refused calls must not reach the vendor)", got)
	}
}

// TestPaidAndOperatorRPCsNeedAnExplicitGrant: a caller allowed
// "DeliveryService/*" may call the mutating RPCs, over gRPC and REST, but
// not the paid CreateOrder nor the operator's ResolveOperation: those must
// be named in full.
func TestPaidAndOperatorRPCsNeedAnExplicitGrant(t *testing.T) {
	t.Parallel()
	for _, rpc := range []string{deliveryService + "CreateOrder", deliveryService + "ResolveOperation"} {
		if !slices.Contains(auth.PaidOrMoneyRPCs(), rpc) {
			t.Fatalf("auth.PaidOrMoneyRPCs() lacks %s", rpc)
		}
	}
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, "callers:\n"+
		"  - name: wild\n    keys: [\""+auth.HashKey(strangerKey)+"\"]\n    allow: [\""+deliveryService+"*\"]\n"+
		"  - name: shop\n    keys: [\""+auth.HashKey(shopKey)+"\"]\n    allow: [\""+deliveryService+"*\", \""+deliveryService+"CreateOrder\"]\n")
	h := start(t, "AUTH_MODE=api-key", "AUTH_KEYS_FILE="+path)
	wild := bearer(context.Background(), strangerKey)
	if _, err := h.client.CreateOrder(wild, validOrder("GRANT-0")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateOrder through DeliveryService/*: got %v, want PERMISSION_DENIED", err)
	}
	if code, body := h.restAs(t, strangerKey, http.MethodPost, "/v1/delivery/orders", validOrder("GRANT-0"), nil); code != http.StatusForbidden {
		t.Errorf("REST CreateOrder through DeliveryService/*: got %d %s, want 403", code, body)
	}
	_, err := h.client.ResolveOperation(wild, &deliveryv1.ResolveOperationRequest{RequestId: "r-1",
		Outcome: deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, Note: "checked"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("ResolveOperation through DeliveryService/*: got %v, want PERMISSION_DENIED", err)
	}
	if n := h.sim.Calls(dingdangsim.PathCreateOrder); n != 0 {
		t.Errorf("refused dispatches reached the vendor: %d createOrder calls", n)
	}
	if _, err := h.client.ListUnresolvedOperations(wild, &deliveryv1.ListUnresolvedOperationsRequest{}); err != nil {
		t.Errorf("ListUnresolvedOperations: %v", err)
	}
	if _, err := h.client.UpsertShop(wild, validShop("grant-1")); err != nil {
		t.Errorf("UpsertShop: %v", err)
	}
	if _, err := h.client.IssueMerchantToken(wild, &deliveryv1.IssueMerchantTokenRequest{PerUserid: "grant-1", Username: "shop_grant-1", Mobile: "13895666331", Password: "hunter2-merchant"}); err != nil {
		t.Errorf("IssueMerchantToken: %v", err)
	}
	if _, err := h.client.CreateOrder(bearer(context.Background(), shopKey), validOrder("GRANT-1")); err != nil {
		t.Fatalf("CreateOrder granted by name: %v", err)
	}
	if _, err := h.client.CancelOrder(wild, &deliveryv1.CancelOrderRequest{OriginId: "GRANT-1", ReasonId: 10000, Reason: "顾客改主意了"}); err != nil {
		t.Errorf("CancelOrder: %v", err)
	}
	if code, body := h.restAs(t, shopKey, http.MethodPost, "/v1/delivery/orders", validOrder("GRANT-2"), nil); code != http.StatusOK {
		t.Errorf("REST CreateOrder granted by name: got %d %s", code, body)
	}
	if code, body := h.restAs(t, strangerKey, http.MethodPost, "/v1/delivery/orders/GRANT-2:cancel",
		&deliveryv1.CancelOrderRequest{ReasonId: 10000, Reason: "顾客改主意了"}, nil); code != http.StatusOK {
		t.Errorf("REST CancelOrder: got %d %s", code, body)
	}
}

// TestWatchOrderIsGuarded: the server stream refuses a call without a key
// (gRPC UNAUTHENTICATED on the first receive, REST 401) or with a caller
// not allowed it, and serves one with the right key.
func TestWatchOrderIsGuarded(t *testing.T) {
	t.Parallel()
	h, _ := startAuth(t)
	if _, err := h.client.CreateOrder(bearer(context.Background(), shopKey), validOrder("WATCH-1")); err != nil {
		t.Fatal(err)
	}
	recv := func(key string) (*deliveryv1.WatchOrderResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if key != "" {
			ctx = bearer(ctx, key)
		}
		stream, err := h.client.WatchOrder(ctx, &deliveryv1.WatchOrderRequest{OriginId: "WATCH-1"})
		if err != nil {
			return nil, err
		}
		return stream.Recv()
	}
	if _, err := recv(""); status.Code(err) != codes.Unauthenticated || errorInfo(t, err).GetReason() != auth.ReasonMissing {
		t.Errorf("gRPC without a key: got %v, want UNAUTHENTICATED %s", err, auth.ReasonMissing)
	}
	if _, err := recv(readerKey); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC as reader: got %v, want PERMISSION_DENIED", err)
	}
	if resp, err := recv(shopKey); err != nil || resp.GetEvent().GetOriginId() != "WATCH-1" {
		t.Errorf("gRPC with the key: got %v, %v, want the order's first event", resp, err)
	}
	for key, want := range map[string]int{"": http.StatusUnauthorized, "vg_x_wrongKeyABCDEFGHJKLMNPQRSTUVW": http.StatusUnauthorized, readerKey: http.StatusForbidden} {
		if code, body := h.restAs(t, key, http.MethodGet, "/v1/delivery/orders/WATCH-1:watch", nil, nil); code != want {
			t.Errorf("REST watch with key %.8q: got %d %s, want %d", key, code, body, want)
		}
	}
	// With the key, the first line of the stream is the order's state.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.rest+"/v1/delivery/orders/WATCH-1:watch", nil)
	req.Header.Set("Authorization", "Bearer "+shopKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := make([]byte, 64)
	n, _ := io.ReadAtLeast(resp.Body, line, len(`{"result":`))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(line[:n]), `{"result":`) {
		t.Errorf("REST watch with the key: got %d %q", resp.StatusCode, line[:n])
	}
}

// TestKeyRotationWithoutRestart: with two keys of one caller in the file
// both work; once the file holds only the new one, the old one is refused
// (the service re-reads the file, no restart) and the new one still works.
func TestKeyRotationWithoutRestart(t *testing.T) {
	t.Parallel()
	h, path := startAuth(t)
	if _, err := h.client.CreateOrder(bearer(context.Background(), shopKey), validOrder("ROT-1")); err != nil {
		t.Fatal(err)
	}
	works := func(key string) (grpcCode codes.Code, httpCode int) {
		_, err := h.client.GetOrder(bearer(context.Background(), key), &deliveryv1.GetOrderRequest{OriginId: "ROT-1"})
		httpCode, _ = h.restAs(t, key, http.MethodGet, "/v1/delivery/orders/ROT-1", nil, nil)
		return status.Code(err), httpCode
	}
	if g, r := works(shopKeyNew); g != codes.Unauthenticated || r != http.StatusUnauthorized {
		t.Fatalf("new key before the rotation: got %s / %d, want refused", g, r)
	}
	writeKeys(t, path, keysFile(shopKey, shopKeyNew))
	waitFor(t, 5*time.Second, "the new key accepted", func() bool { g, _ := works(shopKeyNew); return g == codes.OK })
	for _, key := range []string{shopKey, shopKeyNew} {
		if g, r := works(key); g != codes.OK || r != http.StatusOK {
			t.Errorf("during the overlap, key %.12s…: got %s / %d, want OK", key, g, r)
		}
	}
	writeKeys(t, path, keysFile(shopKeyNew))
	waitFor(t, 5*time.Second, "the old key refused", func() bool { g, _ := works(shopKey); return g == codes.Unauthenticated })
	if g, r := works(shopKey); g != codes.Unauthenticated || r != http.StatusUnauthorized {
		t.Errorf("old key after the rotation: got %s / %d, want UNAUTHENTICATED / 401", g, r)
	}
	if g, r := works(shopKeyNew); g != codes.OK || r != http.StatusOK {
		t.Errorf("new key after the rotation: got %s / %d, want OK", g, r)
	}
}

// TestCallbackListenerNeedsNoKey: with auth on, the vendor's status push
// (which cannot carry our keys) still reaches the callback listener and is
// recorded; the API port still wants a key.
func TestCallbackListenerNeedsNoKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, keysFile(shopKey))
	_, env := withCallbacks(t)
	h := startTracked(t, time.Hour, append(env, "AUTH_MODE=api-key", "AUTH_KEYS_FILE="+path)...)
	ctx := bearer(context.Background(), shopKey)
	if _, err := h.client.CreateOrder(ctx, validOrder("CB-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.CancelOrder(ctx, &deliveryv1.CancelOrderRequest{OriginId: "CB-1", ReasonId: 10000, Reason: "顾客改主意了"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the simulator's push answered", func() bool { return len(h.sim.Callbacks()) == 1 })
	if cb := h.sim.Callbacks()[0]; cb.Status != http.StatusOK {
		t.Fatalf("the vendor's push without a key: got HTTP %d, want 200", cb.Status)
	}
	resp, err := h.client.ListOrderEvents(ctx, &deliveryv1.ListOrderEventsRequest{OriginId: "CB-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(resp.GetEvents()); got != "1:CANCELLED/5(final=true,PUSH)" {
		t.Errorf("got %s, want the pushed cancel recorded", got)
	}
	if _, err := h.client.ListOrderEvents(context.Background(), &deliveryv1.ListOrderEventsRequest{OriginId: "CB-1"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("API port without a key: got %v, want UNAUTHENTICATED", err)
	}
}

// TestGetUsageCountsEveryVendorCall: after calls by two callers, GetUsage
// over gRPC and REST counts per endpoint exactly the calls the simulator
// received, attributes them to their callers, and costs the dispatches at
// DINGDANG_DISPATCH_PRICE_YUAN each.
func TestGetUsageCountsEveryVendorCall(t *testing.T) {
	t.Parallel()
	h, _ := startAuth(t, "DINGDANG_DISPATCH_PRICE_YUAN=6.50")
	shop := bearer(context.Background(), shopKey)
	reader := bearer(context.Background(), readerKey)
	for _, id := range []string{"USE-1", "USE-2", "USE-3"} {
		if _, err := h.client.CreateOrder(shop, validOrder(id)); err != nil {
			t.Fatal(err)
		}
	}
	// A refused dispatch is counted as a call and a failure, and costs nothing.
	if _, err := h.client.CreateOrder(shop, validOrder("USE-1")); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate dispatch: got %v, want ALREADY_EXISTS", err)
	}
	for range 2 {
		if _, err := h.client.GetOrder(reader, &deliveryv1.GetOrderRequest{OriginId: "USE-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if code, body := h.restAs(t, shopKey, http.MethodGet, "/v1/delivery/orders/USE-2", nil, nil); code != http.StatusOK {
		t.Fatalf("REST GetOrder: %d %s", code, body)
	}
	if _, err := h.client.ListOrders(shop, &deliveryv1.ListOrdersRequest{}); err != nil {
		t.Fatal(err)
	}
	start, end := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	want := map[string]int64{
		dingdangsim.PathCreateOrder: int64(h.sim.Calls(dingdangsim.PathCreateOrder)),
		dingdangsim.PathOrderRecord: int64(h.sim.Calls(dingdangsim.PathOrderRecord)),
		dingdangsim.PathOrderList:   int64(h.sim.Calls(dingdangsim.PathOrderList)),
	}
	if want[dingdangsim.PathCreateOrder] != 4 || want[dingdangsim.PathOrderRecord] != 3 || want[dingdangsim.PathOrderList] != 1 {
		t.Fatalf("simulator counts: got %v, want 4 createOrder, 3 orderRecord, 1 list", want)
	}
	req := &deliveryv1.GetUsageRequest{StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)}
	// The ledger writes in batches, at most a second apart.
	var grpcReport *deliveryv1.GetUsageResponse
	waitFor(t, 5*time.Second, "the ledger written", func() bool {
		r, err := h.client.GetUsage(shop, req)
		if err != nil {
			t.Fatal(err)
		}
		grpcReport = r
		return r.GetReport().GetTotalCalls() == 8
	})
	restReport := &deliveryv1.GetUsageResponse{}
	q := url.Values{"start_time": {start.UTC().Format(time.RFC3339Nano)}, "end_time": {end.UTC().Format(time.RFC3339Nano)}}
	if code, body := h.restAs(t, shopKey, http.MethodGet, "/v1/delivery/usage?"+q.Encode(), nil, restReport); code != http.StatusOK {
		t.Fatalf("REST GetUsage: %d %s", code, body)
	}
	for face, r := range map[string]*deliveryv1.GetUsageResponse{"grpc": grpcReport, "rest": restReport} {
		rep := r.GetReport()
		got := map[string]int64{}
		type key struct{ caller, endpoint string }
		rows := map[key]int64{}
		var failures int64
		for _, row := range rep.GetRows() {
			if row.GetVendor() != "dingdang" {
				t.Errorf("%s: row of vendor %q", face, row.GetVendor())
			}
			got[row.GetEndpoint()] += row.GetCalls()
			rows[key{row.GetCaller(), row.GetEndpoint()}] += row.GetCalls()
			failures += row.GetFailures()
			wantCost := "0.00"
			if row.GetEndpoint() == dingdangsim.PathCreateOrder {
				wantCost = money.Yuan(650 * (row.GetCalls() - row.GetFailures()))
			}
			if row.GetCostYuan() != wantCost {
				t.Errorf("%s: %s %s cost: got %s, want %s", face, row.GetCaller(), row.GetEndpoint(), row.GetCostYuan(), wantCost)
			}
		}
		for ep, n := range want {
			if got[ep] != n {
				t.Errorf("%s: %s calls: got %d, want the simulator's %d", face, ep, got[ep], n)
			}
		}
		wantRows := map[key]int64{
			{"shop", dingdangsim.PathCreateOrder}: 4, {"shop", dingdangsim.PathOrderRecord}: 1,
			{"shop", dingdangsim.PathOrderList}: 1, {"reader", dingdangsim.PathOrderRecord}: 2,
		}
		for k, n := range wantRows {
			if rows[k] != n {
				t.Errorf("%s: %s calls of %s: got %d, want %d", face, k.endpoint, k.caller, rows[k], n)
			}
		}
		if failures != 1 || rep.GetTotalCalls() != 8 || rep.GetTotalCostYuan() != "19.50" || rep.GetService() != "delivery" {
			t.Errorf("%s: got %d failures, %d calls, ¥%s of %q, want 1, 8, ¥19.50 (3 dispatches × ¥6.50) of delivery",
				face, failures, rep.GetTotalCalls(), rep.GetTotalCostYuan(), rep.GetService())
		}
	}
	// GetUsage is guarded like every RPC, and checks its range.
	if _, err := h.client.GetUsage(context.Background(), req); status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetUsage without a key: got %v, want UNAUTHENTICATED", err)
	}
	if code, _ := h.restAs(t, "", http.MethodGet, "/v1/delivery/usage?"+q.Encode(), nil, nil); code != http.StatusUnauthorized {
		t.Errorf("REST GetUsage without a key: got %d, want 401", code)
	}
	if _, err := h.client.GetUsage(shop, &deliveryv1.GetUsageRequest{StartTime: req.GetStartTime()}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetUsage without end_time: got %v, want INVALID_ARGUMENT", err)
	}
}

// TestDispatchSpendCap: with dispatches at ¥6.50 and a ¥13 daily cap, the
// caller gets two dispatches; a dispatch the vendor refused does not count;
// the third is RESOURCE_EXHAUSTED (REST 429) with DAILY_SPEND_CAP_REACHED
// before any vendor call. Reads stay free and allowed.
func TestDispatchSpendCap(t *testing.T) {
	t.Parallel()
	h, _ := startAuth(t, "DINGDANG_DISPATCH_PRICE_YUAN=6.50")
	capped := bearer(context.Background(), cappedKey)
	if _, err := h.client.CreateOrder(capped, validOrder("CAP-1")); err != nil {
		t.Fatal(err)
	}
	// Refused by the vendor (duplicate origin_id): its booking is released.
	if _, err := h.client.CreateOrder(capped, validOrder("CAP-1")); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate: got %v, want ALREADY_EXISTS", err)
	}
	if code, body := h.restAs(t, cappedKey, http.MethodPost, "/v1/delivery/orders", validOrder("CAP-2"), nil); code != http.StatusOK {
		t.Fatalf("second dispatch (¥13 of ¥13): got %d %s", code, body)
	}
	sent := h.sim.Calls(dingdangsim.PathCreateOrder)
	_, err := h.client.CreateOrder(capped, validOrder("CAP-3"))
	if status.Code(err) != codes.ResourceExhausted || errorInfo(t, err).GetReason() != usage.ReasonSpendCap {
		t.Errorf("gRPC third dispatch: got %v, want RESOURCE_EXHAUSTED %s", err, usage.ReasonSpendCap)
	}
	code, body := h.restAs(t, cappedKey, http.MethodPost, "/v1/delivery/orders", validOrder("CAP-4"), nil)
	if code != http.StatusTooManyRequests || !strings.Contains(body, usage.ReasonSpendCap) {
		t.Errorf("REST third dispatch: got %d %s, want 429 %s", code, body, usage.ReasonSpendCap)
	}
	if n := h.sim.Calls(dingdangsim.PathCreateOrder); n != sent {
		t.Errorf("dispatches over the cap reached the vendor: %d → %d createOrder calls", sent, n)
	}
	if _, err := h.client.GetOrder(capped, &deliveryv1.GetOrderRequest{OriginId: "CAP-2"}); err != nil {
		t.Errorf("a free read over the cap: %v", err)
	}
	// Another caller's budget is its own.
	if _, err := h.client.CreateOrder(bearer(context.Background(), shopKey), validOrder("CAP-5")); err != nil {
		t.Errorf("another caller's dispatch: %v", err)
	}
}
