package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
)

// BenchmarkGetOrder compares one GetOrder through the whole vendorgate
// service (interceptors, validation, metrics, logging, the vendor call layer,
// drift-tolerant decoding) with a bare handler that only signs, calls the
// same simulator with a shared http.Client and decodes. Every side includes
// the simulator's own CPU, which runs in this process. The "cpu-ns/op"
// metric is process CPU time (user+system) per call. Its sides, whose names
// scripts/bench reads the ratios by:
//
//   - vendorgate: the service as run() wires it, AUTH_MODE=none, over gRPC;
//   - vendorgate-auth: the same with an API key checked on every call, the
//     per-caller metrics and the usage ledger;
//   - vendorgate-rest: vendorgate-auth's service called through its REST
//     face (GET /v1/delivery/orders/{origin_id}) on a keep-alive client;
//   - baseline: a bare grpc-go handler;
//   - baseline-rest: the same handler behind a bare net/http route that
//     writes the Order with protojson.
//
// Budgets (issue 19): vendorgate ÷ baseline ≤ 1.10, vendorgate-auth ÷
// baseline ≤ 1.12, vendorgate-rest ÷ baseline-rest ≤ 1.15, medians of
// rotated rounds (scripts/bench).
func BenchmarkGetOrder(b *testing.B) {
	for _, side := range getOrderSides {
		b.Run(side.name, func(b *testing.B) { measure(b, side.start(b)) })
	}
}

// getOrderSides are BenchmarkGetOrder's sides, in its order: each starts
// its servers and returns one GetOrder call.
var getOrderSides = []struct {
	name  string
	start func(b *testing.B) func() error
}{
	{"vendorgate", func(b *testing.B) func() error { return grpcGetter(b, "", "AUTH_MODE=none") }},
	{"vendorgate-auth", func(b *testing.B) func() error { return grpcGetter(b, shopKey, apiKeyEnv(b)...) }},
	{"vendorgate-rest", func(b *testing.B) func() error {
		h := startLogging(b, &logtest.Buffer{}, append([]string{"LOG_LEVEL=info"}, apiKeyEnv(b)...)...)
		if _, err := h.client.CreateOrder(bearer(context.Background(), shopKey), validOrder("bench-1")); err != nil {
			b.Fatal(err)
		}
		return restGetter(b, h.rest+"/v1/delivery/orders/bench-1", "Bearer "+shopKey)
	}},
	{"baseline", func(b *testing.B) func() error {
		client, create := startBaseline(b)
		ctx := context.Background()
		create("bench-1")
		req := &deliveryv1.GetOrderRequest{OriginId: "bench-1"}
		return func() error { _, err := client.GetOrder(ctx, req); return err }
	}},
	{"baseline-rest", func(b *testing.B) func() error {
		base, create := startBaselineREST(b)
		create("bench-1")
		return restGetter(b, base+"/v1/delivery/orders/bench-1", "")
	}},
}

// getOrderSide is the side of getOrderSides named name.
func getOrderSide(b *testing.B, name string) func() error {
	for _, side := range getOrderSides {
		if side.name == name {
			return side.start(b)
		}
	}
	b.Fatalf("no side %q", name)
	return nil
}

// apiKeyEnv is the environment of a service that checks shopKey's API key
// on every call, with the per-caller metrics and the usage ledger.
func apiKeyEnv(b *testing.B) []string {
	keys := filepath.Join(b.TempDir(), "keys.yaml")
	if err := os.WriteFile(keys, []byte(keysFile(shopKey)), 0o600); err != nil {
		b.Fatal(err)
	}
	return []string{"AUTH_MODE=api-key", "AUTH_KEYS_FILE=" + keys}
}

// grpcGetter starts the service as run() wires it, with env, creates an
// order and returns a gRPC GetOrder of it, made with key's API key when
// key is not empty.
func grpcGetter(b *testing.B, key string, env ...string) func() error {
	h := startLogging(b, &logtest.Buffer{}, append([]string{"LOG_LEVEL=info"}, env...)...)
	ctx := context.Background()
	if key != "" {
		ctx = bearer(ctx, key)
	}
	if _, err := h.client.CreateOrder(ctx, validOrder("bench-1")); err != nil {
		b.Fatal(err)
	}
	req := &deliveryv1.GetOrderRequest{OriginId: "bench-1"}
	return func() error { _, err := h.client.GetOrder(ctx, req); return err }
}

// pairedSlice is how many calls BenchmarkGetOrderPaired makes of one side
// before it turns to the other: tens of milliseconds.
const pairedSlice = 100

// BenchmarkGetOrderPaired runs the two sides of each of issue 19's budgets
// in one process, in alternating slices of pairedSlice calls (A B, then B
// A, so that neither always goes first), and reports each side's process
// CPU time per call (a-cpu-ns/op, b-cpu-ns/op) and their ratio. A shared
// VM's speed drifts over seconds: the same side of BenchmarkGetOrder has
// measured 170-289 µs in one run of scripts/bench, where each side runs in
// a process of its own, seconds apart. Slices tens of milliseconds apart
// see the same machine. The price: what one side leaves behind may be
// paid in the other's slice. A GC cycle starts in the slice whose
// allocations reach the heap's goal, so its cost follows each side's own
// allocation closely; a ledger batch of vendorgate's calls is written by
// its own goroutine, whenever it runs.
//
//	go test -run '^$' -bench GetOrderPaired -benchtime 40x ./services/delivery/
func BenchmarkGetOrderPaired(b *testing.B) {
	for _, pair := range [][2]string{{"vendorgate", "baseline"}, {"vendorgate-auth", "baseline"}, {"vendorgate-rest", "baseline-rest"}} {
		b.Run(pair[0]+"-vs-"+pair[1], func(b *testing.B) {
			calls := [2]func() error{getOrderSide(b, pair[0]), getOrderSide(b, pair[1])}
			var cpu [2]time.Duration
			slice := func(i int) {
				before := cpuTime()
				for range pairedSlice {
					if err := calls[i](); err != nil {
						b.Fatal(err)
					}
				}
				cpu[i] += cpuTime() - before
			}
			for i := range calls { // warm connections and pools
				slice(i)
			}
			cpu = [2]time.Duration{}
			runtime.GC()
			n := 0
			for b.Loop() {
				first := n % 2
				slice(first)
				slice(1 - first)
				n++
			}
			b.StopTimer()
			per := func(i int) float64 { return float64(cpu[i].Nanoseconds()) / float64(n*pairedSlice) }
			b.ReportMetric(per(0), "a-cpu-ns/op")
			b.ReportMetric(per(1), "b-cpu-ns/op")
			b.ReportMetric(per(0)/per(1), "ratio")
		})
	}
}

// BenchmarkGetOrderOnPostgres is BenchmarkGetOrder's vendorgate-auth side
// with the service's store, and so its usage ledger, on Postgres (the test
// server, VENDORGATE_TEST_POSTGRES_URL), where the ledger writes its
// batches with COPY: profile it for the ledger's share of the process's
// CPU (issue 19's budget is 3 %), which the Postgres server's own CPU is not
// part of.
//
//	go test -run '^$' -bench GetOrderOnPostgres -benchtime 30000x -cpuprofile /tmp/pg.cpu ./services/delivery/
//	go tool pprof -top -cum /tmp/pg.cpu | grep internal/usage
func BenchmarkGetOrderOnPostgres(b *testing.B) {
	env := append(apiKeyEnv(b), "DELIVERY_DATABASE_URL="+sqlstoretest.PostgresURL(b, "benchledger"))
	measure(b, grpcGetter(b, shopKey, env...))
}

// restGetter is a REST GetOrder of url on a shared keep-alive client, read
// whole, that fails unless it answers 200.
func restGetter(b *testing.B, url, authorization string) func() error {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(hc.CloseIdleConnections)
	return func() error {
		req, err := http.NewRequest(http.MethodGet, url, http.NoBody)
		if err != nil {
			return err
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: HTTP %d %s", url, resp.StatusCode, body)
		}
		return err
	}
}

// measure runs call b.N times and reports process CPU time per call.
func measure(b *testing.B, call func() error) {
	b.Helper()
	for range 50 { // warm connections and pools
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	// Collect what earlier benchmarks left behind, so that neither side
	// pays for the other's garbage.
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	before := cpuTime()
	for b.Loop() {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// baselineServer is the bare handler: sign, call, decode, map. No
// interceptors, no validation, no metrics, no retries.
type baselineServer struct {
	deliveryv1.UnimplementedDeliveryServiceServer
	hc  *http.Client
	url string
}

// baselineStatus is the service's default status map (server.DefaultStatusMap).
var baselineStatus = map[string]deliveryv1.OrderStatus{
	"0": deliveryv1.OrderStatus_ORDER_STATUS_WAITING,
	"4": deliveryv1.OrderStatus_ORDER_STATUS_DELIVERING,
	"5": deliveryv1.OrderStatus_ORDER_STATUS_CANCELLED,
}

// baselineRecord is orderRecord's answer as the simulator sends it,
// decoded with plain types: the baseline needs no drift tolerance.
type baselineRecord struct {
	Code   int                      `json:"code"`
	Result dingdangsim.RecordResult `json:"result"`
}

func (s *baselineServer) GetOrder(ctx context.Context, req *deliveryv1.GetOrderRequest) (*deliveryv1.GetOrderResponse, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/open/order/orderRecord", http.NoBody)
	if err != nil {
		return nil, err
	}
	date := time.Now().UTC().Format(cloudmarket.DateFormat)
	hreq.Header.Set("X-Source", cloudmarket.Source)
	hreq.Header.Set("X-Date", date)
	hreq.Header.Set("Authorization", cloudmarket.Authorization(testSecretID, testSecretKey, date, cloudmarket.Source))
	hreq.Header["origin_id"] = []string{req.GetOriginId()}
	resp, err := s.hc.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var rec baselineRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, err
	}
	r := rec.Result
	num := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	ts := func(s string) *timestamppb.Timestamp {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n == 2147483647 {
			return nil
		}
		return timestamppb.New(time.Unix(n, 0))
	}
	point := func(lat, lng string) *deliveryv1.LatLng {
		if lat == "" || lng == "" {
			return nil
		}
		return &deliveryv1.LatLng{Latitude: num(lat), Longitude: num(lng)}
	}
	o := &deliveryv1.Order{
		OriginId: r.OriginID, VendorOrderNumber: r.OrderNumber, Carrier: r.Name, CarrierIconUrl: r.Icon,
		RawStatus: r.OrderStatus, Remark: r.Info, DistanceMeters: int64(num(r.Distance)), DeliveryFee: r.DeliverFee,
		VendorClientId: r.ClientID, CreateTime: ts(r.InsertTime), AcceptTime: ts(r.AcceptTime),
		FetchTime: ts(r.FetchTime), FinishTime: ts(r.FinishTime), ShopAddress: r.StationAddress,
		ShopContactName: r.ContactName, ShopPhone: r.Phone, Goods: r.Goods, ReceiverName: r.ReceiverName,
		ReceiverAddress: r.ReceiverAddress, ReceiverPhone: r.ReceiverPhone,
		ReceiverLocation: point(r.ReceiverLat, r.ReceiverLng), ShopLocation: point(r.Lat, r.Lng),
		WeightKg: num(r.Weight), Mode: deliveryv1.DeliveryMode(num(r.ModeDistribution)), Scheduled: r.DelayPublishTime,
		Status: baselineStatus[r.OrderStatus],
	}
	if r.PsyName != "" {
		o.Rider = &deliveryv1.Rider{Name: r.PsyName, Phone: r.PsyMobile, Location: point(r.TransporterLat, r.TransporterLng), DistanceText: r.Juli}
	}
	return &deliveryv1.GetOrderResponse{Order: o}, nil
}

// startBaselineREST serves the bare handler's GetOrder as REST: a bare
// net/http handler that takes the origin_id from the path, calls the same
// code as the gRPC baseline (sign, call the simulator on a shared client,
// decode, map) and writes the Order as the REST face's JSON (protojson,
// proto field names). It returns the base URL.
func startBaselineREST(b testing.TB) (string, func(originID string)) {
	b.Helper()
	srv, create := startBaselineVendor(b)
	hs := httptest.NewServer(baselineREST(srv))
	b.Cleanup(hs.Close)
	return hs.URL, create
}

// baselineREST is startBaselineREST's handler of srv's GetOrder.
func baselineREST(srv *baselineServer) http.Handler {
	json := protojson.MarshalOptions{UseProtoNames: true}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/delivery/orders/{origin_id}", func(w http.ResponseWriter, r *http.Request) {
		resp, err := srv.GetOrder(r.Context(), &deliveryv1.GetOrderRequest{OriginId: r.PathValue("origin_id")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, err := json.Marshal(resp)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	return mux
}

// startBaselineVendor starts the simulator and the bare handler that
// calls it.
func startBaselineVendor(b testing.TB) (*baselineServer, func(originID string)) {
	b.Helper()
	sim := dingdangsim.New(dingdangsim.Options{Keys: map[string]string{testSecretID: testSecretKey}})
	vendor := httptest.NewServer(sim.Handler())
	b.Cleanup(vendor.Close)
	// The order is created through the simulator by a vendorgate that
	// shares it: the baseline only implements GetOrder.
	create := func(originID string) {
		h := startLogging(b, &logtest.Buffer{}, "DINGDANG_BASE_URL="+vendor.URL, "LOG_LEVEL=error")
		if _, err := h.client.CreateOrder(context.Background(), validOrder(originID)); err != nil {
			b.Fatal(err)
		}
	}
	return &baselineServer{hc: &http.Client{}, url: vendor.URL}, create
}

func startBaseline(b *testing.B) (deliveryv1.DeliveryServiceClient, func(originID string)) {
	b.Helper()
	handler, create := startBaselineVendor(b)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	deliveryv1.RegisterDeliveryServiceServer(srv, handler)
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return deliveryv1.NewDeliveryServiceClient(conn), create
}

// The baselines answer GetOrder as the service does, over gRPC and REST:
// BenchmarkGetOrder's ratios compare the same work.
func TestBaselinesAnswerAsTheService(t *testing.T) {
	srv, _ := startBaselineVendor(t)
	h := startLogging(t, &logtest.Buffer{}, "DINGDANG_BASE_URL="+srv.url, "LOG_LEVEL=error")
	ctx := t.Context()
	if _, err := h.client.CreateOrder(ctx, validOrder("same-1")); err != nil {
		t.Fatal(err)
	}
	req := &deliveryv1.GetOrderRequest{OriginId: "same-1"}
	want, err := h.client.GetOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := srv.GetOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("baseline's answer differs from the service's (-service +baseline):\n%s", diff)
	}
	base := httptest.NewServer(baselineREST(srv))
	t.Cleanup(base.Close)
	for name, url := range map[string]string{"baseline-rest": base.URL, "vendorgate-rest": h.rest} {
		resp, err := http.Get(url + "/v1/delivery/orders/same-1")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s %v", name, resp.StatusCode, body, err)
		}
		var rest deliveryv1.GetOrderResponse
		if err := protojson.Unmarshal(body, &rest); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, &rest, protocmp.Transform()); diff != "" {
			t.Errorf("%s's answer differs from the service's over gRPC (-gRPC +REST):\n%s", name, diff)
		}
	}
}
