package main

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/proctest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
)

// TestRequestIDOnEveryMutation: the same request_id with the same request
// returns the first result without another vendor call, on each of the
// four mutations; the same id with another request is REQUEST_ID_REUSED;
// another id is another call.
func TestRequestIDOnEveryMutation(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()

	order := validOrder("RID-1")
	order.RequestId = "rid-create-1"
	first, err := h.client.CreateOrder(ctx, order)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.client.CreateOrder(ctx, order)
	if err != nil {
		t.Fatalf("repeat: got %v, want the first result", err)
	}
	if again.GetOriginId() != first.GetOriginId() || again.GetVendorMessage() != first.GetVendorMessage() {
		t.Errorf("repeat: got %v, want %v", again, first)
	}
	if n := h.sim.Calls(dingdangsim.PathCreateOrder); n != 1 {
		t.Errorf("got %d createOrder calls, want 1", n)
	}

	other := validOrder("RID-2")
	other.RequestId = "rid-create-1"
	_, err = h.client.CreateOrder(ctx, other)
	if v := violation(err); status.Code(err) != codes.InvalidArgument || v.GetField() != "request_id" || v.GetReason() != "REQUEST_ID_REUSED" {
		t.Errorf("same id, other request: got %v, want INVALID_ARGUMENT REQUEST_ID_REUSED", err)
	}
	other.RequestId = "rid-create-2"
	if _, err := h.client.CreateOrder(ctx, other); err != nil {
		t.Fatalf("another id: %v", err)
	}
	if n := h.sim.Calls(dingdangsim.PathCreateOrder); n != 2 {
		t.Errorf("got %d createOrder calls, want 2", n)
	}

	cancel := &deliveryv1.CancelOrderRequest{OriginId: "RID-1", ReasonId: 10000, Reason: "顾客改主意了", RequestId: "rid-cancel-1"}
	for i := range 2 {
		if _, err := h.client.CancelOrder(ctx, cancel); err != nil {
			t.Fatalf("cancel %d: %v", i, err)
		}
	}
	if n := h.sim.Calls(dingdangsim.PathOrderCancel); n != 1 {
		t.Errorf("got %d orderCancel calls, want 1", n)
	}

	shop := validShop("rid-m1")
	shop.RequestId = "rid-shop-1"
	for i := range 2 {
		if _, err := h.client.UpsertShop(ctx, shop); err != nil {
			t.Fatalf("upsert %d: %v", i, err)
		}
	}
	if n := h.sim.Calls(dingdangsim.PathCreateUpdate); n != 1 {
		t.Errorf("got %d createUpdateN calls, want 1", n)
	}

	tok := &deliveryv1.IssueMerchantTokenRequest{PerUserid: "rid-m1", Username: shop.GetUsername(), Mobile: shop.GetMobile(),
		Password: shop.GetPassword(), RequestId: "rid-token-1"}
	t1, err := h.client.IssueMerchantToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := h.client.IssueMerchantToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if t1.GetToken() != t2.GetToken() || h.sim.Calls(dingdangsim.PathGetToken) != 1 {
		t.Errorf("token repeat: got %q then %q with %d getToken calls, want one call and the same token",
			t1.GetToken(), t2.GetToken(), h.sim.Calls(dingdangsim.PathGetToken))
	}
}

// TestRequestIDInFlight: a repeat while the first call is still at the
// vendor is ABORTED, REQUEST_ID_IN_FLIGHT, and sends nothing.
func TestRequestIDInFlight(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()
	h.sim.Inject(dingdangsim.PathCreateOrder, dingdangsim.Fault{Delay: 1500 * time.Millisecond})
	order := validOrder("FLIGHT-1")
	order.RequestId = "rid-flight"
	var wg sync.WaitGroup
	wg.Add(1)
	var firstErr error
	go func() {
		defer wg.Done()
		_, firstErr = h.client.CreateOrder(ctx, order)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for h.sim.Calls(dingdangsim.PathCreateOrder) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_, err := h.client.CreateOrder(ctx, order)
	if status.Code(err) != codes.Aborted || errorInfo(t, err).GetReason() != "REQUEST_ID_IN_FLIGHT" {
		t.Errorf("repeat in flight: got %v, want ABORTED REQUEST_ID_IN_FLIGHT", err)
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("first: %v", firstErr)
	}
	if n := h.sim.Calls(dingdangsim.PathCreateOrder); n != 1 {
		t.Errorf("got %d createOrder calls, want 1", n)
	}
}

// TestInterruptedCreateOrderIsReadBack: the create's answer was lost after
// the vendor acted: the caller is told the outcome is unknown, with its
// request_id; its repeat reads the order back by origin_id and succeeds
// without sending again.
func TestInterruptedCreateOrderIsReadBack(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()
	h.sim.Inject(dingdangsim.PathCreateOrder, dingdangsim.Fault{Status: 502, Body: "bad gateway", AfterHandling: true})
	order := validOrder("LOST-1")
	order.RequestId = "rid-lost"
	_, err := h.client.CreateOrder(ctx, order)
	if info := errorInfo(t, err); status.Code(err) != codes.Unknown || info.GetReason() != "OUTCOME_UNKNOWN" || info.GetMetadata()["request_id"] != "rid-lost" {
		t.Fatalf("got %v, want UNKNOWN OUTCOME_UNKNOWN naming request_id rid-lost", err)
	}
	sends := h.sim.Calls(dingdangsim.PathCreateOrder)
	if sends != 1 {
		t.Errorf("got %d createOrder calls, want 1 (never re-sent)", sends)
	}
	resp, err := h.client.CreateOrder(ctx, order)
	if err != nil {
		t.Fatalf("repeat: got %v, want the order read back", err)
	}
	if resp.GetOriginId() != "LOST-1" {
		t.Errorf("got %v", resp)
	}
	if n := h.sim.Calls(dingdangsim.PathCreateOrder); n != sends {
		t.Errorf("got %d createOrder calls after the repeat, want still %d", n, sends)
	}
}

// TestCreateOrderCrashBeforeCommit: a child process of the service dies
// between the vendor's success and the local commit of a CreateOrder. After
// a restart on the same database, the same request_id returns the order
// and the vendor's createOrder is not called again.
func TestCreateOrderCrashBeforeCommit(t *testing.T) {
	t.Parallel()
	sim := dingdangsim.New(dingdangsim.Options{Keys: map[string]string{testSecretID: testSecretKey}})
	vendor := httptest.NewServer(sim.Handler())
	t.Cleanup(vendor.Close)
	env := childEnv(sqlstoretest.PostgresURL(t, "delivery_crash"), vendor.URL)

	p := proctest.Start(t, env, proctest.Options{CrashAt: "idempotency.before-commit:CreateOrder"})
	order := validOrder("CRASH-1")
	order.RequestId = "rid-crash"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := dial(t, p.Addr).CreateOrder(ctx, order); err == nil {
		t.Fatal("got success from the process that crashed")
	}
	if code := p.Wait(10 * time.Second); code != proctest.CrashExitCode {
		t.Fatalf("child exit code: got %d, want %d (crashed at its crashpoint)", code, proctest.CrashExitCode)
	}
	if n := sim.Calls(dingdangsim.PathCreateOrder); n != 1 {
		t.Fatalf("got %d createOrder calls before the restart, want 1", n)
	}

	p2 := proctest.Start(t, env, proctest.Options{})
	resp, err := dial(t, p2.Addr).CreateOrder(ctx, order)
	if err != nil {
		t.Fatalf("after restart: got %v, want the order", err)
	}
	if resp.GetOriginId() != "CRASH-1" {
		t.Errorf("got %v", resp)
	}
	if n := sim.Calls(dingdangsim.PathCreateOrder); n != 1 {
		t.Errorf("got %d createOrder calls, want 1", n)
	}
	// And the answer is recorded now: a third call is a plain repeat.
	reads := sim.Calls(dingdangsim.PathOrderRecord)
	if _, err := dial(t, p2.Addr).CreateOrder(ctx, order); err != nil {
		t.Fatal(err)
	}
	if n := sim.Calls(dingdangsim.PathOrderRecord); n != reads {
		t.Errorf("the recorded repeat read the vendor (%d → %d orderRecord calls)", reads, n)
	}
}

// childEnv is the environment of a child service on the database db in
// front of the vendor at vendorURL.
func childEnv(db, vendorURL string, extra ...string) []string {
	return append([]string{
		"AUTH_MODE=none",
		"DELIVERY_ADDR=127.0.0.1:0",
		// The tests read /metrics on the API port.
		"METRICS_ADDR=api",
		"DELIVERY_DATABASE_URL=" + db,
		"DINGDANG_BASE_URL=" + vendorURL,
		"DINGDANG_SECRET_ID=" + testSecretID,
		"DINGDANG_SECRET_KEY=" + testSecretKey,
		"DINGDANG_STATUS_MAP=" + dingdangsim.StatusMap,
		"LOG_LEVEL=debug",
	}, extra...)
}

// dial returns a client of the service at addr.
func dial(t *testing.T, addr string) deliveryv1.DeliveryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return deliveryv1.NewDeliveryServiceClient(conn)
}

// violation returns err's first BadRequest field violation, or nil.
func violation(err error) *errdetails.BadRequest_FieldViolation {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0]
		}
	}
	return nil
}

// TestSQLiteServesOneProcess: on SQLite the service says at start that it
// serves one process, and a second service on the same file is refused
// with an error that says why.
func TestSQLiteServesOneProcess(t *testing.T) {
	t.Parallel()
	db := sqlstoretest.SQLiteURL(t)
	logs := &logtest.Buffer{}
	startLogging(t, logs, "DELIVERY_DATABASE_URL="+db)
	if !strings.Contains(logs.String(), "delivery keeps its state in an embedded SQLite file: run ONE process of the delivery service on it") {
		t.Errorf("got logs %s, want SQLite's one-process limit announced", logs.String())
	}
	err := run(context.Background(), []string{"SANDBOX=1", "DELIVERY_ADDR=127.0.0.1:0", "DELIVERY_DATABASE_URL=" + db}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "DELIVERY_DATABASE_URL") || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second service on the same SQLite file: got %v, want it refused naming DELIVERY_DATABASE_URL", err)
	}
}
