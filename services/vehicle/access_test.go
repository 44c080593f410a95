package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.yaml.in/yaml/v3"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

// The vehicle service's RPCs as callers' allow lists name them.
const (
	rpcAll           = "vendorgate.vehicle.v1.VehicleService/*"
	rpcOrderReport   = "vendorgate.vehicle.v1.VehicleService/OrderReport"
	rpcLookupHistory = "vendorgate.vehicle.v1.VehicleService/LookupHistory"
	rpcGetHistory    = "vendorgate.vehicle.v1.VehicleService/GetHistory"
)

// testKey is the API key of a test caller, in auth.NewKey's form.
func testKey(caller, suffix string) string {
	return "vg_" + caller + "_" + suffix + "0123456789abcdefghjkmnpq"
}

// writeKeys writes an AUTH_KEYS_FILE of callers at path, replacing the file
// in one step so that a reload never reads half of it.
func writeKeys(t *testing.T, path string, callers []auth.Caller) {
	t.Helper()
	data, err := yaml.Marshal(auth.KeysFile{Callers: callers})
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// caller is a test caller with one key allowed patterns.
func caller(name, key string, allow ...string) auth.Caller {
	return auth.Caller{Name: name, Keys: []string{auth.HashKey(key)}, Allow: allow}
}

// startRun runs the service in this process with environ and returns its
// address; the test's cleanup stops it.
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
	case <-time.After(20 * time.Second):
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
		case <-time.After(20 * time.Second):
			t.Error("service did not stop")
		}
	})
	return a.String(), logs
}

// startWithKeys runs the service in this process on a SQLite store, in
// front of a simulator reached over HTTP, with the callers of a keys file
// re-read every 50 ms. It returns the service's address, the simulator
// and the keys file's path.
func startWithKeys(t *testing.T, opts maintenancesim.Options, callers []auth.Caller) (string, *maintenancesim.Simulator, string) {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, keys, callers)
	sim, vendorURL := vendor(t, opts)
	addr, _ := startRun(t, childEnv(sqlstoretest.SQLiteURL(t), vendorURL, "AUTH_KEYS_FILE="+keys, "AUTH_RELOAD_INTERVAL=50ms"))
	return addr, sim, keys
}

// rpc is one call of the service, over either face.
type rpc struct {
	// grpc makes the call on a gRPC client.
	grpc func(ctx context.Context, c vehiclev1.VehicleServiceClient) (proto.Message, error)
	// method, path and body are the REST call; resp is its answer's type.
	method, path, body string
	resp               func() proto.Message
}

func listOperations() rpc {
	return rpc{
		grpc: func(ctx context.Context, c vehiclev1.VehicleServiceClient) (proto.Message, error) {
			return c.ListUnresolvedOperations(ctx, &vehiclev1.ListUnresolvedOperationsRequest{})
		},
		method: http.MethodGet, path: "/v1/vehicle/operations",
		resp: func() proto.Message { return &vehiclev1.ListUnresolvedOperationsResponse{} },
	}
}

func getHistory(vin string) rpc {
	return rpc{
		grpc: func(ctx context.Context, c vehiclev1.VehicleServiceClient) (proto.Message, error) {
			return c.GetHistory(ctx, &vehiclev1.GetHistoryRequest{Vin: vin})
		},
		method: http.MethodGet, path: "/v1/vehicle/vins/" + vin + "/history",
		resp: func() proto.Message { return &vehiclev1.GetHistoryResponse{} },
	}
}

func orderReport(vin, requestID string) rpc {
	return rpc{
		grpc: func(ctx context.Context, c vehiclev1.VehicleServiceClient) (proto.Message, error) {
			return c.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: vin, RequestId: requestID})
		},
		method: http.MethodPost, path: "/v1/vehicle/orders", body: `{"vin":"` + vin + `","request_id":"` + requestID + `"}`,
		resp: func() proto.Message { return &vehiclev1.OrderReportResponse{} },
	}
}

func lookupHistory(vin string) rpc {
	return rpc{
		grpc: func(ctx context.Context, c vehiclev1.VehicleServiceClient) (proto.Message, error) {
			return c.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: vin})
		},
		method: http.MethodPost, path: "/v1/vehicle/vins/" + vin + "/history:lookup", body: `{}`,
		resp: func() proto.Message { return &vehiclev1.LookupHistoryResponse{} },
	}
}

func getReport(orderID string) rpc {
	return rpc{
		grpc: func(ctx context.Context, c vehiclev1.VehicleServiceClient) (proto.Message, error) {
			return c.GetReport(ctx, &vehiclev1.GetReportRequest{OrderId: orderID})
		},
		method: http.MethodGet, path: "/v1/vehicle/orders/" + orderID + "/report",
		resp: func() proto.Message { return &vehiclev1.GetReportResponse{} },
	}
}

func getUsage(start, end time.Time) rpc {
	return rpc{
		grpc: func(ctx context.Context, c vehiclev1.VehicleServiceClient) (proto.Message, error) {
			return c.GetUsage(ctx, &vehiclev1.GetUsageRequest{StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)})
		},
		method: http.MethodGet,
		path:   "/v1/vehicle/usage?start_time=" + start.UTC().Format(time.RFC3339) + "&end_time=" + end.UTC().Format(time.RFC3339),
		resp:   func() proto.Message { return &vehiclev1.GetUsageResponse{} },
	}
}

// face calls the service at addr over gRPC or REST.
type face struct {
	name string
	call func(t *testing.T, addr, key string, r rpc) (proto.Message, *status.Status, int)
}

// faces are gRPC and REST. call returns the answer, the status (OK on
// success) and the HTTP status (for gRPC, the one the gateway maps the
// code to).
var faces = []face{
	{"grpc", func(t *testing.T, addr, key string, r rpc) (proto.Message, *status.Status, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if key != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
		}
		resp, err := r.grpc(ctx, client(t, addr))
		st := status.Convert(err)
		return resp, st, runtime.HTTPStatusFromCode(st.Code())
	}},
	{"rest", func(t *testing.T, addr, key string, r rpc) (proto.Message, *status.Status, int) {
		t.Helper()
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		req, err := http.NewRequest(r.method, "http://"+addr+r.path, body)
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
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			m := r.resp()
			if err := protojson.Unmarshal(data, m); err != nil {
				t.Fatalf("%s %s: %v in %s", r.method, r.path, err, data)
			}
			return m, status.New(codes.OK, ""), resp.StatusCode
		}
		var sp spb.Status
		if err := protojson.Unmarshal(data, &sp); err != nil {
			t.Fatalf("%s %s: HTTP %d: %v in %s", r.method, r.path, resp.StatusCode, err, data)
		}
		return nil, status.FromProto(&sp), resp.StatusCode
	}},
}

// errInfo is a status's ErrorInfo, or nil.
func errInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// TestCallers: over gRPC and REST, a call without a key or with a wrong
// one is UNAUTHENTICATED (401), a caller without the permission is
// PERMISSION_DENIED (403) without learning other callers or keys, the
// right key works, and a purchase needs an explicit grant.
func TestCallers(t *testing.T) {
	t.Parallel()
	buyerKey, readerKey, wildKey := testKey("buyer", "b"), testKey("reader", "r"), testKey("wildcard", "w")
	addr, sim, _ := startWithKeys(t, maintenancesim.Options{}, []auth.Caller{
		caller("buyer", buyerKey, rpcAll, rpcOrderReport),
		caller("reader", readerKey, rpcGetHistory),
		caller("wildcard", wildKey, rpcAll),
	})
	secrets := []string{buyerKey, readerKey, wildKey, auth.HashKey(buyerKey), auth.HashKey(readerKey), auth.HashKey(wildKey), "buyer", "wildcard"}
	vin := maintenancesim.SampleVIN
	tests := []struct {
		name       string
		key        string
		rpc        rpc
		wantCode   codes.Code
		wantHTTP   int
		wantReason string
	}{
		{"no key", "", listOperations(), codes.Unauthenticated, 401, auth.ReasonMissing},
		{"wrong key", testKey("buyer", "x"), listOperations(), codes.Unauthenticated, 401, auth.ReasonInvalid},
		{"key of no form", "letmein", getHistory(vin), codes.Unauthenticated, 401, auth.ReasonInvalid},
		{"without the permission", readerKey, listOperations(), codes.PermissionDenied, 403, auth.ReasonDenied},
		{"with the permission", readerKey, getHistory(vin), codes.NotFound, 404, "REPORT_NOT_STORED"},
		{"Service/* lists", wildKey, listOperations(), codes.OK, 200, ""},
		{"Service/* reads usage", wildKey, getUsage(time.Now().Add(-time.Hour), time.Now()), codes.OK, 200, ""},
		{"Service/* does not buy", wildKey, orderReport(vin, ""), codes.PermissionDenied, 403, auth.ReasonDenied},
		{"Service/* does not look up", wildKey, lookupHistory(vin), codes.PermissionDenied, 403, auth.ReasonDenied},
		{"a purchase granted by name", buyerKey, orderReport(vin, ""), codes.OK, 200, ""},
		{"a lookup not granted", buyerKey, lookupHistory(vin), codes.PermissionDenied, 403, auth.ReasonDenied},
	}
	for _, f := range faces {
		t.Run(f.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					_, st, httpStatus := f.call(t, addr, tt.key, tt.rpc)
					if st.Code() != tt.wantCode || httpStatus != tt.wantHTTP {
						t.Fatalf("got %v (HTTP %d), want %v (HTTP %d)", st.Proto(), httpStatus, tt.wantCode, tt.wantHTTP)
					}
					if tt.wantCode == codes.OK {
						return
					}
					info := errInfo(st)
					if info.GetReason() != tt.wantReason {
						t.Errorf("got ErrorInfo %v, want reason %s", info, tt.wantReason)
					}
					if tt.wantCode != codes.Unauthenticated && tt.wantCode != codes.PermissionDenied {
						return
					}
					text := st.Message() + " " + protojson.Format(st.Proto())
					for _, s := range secrets {
						if tt.key != "" && strings.Contains(tt.key, s) {
							continue // a caller may learn its own name
						}
						if strings.Contains(text, s) {
							t.Errorf("got %s, want no key, hash or other caller named (%s)", text, s)
						}
					}
				})
			}
		})
	}
	// One purchase per face; refusals reached no vendor.
	if n := sim.Purchases(); n != len(faces) {
		t.Errorf("got %d purchases, want %d", n, len(faces))
	}
}

// TestRotatedKey: a caller with two keys is served on both during the
// overlap; once the file lists only the new one, the old one is refused,
// without a restart.
func TestRotatedKey(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey("rotating", "old"), testKey("rotating", "new")
	rotating := auth.Caller{Name: "rotating", Keys: []string{auth.HashKey(oldKey), auth.HashKey(newKey)}, Allow: []string{rpcAll}}
	addr, _, keys := startWithKeys(t, maintenancesim.Options{}, []auth.Caller{rotating})
	for _, f := range faces {
		for _, key := range []string{oldKey, newKey} {
			if _, st, _ := f.call(t, addr, key, listOperations()); st.Code() != codes.OK {
				t.Errorf("%s, during the overlap: got %v, want OK", f.name, st.Proto())
			}
		}
	}
	rotating.Keys = rotating.Keys[1:]
	writeKeys(t, keys, []auth.Caller{rotating})
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, st, _ := faces[0].call(t, addr, oldKey, listOperations())
		if st.Code() == codes.Unauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old key still got %v 10 s after the file dropped it", st.Proto())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, f := range faces {
		if _, st, h := f.call(t, addr, oldKey, listOperations()); st.Code() != codes.Unauthenticated || h != 401 {
			t.Errorf("%s, old key after the rotation: got %v (HTTP %d), want Unauthenticated (401)", f.name, st.Proto(), h)
		}
		if _, st, _ := f.call(t, addr, newKey, listOperations()); st.Code() != codes.OK {
			t.Errorf("%s, new key after the rotation: got %v, want OK", f.name, st.Proto())
		}
	}
}

// vinN is a valid VIN the simulator has no records for, distinct per n.
func vinN(n int) string { return fmt.Sprintf("LSVNV2182E21%05d", n) }

// checkSpendCapRefusal checks the refusal of a purchase over the daily cap.
func checkSpendCapRefusal(t *testing.T, what string, st *status.Status, httpStatus int) {
	t.Helper()
	if st.Code() != codes.ResourceExhausted || httpStatus != http.StatusTooManyRequests {
		t.Fatalf("%s: got %v (HTTP %d), want ResourceExhausted (429)", what, st.Proto(), httpStatus)
	}
	info := errInfo(st)
	if info.GetReason() != "DAILY_SPEND_CAP_REACHED" || info.GetMetadata()["quota"] != "daily_spend_cap_yuan" ||
		info.GetMetadata()["cap_yuan"] != "50.00" || info.GetMetadata()["spent_yuan"] != "34.00" {
		t.Errorf("%s: got ErrorInfo %v, want DAILY_SPEND_CAP_REACHED on daily_spend_cap_yuan, ¥34.00 of ¥50.00 spent", what, info)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if d := retry.GetRetryDelay().AsDuration(); d <= 0 || d > 24*time.Hour {
		t.Errorf("%s: got retry delay %v, want until the next China day", what, retry)
	}
}

// TestDailySpendCap: over gRPC and REST, a caller with a ¥50 daily cap
// buys two ¥17 reports and is refused the third (RESOURCE_EXHAUSTED
// DAILY_SPEND_CAP_REACHED, HTTP 429) before any vendor call. A purchase
// the vendor refused is not counted; a repeated request_id and a lookup
// served from the store are not charged; another caller still buys.
func TestDailySpendCap(t *testing.T) {
	t.Parallel()
	for _, f := range faces {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			cappedKey, otherKey := testKey("capped", "c"), testKey("other", "o")
			capped := caller("capped", cappedKey, rpcAll, rpcOrderReport, rpcLookupHistory)
			capped.DailySpendCapYuan = "50"
			addr, sim, _ := startWithKeys(t, maintenancesim.Options{}, []auth.Caller{capped, caller("other", otherKey, rpcOrderReport)})

			// The vendor refuses the first purchase: it sold nothing, so
			// the booking is released.
			sim.Inject(maintenancesim.PathOrder, maintenancesim.Fault{Code: "10010", Message: "余额不足"})
			if _, st, _ := f.call(t, addr, cappedKey, orderReport(vinN(1), "")); st.Code() != codes.FailedPrecondition {
				t.Fatalf("refused purchase: got %v, want FailedPrecondition", st.Proto())
			}
			// ¥17: an order, and its request_id repeated (not charged).
			for range 2 {
				if _, st, _ := f.call(t, addr, cappedKey, orderReport(vinN(2), "cap-1")); st.Code() != codes.OK {
					t.Fatalf("first purchase: got %v, want OK", st.Proto())
				}
			}
			// ¥34: a lookup that buys, then one served from the store.
			for i := range 2 {
				resp, st, _ := f.call(t, addr, cappedKey, lookupHistory(maintenancesim.SampleVIN))
				if st.Code() != codes.OK {
					t.Fatalf("lookup %d: got %v, want OK", i, st.Proto())
				}
				if got := resp.(*vehiclev1.LookupHistoryResponse).GetPurchased(); got != (i == 0) {
					t.Errorf("lookup %d: got purchased %v, want %v", i, got, i == 0)
				}
			}
			if n := sim.Purchases(); n != 2 {
				t.Fatalf("got %d purchases, want 2", n)
			}
			orders := sim.CallsTo(maintenancesim.PathOrder)

			// ¥51 would be over the cap: refused before the vendor.
			_, st, h := f.call(t, addr, cappedKey, orderReport(vinN(3), ""))
			checkSpendCapRefusal(t, "third order", st, h)
			_, st, h = f.call(t, addr, cappedKey, lookupHistory(vinN(4)))
			checkSpendCapRefusal(t, "lookup that would buy", st, h)
			if n, o := sim.Purchases(), sim.CallsTo(maintenancesim.PathOrder); n != 2 || o != orders {
				t.Errorf("got %d purchases in %d order calls, want 2 in %d: the refusals reached the vendor", n, o, orders)
			}
			// Served from the store: free, so allowed over the cap.
			if _, st, _ := f.call(t, addr, cappedKey, lookupHistory(maintenancesim.SampleVIN)); st.Code() != codes.OK {
				t.Errorf("stored lookup over the cap: got %v, want OK", st.Proto())
			}
			// The cap is the caller's.
			if _, st, _ := f.call(t, addr, otherKey, orderReport(vinN(3), "")); st.Code() != codes.OK {
				t.Errorf("another caller: got %v, want OK", st.Proto())
			}
			if n := sim.Purchases(); n != 3 {
				t.Errorf("got %d purchases, want 3", n)
			}
		})
	}
}

// TestJoinedLookupOverAnotherCallersCap: a lookup that joins another
// caller's lookup of the same VIN, refused over that caller's spend cap,
// looks up on its own instead of passing on the other's refusal (which
// names the other caller); a capped caller that joins a purchase gets the
// report without a booking of its own.
func TestJoinedLookupOverAnotherCallersCap(t *testing.T) {
	t.Parallel()
	brokeKey, richKey := testKey("broke", "b"), testKey("rich", "r")
	broke := caller("broke", brokeKey, rpcLookupHistory)
	broke.DailySpendCapYuan = "10" // below one report
	addr, sim, _ := startWithKeys(t, maintenancesim.Options{}, []auth.Caller{broke, caller("rich", richKey, rpcLookupHistory)})
	grpcFace := faces[0]
	const rounds = 10
	for i := range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		var richSt, brokeSt *status.Status
		vin := vinN(200 + i)
		wg.Go(func() { <-start; _, brokeSt, _ = grpcFace.call(t, addr, brokeKey, lookupHistory(vin)) })
		wg.Go(func() {
			<-start
			time.Sleep(time.Duration(i%3) * time.Millisecond)
			_, richSt, _ = grpcFace.call(t, addr, richKey, lookupHistory(vin))
		})
		close(start)
		wg.Wait()
		if richSt.Code() != codes.OK {
			t.Errorf("round %d: rich got %v, want OK", i, richSt.Proto())
		}
		switch brokeSt.Code() {
		case codes.OK: // it joined rich's purchase, which costs it nothing
		case codes.ResourceExhausted:
		default:
			t.Errorf("round %d: broke got %v, want OK (joined) or ResourceExhausted", i, brokeSt.Proto())
		}
	}
	if n := sim.Purchases(); n != rounds {
		t.Errorf("got %d purchases, want %d (one per VIN, all rich's)", n, rounds)
	}
}
