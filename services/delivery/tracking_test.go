package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/proctest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
)

// newSim returns a simulator whose orders advance every step, ticking
// until the test ends, served over real HTTP.
func newSim(t *testing.T, step time.Duration) (*dingdangsim.Simulator, string) {
	t.Helper()
	sim := dingdangsim.New(dingdangsim.Options{Keys: map[string]string{testSecretID: testSecretKey}, StatusStep: step})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go sim.Run(ctx)
	vendor := httptest.NewServer(sim.Handler())
	t.Cleanup(vendor.Close)
	return sim, vendor.URL
}

// startTracked starts the service in front of a simulator advancing every
// step, with the simulator's status codes mapped.
func startTracked(t *testing.T, step time.Duration, env ...string) *harness {
	t.Helper()
	sim, vendorURL := newSim(t, step)
	return startSim(t, &logtest.Buffer{}, sim, vendorURL, append([]string{"DINGDANG_STATUS_MAP=" + dingdangsim.StatusMap}, env...)...)
}

// withCallbacks is the environment of a callback listener on a free port,
// reachable at its own address.
func withCallbacks(t *testing.T) (addr string, env []string) {
	addr = proctest.FreePort(t)
	return addr, []string{"DELIVERY_CALLBACK_ADDR=" + addr, "DELIVERY_CALLBACK_PUBLIC_URL=http://" + addr}
}

// collect reads a WatchOrder stream to its end.
func collect(t *testing.T, c deliveryv1.DeliveryServiceClient, req *deliveryv1.WatchOrderRequest) []*deliveryv1.OrderEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stream, err := c.WatchOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var out []*deliveryv1.OrderEvent
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		out = append(out, resp.GetEvent())
	}
}

// statuses lists the events' statuses, for failure messages and checks.
func statuses(evs []*deliveryv1.OrderEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%d:%s(final=%v,%s) ", e.GetEventId(), strings.TrimPrefix(e.GetStatus().String(), "ORDER_STATUS_")+"/"+e.GetRawStatus(),
			e.GetFinal(), strings.TrimPrefix(e.GetSource().String(), "ORDER_EVENT_SOURCE_"))
	}
	return strings.TrimSpace(b.String())
}

// checkLifecycle checks that evs are an order's whole life from its first
// state: ids 1, 2, 3; WAITING, DELIVERING, DELIVERED; only the last final.
func checkLifecycle(t *testing.T, evs []*deliveryv1.OrderEvent) {
	t.Helper()
	want := "1:WAITING/0(final=false,READ) 2:DELIVERING/4(final=false,POLL) 3:DELIVERED/3(final=true,POLL)"
	if got := statuses(evs); got != want {
		t.Errorf("got events %s, want %s", got, want)
	}
	for _, e := range evs {
		if e.GetOrder().GetOriginId() != e.GetOriginId() || e.GetCreateTime() == nil {
			t.Errorf("event %d: order %v, time %v", e.GetEventId(), e.GetOrder(), e.GetCreateTime())
		}
	}
}

// TestWatchOrderOverGRPCAndREST follows orders without pushes (polling)
// from dispatch to delivery, on both faces, then resumes a watch after an
// event id.
func TestWatchOrderOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	h := startTracked(t, time.Second, "DELIVERY_WATCH_POLL_INTERVAL=50ms")
	ctx := context.Background()
	// Each order is created right before its watch: the subtests may wait
	// for a free test slot longer than an order takes to be delivered.
	create := func(t *testing.T, id string) {
		t.Helper()
		if _, err := h.client.CreateOrder(ctx, validOrder(id)); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("grpc", func(t *testing.T) {
		t.Parallel()
		create(t, "W-GRPC")
		evs := collect(t, h.client, &deliveryv1.WatchOrderRequest{OriginId: "W-GRPC"})
		checkLifecycle(t, evs)
		// Resuming after event 1 sends 2 and 3, and ends.
		again := collect(t, h.client, &deliveryv1.WatchOrderRequest{OriginId: "W-GRPC", AfterEventId: 1})
		if got, want := statuses(again), "2:DELIVERING/4(final=false,POLL) 3:DELIVERED/3(final=true,POLL)"; got != want {
			t.Errorf("resumed after 1: got %s, want %s", got, want)
		}
		// A watch of a final order sends its state and ends.
		if got := statuses(collect(t, h.client, &deliveryv1.WatchOrderRequest{OriginId: "W-GRPC"})); got != "3:DELIVERED/3(final=true,POLL)" {
			t.Errorf("watch of a delivered order: got %s", got)
		}
	})
	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		stream, err := h.client.WatchOrder(ctx, &deliveryv1.WatchOrderRequest{OriginId: "NO-SUCH-ORDER"})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.NotFound {
			t.Errorf("got %v, want NOT_FOUND", err)
		}
	})
	t.Run("rest", func(t *testing.T) {
		t.Parallel()
		create(t, "W-REST")
		resp, err := http.Get(h.rest + "/v1/delivery/orders/W-REST:watch")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("got HTTP %d %s", resp.StatusCode, b)
		}
		var evs []*deliveryv1.OrderEvent
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var line struct {
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Error != nil {
				t.Fatalf("line %s: %v", sc.Bytes(), err)
			}
			var msg deliveryv1.WatchOrderResponse
			if err := protojson.Unmarshal(line.Result, &msg); err != nil {
				t.Fatalf("line %s: %v", sc.Bytes(), err)
			}
			if !strings.Contains(string(line.Result), `"origin_id"`) {
				t.Errorf("line %s: want snake_case field names", sc.Bytes())
			}
			evs = append(evs, msg.GetEvent())
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		checkLifecycle(t, evs)
	})
}

// TestWatchersShareOnePoller: three watchers of an order make the vendor
// read it once per poll interval, not three times.
func TestWatchersShareOnePoller(t *testing.T) {
	t.Parallel()
	h := startTracked(t, time.Hour, "DELIVERY_WATCH_POLL_INTERVAL=100ms")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := h.client.CreateOrder(ctx, validOrder("SHARED-1")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		stream, err := h.client.WatchOrder(ctx, &deliveryv1.WatchOrderRequest{OriginId: "SHARED-1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	before := h.sim.Calls(dingdangsim.PathOrderRecord)
	time.Sleep(time.Second)
	// One poller: about 10 reads in a second. Three would make about 30.
	if n := h.sim.Calls(dingdangsim.PathOrderRecord) - before; n < 5 || n > 15 {
		t.Errorf("got %d orderRecord calls in 1s of polling every 100ms by three watchers, want about 10", n)
	}
}

// TestListOrderEventsPages pages through an order's history, over gRPC
// and REST.
func TestListOrderEventsPages(t *testing.T) {
	t.Parallel()
	h := startTracked(t, time.Second, "DELIVERY_WATCH_POLL_INTERVAL=50ms")
	ctx := context.Background()
	if _, err := h.client.CreateOrder(ctx, validOrder("PAGE-1")); err != nil {
		t.Fatal(err)
	}
	checkLifecycle(t, collect(t, h.client, &deliveryv1.WatchOrderRequest{OriginId: "PAGE-1"}))

	var got []*deliveryv1.OrderEvent
	token := ""
	for page := 0; ; page++ {
		resp, err := h.client.ListOrderEvents(ctx, &deliveryv1.ListOrderEventsRequest{OriginId: "PAGE-1", PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetEvents()) > 2 {
			t.Errorf("page %d: %d events, want at most 2", page, len(resp.GetEvents()))
		}
		got = append(got, resp.GetEvents()...)
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
		if page > 3 {
			t.Fatal("paging does not end")
		}
	}
	checkLifecycle(t, got)

	var rest deliveryv1.ListOrderEventsResponse
	if code, body := h.callREST(t, http.MethodGet, "/v1/delivery/orders/PAGE-1/events?page_size=1", nil, &rest); code != http.StatusOK {
		t.Fatalf("REST: got HTTP %d %s", code, body)
	}
	if len(rest.GetEvents()) != 1 || rest.GetEvents()[0].GetEventId() != 1 || rest.GetNextPageToken() == "" {
		t.Errorf("REST first page: got %v", &rest)
	}
	// A token is bound to its order, and must be one the service made.
	for _, tok := range []string{rest.GetNextPageToken(), "not-a-token"} {
		_, err := h.client.ListOrderEvents(ctx, &deliveryv1.ListOrderEventsRequest{OriginId: "OTHER-1", PageToken: tok})
		if v := violation(err); status.Code(err) != codes.InvalidArgument || v.GetField() != "page_token" {
			t.Errorf("token %q for another order: got %v, want INVALID_ARGUMENT on page_token", tok, err)
		}
	}
	// An order with no history has an empty one.
	empty, err := h.client.ListOrderEvents(ctx, &deliveryv1.ListOrderEventsRequest{OriginId: "NEVER-SEEN"})
	if err != nil || len(empty.GetEvents()) != 0 || empty.GetNextPageToken() != "" {
		t.Errorf("no history: got %v, %v", empty, err)
	}
}

// metric returns the value of the sample named line (name and labels) that
// the service at base exposes, "" when absent.
func metric(t *testing.T, base, line string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, line+" "); ok {
			return v
		}
	}
	return ""
}

func pushes(outcome string) string {
	return `vendorgate_delivery_callback_pushes_total{outcome="` + outcome + `"}`
}

// waitFor polls cond every 20ms up to timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPushChecks delivers pushes to the callback listener: the vendor's
// own push (on a cancel) records the change; a wrong or unknown token is
// refused and counted without reading the order; a repeat of an unchanged
// status reads the order but records nothing; every accepted payload is
// stored as sent, whatever its content type; an oversized body and a flood
// are refused.
func TestPushChecks(t *testing.T) {
	t.Parallel()
	db := sqlstoretest.PostgresURL(t, "delivery_push")
	cbAddr, env := withCallbacks(t)
	h := startTracked(t, time.Hour, append(env, "DELIVERY_DATABASE_URL="+db, "DELIVERY_CALLBACK_MAX_BYTES=1024",
		"DELIVERY_CALLBACK_RATE=0.001", "DELIVERY_CALLBACK_BURST=5")...)
	ctx := context.Background()
	if _, err := h.client.CreateOrder(ctx, validOrder("PUSH-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.CancelOrder(ctx, &deliveryv1.CancelOrderRequest{OriginId: "PUSH-1", ReasonId: 10000, Reason: "顾客改主意了"}); err != nil {
		t.Fatal(err)
	}
	// Push 1 of 5: the simulator's, to the order's own callback URL.
	events := func() []*deliveryv1.OrderEvent {
		resp, err := h.client.ListOrderEvents(ctx, &deliveryv1.ListOrderEventsRequest{OriginId: "PUSH-1"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetEvents()
	}
	waitFor(t, 5*time.Second, "the pushed cancel recorded", func() bool { return len(events()) == 1 })
	if got := statuses(events()); got != "1:CANCELLED/5(final=true,PUSH)" {
		t.Errorf("got %s, want the cancel recorded from the push", got)
	}
	// The simulator logs its callback once our answer is back.
	waitFor(t, 5*time.Second, "the simulator's callback logged", func() bool { return len(h.sim.Callbacks()) == 1 })
	cbs := h.sim.Callbacks()
	if len(cbs) != 1 || cbs[0].Status != http.StatusOK || !strings.HasPrefix(cbs[0].URL, "http://"+cbAddr+"/callbacks/dingdang/") {
		t.Fatalf("simulator callbacks: got %+v", cbs)
	}
	pushURL := cbs[0].URL

	post := func(u, contentType string, body []byte) int {
		t.Helper()
		resp, err := http.Post(u, contentType, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	reads := h.sim.Calls(dingdangsim.PathOrderRecord)
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	for _, tok := range []string{base64.RawURLEncoding.EncodeToString(random), "short", strings.Repeat("x", 500)} {
		if code := post("http://"+cbAddr+"/callbacks/dingdang/"+tok, "application/x-www-form-urlencoded", []byte("origin_id=PUSH-1&order_status=3")); code != http.StatusNotFound {
			t.Errorf("token %.10s…: got HTTP %d, want 404", tok, code)
		}
	}
	if n := h.sim.Calls(dingdangsim.PathOrderRecord); n != reads {
		t.Errorf("refused pushes read the order: %d → %d orderRecord calls", reads, n)
	}
	if got := metric(t, h.rest, pushes("unknown_token")); got != "3" {
		t.Errorf("unknown_token pushes: got %q, want 3", got)
	}

	// Pushes 2–3: the same status again, as a form and as JSON: read back,
	// stored, no new event.
	form := url.Values{"origin_id": {"PUSH-1"}, "order_status": {"5"}}.Encode()
	if code := post(pushURL, "application/x-www-form-urlencoded", []byte(form)); code != http.StatusOK {
		t.Errorf("repeated push: got HTTP %d", code)
	}
	if code := post(pushURL, "application/json", []byte(`{"origin_id":"PUSH-1","order_status":5}`)); code != http.StatusOK {
		t.Errorf("JSON push: got HTTP %d", code)
	}
	if n := h.sim.Calls(dingdangsim.PathOrderRecord); n != reads+2 {
		t.Errorf("got %d orderRecord calls for 2 accepted pushes, want %d", n-reads, 2)
	}
	if got := statuses(events()); got != "1:CANCELLED/5(final=true,PUSH)" {
		t.Errorf("unchanged status recorded again: got %s", got)
	}
	// Push 4: over the size limit.
	if code := post(pushURL, "text/plain", []byte(strings.Repeat("z", 2048))); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized push: got HTTP %d, want 413", code)
	}
	// Push 5: bytes that are no text at all are stored as they came.
	binary := []byte{0xff, 0xfe, 0x00, 0x01}
	if code := post(pushURL, "application/octet-stream", binary); code != http.StatusOK {
		t.Errorf("binary push: got HTTP %d", code)
	}
	// The burst of 5 is spent.
	if code := post(pushURL, "application/x-www-form-urlencoded", []byte(form)); code != http.StatusTooManyRequests {
		t.Errorf("push over the rate: got HTTP %d, want 429", code)
	}
	for outcome, want := range map[string]string{"accepted": "4", "too_large": "1", "rate_limited": "1"} {
		if got := metric(t, h.rest, pushes(outcome)); got != want {
			t.Errorf("%s pushes: got %q, want %s", outcome, got, want)
		}
	}

	conn, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `SELECT content_type, payload FROM delivery_pushes WHERE origin_id = 'PUSH-1' ORDER BY received_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var stored []string
	for rows.Next() {
		var ct, payload string
		if err := rows.Scan(&ct, &payload); err != nil {
			t.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(payload)
		stored = append(stored, ct+" "+fmt.Sprintf("%q", b))
	}
	if len(stored) != 4 || !strings.HasPrefix(stored[1], "application/x-www-form-urlencoded") ||
		!strings.HasPrefix(stored[2], "application/json") || stored[3] != fmt.Sprintf("application/octet-stream %q", binary) {
		t.Errorf("stored pushes: got\n%s", strings.Join(stored, "\n"))
	}
}

// TestPushReachesWatcherOnAnotherReplica: two processes of the service
// share one Postgres schema; a push delivered to replica A reaches a
// WatchOrder on replica B within a second.
func TestPushReachesWatcherOnAnotherReplica(t *testing.T) {
	t.Parallel()
	sim, vendorURL := newSim(t, time.Hour)
	db := sqlstoretest.PostgresURL(t, "delivery_replicas")
	cbA, envA := withCallbacks(t)
	_, envB := withCallbacks(t)
	a := proctest.Start(t, childEnv(db, vendorURL, envA...), proctest.Options{})
	b := proctest.Start(t, childEnv(db, vendorURL, envB...), proctest.Options{})
	ca, cb := dial(t, a.Addr), dial(t, b.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Created through A: its callback URL is A's listener.
	if _, err := ca.CreateOrder(ctx, validOrder("REPL-1")); err != nil {
		t.Fatal(err)
	}
	stream, err := cb.WatchOrder(ctx, &deliveryv1.WatchOrderRequest{OriginId: "REPL-1"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if first.GetEvent().GetStatus() != deliveryv1.OrderStatus_ORDER_STATUS_WAITING {
		t.Fatalf("first event: got %v, want WAITING", first.GetEvent())
	}
	got := make(chan *deliveryv1.OrderEvent, 1)
	go func() {
		resp, err := stream.Recv()
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- resp.GetEvent()
	}()
	// Cancelling makes the vendor push to A.
	if _, err := cb.CancelOrder(ctx, &deliveryv1.CancelOrderRequest{OriginId: "REPL-1", ReasonId: 10000, Reason: "改了"}); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	select {
	case e := <-got:
		if e.GetStatus() != deliveryv1.OrderStatus_ORDER_STATUS_CANCELLED || e.GetSource() != deliveryv1.OrderEventSource_ORDER_EVENT_SOURCE_PUSH || !e.GetFinal() {
			t.Errorf("got %v, want the pushed cancel", e)
		}
		t.Logf("push to A reached the watcher on B %s after the cancel", time.Since(sent))
	case <-time.After(time.Second):
		t.Fatalf("the watcher on B saw nothing within 1s of the push (simulator callbacks: %+v)", sim.Callbacks())
	}
	// The simulator logs its callback, and A counts it, once A answered.
	waitFor(t, 5*time.Second, "the callback logged", func() bool { return len(sim.Callbacks()) == 1 })
	cbs := sim.Callbacks()
	if len(cbs) != 1 || !strings.Contains(cbs[0].URL, cbA) {
		t.Errorf("got callbacks %+v, want one to A at %s", cbs, cbA)
	}
	if n := metric(t, "http://"+a.Addr, pushes("accepted")); n != "1" {
		t.Errorf("A accepted %s pushes, want 1", n)
	}
	if n := metric(t, "http://"+b.Addr, pushes("accepted")); n != "0" {
		t.Errorf("B accepted %s pushes, want 0", n)
	}
}

// TestReplicasShareOnePoller: without pushes, watchers of one order on two
// replicas sharing Postgres are served by one poller (the replica holding
// the order's lock), and both see the changes it records.
func TestReplicasShareOnePoller(t *testing.T) {
	t.Parallel()
	sim, vendorURL := newSim(t, 1500*time.Millisecond)
	db := sqlstoretest.PostgresURL(t, "delivery_poll")
	env := childEnv(db, vendorURL, "DELIVERY_WATCH_POLL_INTERVAL=100ms")
	a := proctest.Start(t, env, proctest.Options{})
	b := proctest.Start(t, env, proctest.Options{})
	ca, cb := dial(t, a.Addr), dial(t, b.Addr)
	if _, err := ca.CreateOrder(context.Background(), validOrder("POLL-1")); err != nil {
		t.Fatal(err)
	}
	before := sim.Calls(dingdangsim.PathOrderRecord)
	start := time.Now()
	results := make(chan []*deliveryv1.OrderEvent, 2)
	for _, c := range []deliveryv1.DeliveryServiceClient{ca, cb} {
		go func() { results <- collect(t, c, &deliveryv1.WatchOrderRequest{OriginId: "POLL-1"}) }()
	}
	for range 2 {
		evs := <-results
		if n := len(evs); n == 0 || !evs[n-1].GetFinal() || evs[n-1].GetStatus() != deliveryv1.OrderStatus_ORDER_STATUS_DELIVERED {
			t.Errorf("a watcher got %s, want it to end delivered", statuses(evs))
		}
	}
	// One poller reads about once per 100ms (plus each watch's first read);
	// one per replica would read twice as often.
	elapsed := time.Since(start)
	reads := sim.Calls(dingdangsim.PathOrderRecord) - before
	if limit := int(float64(elapsed)/float64(100*time.Millisecond)*1.4) + 4; reads > limit {
		t.Errorf("got %d orderRecord calls in %s, want at most %d (one poller)", reads, elapsed.Round(time.Millisecond), limit)
	}
	t.Logf("%d orderRecord calls in %s", reads, elapsed.Round(time.Millisecond))
}
