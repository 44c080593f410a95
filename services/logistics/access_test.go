package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/money"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
)

// The test callers' keys. Only their hashes go into the keys file.
const (
	opsKey       = "vg_ops_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	treasurerKey = "vg_treasurer_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	shopKey      = "vg_shop_cccccccccccccccccccccccccccccccc"
	readerKey    = "vg_reader_dddddddddddddddddddddddddddddddd"
	oldKey       = "vg_rotating_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
	newKey       = "vg_rotating_ffffffffffffffffffffffffffffffff"
	wrongKey     = "vg_ops_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
)

// owners names each key's caller.
var owners = map[string]string{opsKey: "ops", treasurerKey: "treasurer", shopKey: "shop", readerKey: "reader", oldKey: "rotating", newKey: "rotating"}

const (
	parcelSvc  = "vendorgate.logistics.v1.ParcelService"
	billingSvc = "vendorgate.logistics.v1.BillingService"
	// orderPrice is DAMAIJIA_ORDER_PRICE_YUAN in the tests; shop's cap
	// of ¥6 allows two orders.
	orderPrice, orderPriceFen = "2.50", 250
)

// callers are the keys file of the tests; rotatingKeys are the keys of
// the caller "rotating".
func callers(rotatingKeys ...string) []auth.Caller {
	hashes := func(keys ...string) []string {
		var out []string
		for _, k := range keys {
			out = append(out, auth.HashKey(k))
		}
		return out
	}
	return []auth.Caller{
		// ops may do everything but move money; it orders parcels (paid)
		// by name.
		{Name: "ops", Keys: hashes(opsKey), Allow: []string{parcelSvc + "/*", parcelSvc + "/CreateParcelOrder", billingSvc + "/*"}},
		// treasurer is granted Recharge and CloseBatch by name.
		{Name: "treasurer", Keys: hashes(treasurerKey), Allow: []string{billingSvc + "/Recharge", billingSvc + "/CloseBatch"}},
		// shop orders parcels (by name) under a daily cap.
		{Name: "shop", Keys: hashes(shopKey), Allow: []string{parcelSvc + "/*", parcelSvc + "/CreateParcelOrder"}, DailySpendCapYuan: "6"},
		// reader may only list warehouses.
		{Name: "reader", Keys: hashes(readerKey), Allow: []string{parcelSvc + "/ListWarehouses"}},
		{Name: "rotating", Keys: hashes(rotatingKeys...), Allow: []string{parcelSvc + "/ListWarehouses"}},
	}
}

// writeKeys replaces the keys file at path in one step, as an operator's
// deployment tool would, so that a reload never reads half a file.
func writeKeys(t *testing.T, path string, cs []auth.Caller) {
	t.Helper()
	b, err := yaml.Marshal(auth.KeysFile{Callers: cs})
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startRun runs the service in this process with environ, on a loopback
// port, until the test ends; it returns the address and the logs.
func startRun(t *testing.T, environ []string) (string, *logtest.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logtest.Buffer{}
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, environ, logs, func(a net.Addr) { addr <- a }) }()
	var a net.Addr
	select {
	case a = <-addr:
	case err := <-done:
		cancel()
		t.Fatalf("run ended before listening: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("service did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("service did not stop")
		}
	})
	return a.String(), logs
}

// accessService is the service with the test callers, in front of the
// simulators.
type accessService struct {
	v        *vendors
	addr     string
	keysFile string
	conn     *grpc.ClientConn
	logs     *logtest.Buffer
}

func startAccess(t *testing.T) *accessService {
	t.Helper()
	v := startVendors(t, damaijiasim.Options{ShipAfter: time.Hour})
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, keys, callers(oldKey, newKey))
	addr, logs := startRun(t, append(v.env, "AUTH_MODE=api-key", "AUTH_KEYS_FILE="+keys, "AUTH_RELOAD_INTERVAL=100ms",
		"DAMAIJIA_ORDER_PRICE_YUAN="+orderPrice))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &accessService{v: v, addr: addr, keysFile: keys, conn: conn, logs: logs}
}

// call is one RPC, over gRPC and over REST.
type call struct {
	name string
	grpc func(ctx context.Context, conn *grpc.ClientConn) error
	// method, path and body are the REST request; resp receives its answer.
	method, path string
	body, resp   proto.Message
}

// withKey returns ctx sending key as gRPC metadata; "" sends none.
func withKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// viaGRPC runs c over gRPC with key.
func (s *accessService) viaGRPC(ctx context.Context, c call, key string) *status.Status {
	return status.Convert(c.grpc(withKey(ctx, key), s.conn))
}

// viaREST runs c over REST with key and returns the HTTP status and the
// error status (nil on 200).
func (s *accessService) viaREST(ctx context.Context, c call, key string) (int, *status.Status) {
	var in io.Reader
	if c.body != nil {
		b, err := protojson.Marshal(c.body)
		if err != nil {
			return 0, status.New(codes.Internal, err.Error())
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, "http://"+s.addr+c.path, in)
	if err != nil {
		return 0, status.New(codes.Internal, err.Error())
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, status.New(codes.Unavailable, err.Error())
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return r.StatusCode, status.New(codes.Internal, err.Error())
	}
	if r.StatusCode != http.StatusOK {
		var st spb.Status
		if err := protojson.Unmarshal(b, &st); err != nil {
			return r.StatusCode, status.New(codes.Internal, fmt.Sprintf("HTTP %d with undecodable body %q: %v", r.StatusCode, b, err))
		}
		return r.StatusCode, status.FromProto(&st)
	}
	if c.resp != nil {
		if err := protojson.Unmarshal(b, c.resp); err != nil {
			return r.StatusCode, status.New(codes.Internal, fmt.Sprintf("undecodable body %q: %v", b, err))
		}
	}
	return r.StatusCode, nil
}

// infoOf returns a status's ErrorInfo, or nil.
func infoOf(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// expect runs c over gRPC and REST with key and checks the outcome: code
// (OK for success), the HTTP status that goes with it and, for a
// failure, an ErrorInfo with reason (any reason when "").
func (s *accessService) expect(t *testing.T, c call, key string, code codes.Code, httpStatus int, reason string) {
	t.Helper()
	ctx := callCtx(t)
	check := func(via string, st *status.Status) {
		t.Helper()
		if st.Code() != code {
			t.Errorf("%s over %s: got %v, want %v", c.name, via, st.Err(), code)
			return
		}
		if code == codes.OK {
			return
		}
		info := infoOf(st)
		if info == nil || (reason != "" && info.GetReason() != reason) {
			t.Errorf("%s over %s: got ErrorInfo %v, want reason %s", c.name, via, info, reason)
		}
		// A refusal never says which keys or other callers exist.
		var secrets []string
		for k, owner := range owners {
			secrets = append(secrets, k, auth.HashKey(k))
			if k != key {
				secrets = append(secrets, owner)
			}
		}
		for _, secret := range secrets {
			if strings.Contains(st.Message(), secret) || strings.Contains(fmt.Sprint(info.GetMetadata()), secret) {
				t.Errorf("%s over %s: the refusal %v names %q", c.name, via, st.Err(), secret)
			}
		}
	}
	check("gRPC", s.viaGRPC(ctx, c, key))
	got, st := s.viaREST(ctx, c, key)
	if got != httpStatus {
		t.Errorf("%s over REST: got HTTP %d (%v), want %d", c.name, got, st.Err(), httpStatus)
	}
	check("REST", st)
}

var (
	listWarehouses = call{name: "ListWarehouses", method: http.MethodGet, path: "/v1/logistics/warehouses",
		grpc: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logisticsv1.NewParcelServiceClient(conn).ListWarehouses(ctx, &logisticsv1.ListWarehousesRequest{})
			return err
		}}
	listProducts = call{name: "ListProducts", method: http.MethodGet, path: "/v1/logistics/warehouses/1/products?page_size=5",
		grpc: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logisticsv1.NewParcelServiceClient(conn).ListProducts(ctx, &logisticsv1.ListProductsRequest{WarehouseId: "1", PageSize: 5})
			return err
		}}
	listUnresolved = call{name: "ListUnresolvedOperations", method: http.MethodGet, path: "/v1/logistics/billing/operations",
		grpc: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logisticsv1.NewBillingServiceClient(conn).ListUnresolvedOperations(ctx, &logisticsv1.ListUnresolvedOperationsRequest{})
			return err
		}}
)

// recharge is a Recharge of ¥5 to phone under requestID.
func recharge(requestID, phone string) call {
	req := &logisticsv1.RechargeRequest{RequestId: requestID, Phone: phone, Amount: "5"}
	rest := proto.Clone(req).(*logisticsv1.RechargeRequest)
	rest.RequestId += "-rest"
	return call{name: "Recharge", method: http.MethodPost, path: "/v1/logistics/billing/recharges", body: rest,
		grpc: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logisticsv1.NewBillingServiceClient(conn).Recharge(ctx, req)
			return err
		}}
}

// order is a CreateParcelOrder of site_order_id site.
func order(site string) *logisticsv1.CreateParcelOrderRequest {
	return &logisticsv1.CreateParcelOrderRequest{
		RequestId: "req-" + site, SiteOrderId: site, ProductId: "P001", ProductNumber: 1,
		Source: logisticsv1.SalesPlatform_SALES_PLATFORM_JD,
		Consignees: []*logisticsv1.Consignee{{Consignee: "张三", Mobile: "13800138000", Province: "浙江省",
			City: "杭州市", District: "西湖区", Address: "文三路 1 号"}},
	}
}

// createOrder orders req over gRPC, and over REST the same with
// site_order_id and request_id suffixed "-rest": two orders.
func createOrder(req *logisticsv1.CreateParcelOrderRequest) call {
	rest := proto.Clone(req).(*logisticsv1.CreateParcelOrderRequest)
	rest.SiteOrderId += "-rest"
	rest.RequestId += "-rest"
	return call{name: "CreateParcelOrder " + req.GetSiteOrderId(), method: http.MethodPost, path: "/v1/logistics/parcel-orders", body: rest,
		grpc: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logisticsv1.NewParcelServiceClient(conn).CreateParcelOrder(ctx, req)
			return err
		}}
}

// TestCallersOverGRPCAndREST: no key and a wrong key are UNAUTHENTICATED
// (401); a caller without the permission is PERMISSION_DENIED (403) with
// an ErrorInfo that names no key or other caller; the right key works.
func TestCallersOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	s := startAccess(t)
	s.expect(t, listWarehouses, "", codes.Unauthenticated, http.StatusUnauthorized, auth.ReasonMissing)
	s.expect(t, listWarehouses, wrongKey, codes.Unauthenticated, http.StatusUnauthorized, auth.ReasonInvalid)
	s.expect(t, listProducts, readerKey, codes.PermissionDenied, http.StatusForbidden, auth.ReasonDenied)
	s.expect(t, listUnresolved, readerKey, codes.PermissionDenied, http.StatusForbidden, auth.ReasonDenied)
	s.expect(t, listWarehouses, readerKey, codes.OK, http.StatusOK, "")
	s.expect(t, listProducts, opsKey, codes.OK, http.StatusOK, "")
	if got := s.v.dmj.Received(damaijia.PathWarehouses); got != 2 {
		t.Errorf("damaijia got %d warehouse_get_list calls, want 2: the refused calls never reach it", got)
	}
	// The probes stay open.
	r, err := http.Get("http://" + s.addr + "/healthz")
	if err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz without a key: got %v, %v; want 200", r, err)
	}
	if err == nil {
		_ = r.Body.Close()
	}
	for _, key := range []string{opsKey, readerKey, wrongKey} {
		if strings.Contains(s.logs.String(), key) {
			t.Errorf("the log holds the key %s", key)
		}
	}
}

// TestMoneyMovementsNeedExplicitGrants: "BillingService/*" lets ops list
// the unresolved operations but not recharge (403), nor deduct, nor
// resolve; treasurer, granted Recharge by name, recharges.
func TestMoneyMovementsNeedExplicitGrants(t *testing.T) {
	t.Parallel()
	s := startAccess(t)
	const phone = "+61412345678"
	s.expect(t, recharge("ops-1", phone), opsKey, codes.PermissionDenied, http.StatusForbidden, auth.ReasonDenied)
	deduct := call{name: "Deduct", method: http.MethodPost, path: "/v1/logistics/billing/deductions",
		body: &logisticsv1.DeductRequest{RequestId: "ops-d-rest", Phone: phone, Amount: "1", ExpressNo: "YT1"},
		grpc: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logisticsv1.NewBillingServiceClient(conn).Deduct(ctx, &logisticsv1.DeductRequest{RequestId: "ops-d", Phone: phone, Amount: "1", ExpressNo: "YT1"})
			return err
		}}
	s.expect(t, deduct, opsKey, codes.PermissionDenied, http.StatusForbidden, auth.ReasonDenied)
	resolve := call{name: "ResolveOperation", method: http.MethodPost, path: "/v1/logistics/billing/operations/x:resolve",
		body: &logisticsv1.ResolveOperationRequest{Outcome: logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, Note: "n"},
		grpc: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logisticsv1.NewBillingServiceClient(conn).ResolveOperation(ctx, &logisticsv1.ResolveOperationRequest{RequestId: "x",
				Outcome: logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, Note: "n"})
			return err
		}}
	s.expect(t, resolve, opsKey, codes.PermissionDenied, http.StatusForbidden, auth.ReasonDenied)
	if got := s.v.p30.Received(post30.DefaultRechargePath) + s.v.p30.Received(post30.DefaultDeductPath); got != 0 {
		t.Fatalf("30post got %d money calls from a caller without the grant, want 0", got)
	}
	s.expect(t, listUnresolved, opsKey, codes.OK, http.StatusOK, "")
	s.expect(t, recharge("treasurer-1", phone), treasurerKey, codes.OK, http.StatusOK, "")
	if got := s.v.p30.Balance(phone, ""); got != 1000 {
		t.Errorf("got balance %d fen, want 1000: two recharges of ¥5 (gRPC and REST)", got)
	}
	// treasurer was granted Recharge only.
	s.expect(t, listUnresolved, treasurerKey, codes.PermissionDenied, http.StatusForbidden, auth.ReasonDenied)
}

// TestKeyRotation: during a rotation the keys file holds the old and the
// new key of a caller and both work; once the file holds only the new
// one, the old key is refused within a reload interval, without a restart.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	s := startAccess(t)
	s.expect(t, listWarehouses, oldKey, codes.OK, http.StatusOK, "")
	s.expect(t, listWarehouses, newKey, codes.OK, http.StatusOK, "")

	writeKeys(t, s.keysFile, callers(newKey))
	ctx := callCtx(t)
	deadline := time.Now().Add(10 * time.Second)
	for s.viaGRPC(ctx, listWarehouses, oldKey).Code() == codes.OK {
		if time.Now().After(deadline) {
			t.Fatal("the old key still works 10 s after the keys file dropped it")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.expect(t, listWarehouses, oldKey, codes.Unauthenticated, http.StatusUnauthorized, auth.ReasonInvalid)
	s.expect(t, listWarehouses, newKey, codes.OK, http.StatusOK, "")
}

// TestDailySpendCap: at ¥2.50 an order and a ¥6 cap, shop's first two
// orders (one over gRPC, one over REST) go through and the third is
// RESOURCE_EXHAUSTED DAILY_SPEND_CAP_REACHED (429) before damaijia's
// order_create is called; a caller without a cap still orders.
func TestDailySpendCap(t *testing.T) {
	t.Parallel()
	s := startAccess(t)
	ctx := callCtx(t)
	if st := s.viaGRPC(ctx, createOrder(order("CAP-1")), shopKey); st.Err() != nil {
		t.Fatalf("first order: %v", st.Err())
	}
	if code, st := s.viaREST(ctx, createOrder(order("CAP-2")), shopKey); code != http.StatusOK {
		t.Fatalf("second order: got HTTP %d, %v", code, st.Err())
	}
	if got := s.v.dmj.Received(damaijia.PathCreate); got != 2 {
		t.Fatalf("damaijia got %d order_create calls, want 2", got)
	}
	s.expect(t, createOrder(order("CAP-3")), shopKey, codes.ResourceExhausted, http.StatusTooManyRequests, usage.ReasonSpendCap)
	if got := s.v.dmj.Received(damaijia.PathCreate); got != 2 {
		t.Errorf("damaijia got %d order_create calls, want still 2: the cap refuses before the call", got)
	}
	// ops has no cap.
	s.expect(t, createOrder(order("CAP-4")), opsKey, codes.OK, http.StatusOK, "")
}

// TestGetUsage: after calls of several callers to both vendors (with a
// token renewal), GetUsage over gRPC and over REST counts, per endpoint,
// exactly the calls the simulators received, and the orders cost calls ×
// DAMAIJIA_ORDER_PRICE_YUAN.
func TestGetUsage(t *testing.T) {
	t.Parallel()
	s := startAccess(t)
	ctx := callCtx(t)
	const phone = "+61412345679"
	s.expect(t, listWarehouses, readerKey, codes.OK, http.StatusOK, "")
	s.expect(t, listProducts, opsKey, codes.OK, http.StatusOK, "")
	s.expect(t, createOrder(order("USE-1")), shopKey, codes.OK, http.StatusOK, "")
	s.v.dmj.ExpireTokens()
	s.expect(t, createOrder(order("USE-2")), opsKey, codes.OK, http.StatusOK, "")
	// Refused by damaijia (a duplicate site_order_id under a new
	// request_id): a failed call, no cost.
	dup := order("USE-2")
	dup.RequestId = "req-USE-2-again"
	if st := s.viaGRPC(ctx, createOrder(dup), opsKey); st.Code() == codes.OK {
		t.Fatal("a duplicate site_order_id was accepted")
	}
	s.expect(t, recharge("use-r", phone), treasurerKey, codes.OK, http.StatusOK, "")
	closeBatch := call{name: "CloseBatch", method: http.MethodPost, path: "/v1/logistics/billing/batches/B1:close", body: &logisticsv1.CloseBatchRequest{},
		grpc: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logisticsv1.NewBillingServiceClient(conn).CloseBatch(ctx, &logisticsv1.CloseBatchRequest{BatchName: "B0"})
			return err
		}}
	s.expect(t, closeBatch, opsKey, codes.PermissionDenied, http.StatusForbidden, auth.ReasonDenied)
	s.expect(t, closeBatch, treasurerKey, codes.OK, http.StatusOK, "")

	type endpoint struct{ vendor, path string }
	want := map[endpoint]int64{}
	for _, p := range []string{damaijia.PathLogin, damaijia.PathWarehouses, damaijia.PathProducts, damaijia.PathCreate, damaijia.PathPackages} {
		if n := s.v.dmj.Received(p); n > 0 {
			want[endpoint{damaijia.Vendor, p}] = n
		}
	}
	for _, p := range []string{post30.DefaultRechargePath, post30.DefaultDeductPath, post30.DefaultCloseBatchPath} {
		if n := s.v.p30.Received(p); n > 0 {
			want[endpoint{post30.Vendor, p}] = n
		}
	}
	// The first order after the expiry is refused for its token and sent
	// again after the second login: 6 order_create calls.
	if want[endpoint{damaijia.Vendor, damaijia.PathLogin}] != 2 || want[endpoint{damaijia.Vendor, damaijia.PathCreate}] != 6 {
		t.Fatalf("the simulators saw %v; want 2 logins and 6 order_create calls (the test's premise)", want)
	}
	// Four orders were created; the expired token's attempt and the
	// duplicate were refused and cost nothing.
	wantCost := money.Yuan(4 * orderPriceFen)

	now := time.Now()
	req := &logisticsv1.GetUsageRequest{StartTime: timestamppb.New(now.Add(-time.Hour)), EndTime: timestamppb.New(now.Add(time.Hour))}
	getUsage := call{name: "GetUsage", method: http.MethodGet,
		path: "/v1/logistics/usage?start_time=" + req.GetStartTime().AsTime().Format(time.RFC3339) + "&end_time=" + req.GetEndTime().AsTime().Format(time.RFC3339),
		grpc: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logisticsv1.NewParcelServiceClient(conn).GetUsage(ctx, req)
			return err
		}}
	sum := func(r *logisticsv1.GetUsageResponse) (map[endpoint]int64, string) {
		got := map[endpoint]int64{}
		var createCost int64
		for _, row := range r.GetReport().GetRows() {
			got[endpoint{row.GetVendor(), row.GetEndpoint()}] += row.GetCalls()
			if row.GetEndpoint() == damaijia.PathCreate {
				fen, err := money.ParseYuan(row.GetCostYuan())
				if err != nil {
					t.Fatalf("row %v: %v", row, err)
				}
				createCost += fen
			}
		}
		return got, money.Yuan(createCost)
	}
	same := func(a, b map[endpoint]int64) bool {
		if len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if b[k] != v {
				return false
			}
		}
		return true
	}
	// The ledger writes in batches (every second): wait for the counts.
	var got map[endpoint]int64
	var cost string
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := logisticsv1.NewParcelServiceClient(s.conn).GetUsage(withKey(ctx, opsKey), req)
		if err != nil {
			t.Fatalf("GetUsage over gRPC: %v", err)
		}
		if got, cost = sum(resp); same(got, want) || time.Now().After(deadline) {
			if resp.GetReport().GetTotalCostYuan() != wantCost {
				t.Errorf("gRPC: got total cost ¥%s, want ¥%s", resp.GetReport().GetTotalCostYuan(), wantCost)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !same(got, want) || cost != wantCost {
		t.Fatalf("GetUsage over gRPC: got calls %v costing ¥%s, want the simulators' %v costing ¥%s", got, cost, want, wantCost)
	}
	var rest logisticsv1.GetUsageResponse
	getUsage.resp = &rest
	if code, st := s.viaREST(ctx, getUsage, opsKey); code != http.StatusOK {
		t.Fatalf("GetUsage over REST: got HTTP %d, %v", code, st.Err())
	}
	if got, cost := sum(&rest); !same(got, want) || cost != wantCost || rest.GetReport().GetTotalCostYuan() != wantCost {
		t.Errorf("GetUsage over REST: got calls %v costing ¥%s (total ¥%s), want %v costing ¥%s", got, cost, rest.GetReport().GetTotalCostYuan(), want, wantCost)
	}
	// The rows name the callers: shop's order, ops's.
	callersSeen := map[string]bool{}
	for _, row := range rest.GetReport().GetRows() {
		if row.GetEndpoint() == damaijia.PathCreate {
			callersSeen[row.GetCaller()] = true
		}
	}
	if !callersSeen["shop"] || !callersSeen["ops"] {
		t.Errorf("order_create rows name callers %v, want shop and ops", callersSeen)
	}
	// Both ends of the range are required.
	s.expect(t, call{name: "GetUsage without a range", method: http.MethodGet, path: "/v1/logistics/usage",
		grpc: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logisticsv1.NewParcelServiceClient(conn).GetUsage(ctx, &logisticsv1.GetUsageRequest{})
			return err
		}}, opsKey, codes.InvalidArgument, http.StatusBadRequest, "")
	// GetUsage is a ParcelService RPC: reader may not.
	s.expect(t, getUsage, readerKey, codes.PermissionDenied, http.StatusForbidden, auth.ReasonDenied)
}
