package dingdangsim

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/logging/logtest"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
)

func TestGateway(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	tests := []struct {
		name     string
		id, key  string
		status   int
		message  string
		signTime time.Time
	}{
		{name: "wrong key", id: testSecretID, key: "wrong", status: http.StatusForbidden,
			message: "HMAC signature does not match", signTime: t0},
		{name: "unknown id", id: "other-id", key: testSecretKey, status: http.StatusUnauthorized,
			message: "HMAC signature cannot be verified", signTime: t0},
		{name: "stale date", id: testSecretID, key: testSecretKey, status: http.StatusUnauthorized,
			message: "HMAC signature cannot be verified, a valid date", signTime: t0.Add(-16 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := &http.Client{Transport: &cloudmarket.Signer{SecretID: tt.id, SecretKey: tt.key,
				Now: func() time.Time { return tt.signTime }}}
			r := send(t, client, f.request(t, PathOrderList, map[string]string{"types": "1"}, nil))
			if r.status != tt.status || !strings.Contains(r.body, tt.message) {
				t.Errorf("got %d %s, want %d with %q", r.status, r.body, tt.status, tt.message)
			}
		})
	}
	t.Run("unsigned", func(t *testing.T) {
		t.Parallel()
		r := send(t, http.DefaultClient, f.request(t, PathOrderList, nil, nil))
		if r.status != http.StatusUnauthorized {
			t.Errorf("got %d %s, want 401", r.status, r.body)
		}
	})
	t.Cleanup(func() {
		if n := f.sim.Calls(PathOrderList); n != 0 {
			t.Errorf("got %d calls past the gateway, want 0", n)
		}
	})
}

func TestRouting(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	tests := []struct {
		name, method, path string
		status             int
	}{
		{name: "stage prefix", method: http.MethodPost, path: "/release" + PathOrderList, status: http.StatusOK},
		{name: "unknown path", method: http.MethodPost, path: "/open/order/nope", status: http.StatusNotFound},
		{name: "GET", method: http.MethodGet, path: PathOrderList, status: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, f.srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := send(t, f.client, req); r.status != tt.status {
				t.Errorf("got %d %s, want %d", r.status, r.body, tt.status)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		faults  []Fault
		timeout time.Duration // client timeout; 0 = 5s
		// what the client sees for each faulted call, then the call after
		wantStatus  []int
		wantBody    []string
		wantCT      []string
		wantCreated bool // the order exists after the faulted calls
		minElapsed  time.Duration
		wantErr     bool
	}{
		{
			name:       "502 html",
			faults:     []Fault{{Status: http.StatusBadGateway, Body: "<html>bad gateway</html>"}},
			wantStatus: []int{502}, wantBody: []string{"<html>bad gateway</html>"},
			wantCT: []string{"text/html; charset=UTF-8"},
		},
		{
			name: "429 throttled",
			faults: []Fault{{Status: http.StatusTooManyRequests, Body: `{"message":"API rate limit exceeded"}`,
				ContentType: "application/json"}},
			wantStatus: []int{429}, wantBody: []string{`{"message":"API rate limit exceeded"}`},
			wantCT: []string{"application/json"},
		},
		{
			name:       "html garbage with 200",
			faults:     []Fault{{Body: "<html><body>系统维护中</body></html>"}},
			wantStatus: []int{200}, wantBody: []string{"<html><body>系统维护中</body></html>"},
			wantCT: []string{"text/html; charset=UTF-8"},
		},
		{
			name:       "empty 200",
			faults:     []Fault{{Status: http.StatusOK}},
			wantStatus: []int{200}, wantBody: []string{""}, wantCT: []string{"text/html; charset=UTF-8"},
		},
		{
			name:       "queued faults are used in order",
			faults:     []Fault{{Status: 503, Body: "a"}, {Status: 429, Body: "b"}},
			wantStatus: []int{503, 429}, wantBody: []string{"a", "b"},
			wantCT: []string{"text/html; charset=UTF-8", "text/html; charset=UTF-8"},
		},
		{
			name:       "response lost after the vendor acted",
			faults:     []Fault{{Status: http.StatusBadGateway, Body: "<html>502</html>", AfterHandling: true}},
			wantStatus: []int{502}, wantBody: []string{"<html>502</html>"},
			wantCT:      []string{"text/html; charset=UTF-8"},
			wantCreated: true,
		},
		{
			name:       "slow but answered",
			faults:     []Fault{{Delay: 100 * time.Millisecond}},
			wantStatus: []int{200}, wantBody: []string{`{"msg":"成功","code":1,"result":[]}`},
			wantCT:      []string{"text/html; charset=UTF-8"},
			wantCreated: true, minElapsed: 100 * time.Millisecond,
		},
		{
			name:    "slow until the client gives up: nothing done",
			faults:  []Fault{{Delay: 5 * time.Second, Status: 504}},
			timeout: 100 * time.Millisecond, wantErr: true,
		},
		{
			name:    "acted, then too slow to answer",
			faults:  []Fault{{Delay: 5 * time.Second, AfterHandling: true}},
			timeout: 100 * time.Millisecond, wantErr: true, wantCreated: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Options{})
			for _, fault := range tt.faults {
				f.sim.Inject(PathCreateOrder, fault)
			}
			client := f.client
			if tt.timeout > 0 {
				client = &http.Client{Transport: f.client.Transport, Timeout: tt.timeout}
			}
			h, form := orderParams("fault-1")
			for i := range tt.faults {
				start := time.Now()
				resp, err := client.Do(f.request(t, PathCreateOrder, h, form))
				if tt.wantErr {
					if err == nil {
						resp.Body.Close()
						t.Fatalf("got HTTP %d, want a client timeout", resp.StatusCode)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				var body bytes.Buffer
				_, _ = body.ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus[i] || body.String() != tt.wantBody[i] ||
					resp.Header.Get("Content-Type") != tt.wantCT[i] {
					t.Errorf("call %d: got %d %q %q, want %d %q %q", i, resp.StatusCode,
						resp.Header.Get("Content-Type"), body.String(), tt.wantStatus[i], tt.wantCT[i], tt.wantBody[i])
				}
				if elapsed := time.Since(start); elapsed < tt.minElapsed {
					t.Errorf("got an answer after %v, want at least %v", elapsed, tt.minElapsed)
				}
			}
			if got := f.sim.Calls(PathCreateOrder); got != len(tt.faults) {
				t.Errorf("got %d calls, want %d", got, len(tt.faults))
			}
			if tt.wantErr && tt.wantCreated {
				// The handler ran before the delay; give it a moment to finish.
				waitFor(t, func() bool {
					return f.do(t, PathOrderRecord, map[string]string{"origin_id": "fault-1"}, nil).code == 1
				})
			}
			r := f.do(t, PathOrderRecord, map[string]string{"origin_id": "fault-1"}, nil)
			if created := r.code == 1; created != tt.wantCreated {
				t.Errorf("got order created %v, want %v", created, tt.wantCreated)
			}
			// The faults were used once: a retry reaches the real handler.
			want := "成功"
			if tt.wantCreated {
				want = "订单号重复"
			}
			if got := f.do(t, PathCreateOrder, h, form).msg; got != want {
				t.Errorf("retry: got %q, want %q", got, want)
			}
		})
	}
}

func TestFaultsArePerPath(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.sim.Inject("/release"+PathOrderList, Fault{Status: 500})
	if r := f.do(t, PathReason, map[string]string{"origin_id": "x"}, nil); r.status != 200 {
		t.Errorf("got %d on another path, want 200", r.status)
	}
	if r := f.do(t, PathOrderList, nil, nil); r.status != 500 {
		t.Errorf("got %d, want the injected 500", r.status)
	}
	if got := f.sim.Calls("/release" + PathOrderList); got != 1 {
		t.Errorf("got %d calls, want 1", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCallbacks(t *testing.T) {
	t.Parallel()
	rcv := newCallbackReceiver(t)
	dead := newCallbackReceiver(t)
	dead.srv.Close()
	f := newFixture(t, Options{StatusStep: 30 * time.Second})
	f.mustCreateOrder(t, "cb-ok", func(h map[string]string, _ url.Values) { h["callback"] = rcv.srv.URL + "/notify" })
	f.mustCreateOrder(t, "cb-dead", func(h map[string]string, _ url.Values) { h["callback"] = dead.srv.URL })
	f.mustCreateOrder(t, "cb-none", nil)

	f.clock.Add(time.Minute)
	// Any request advances the orders; the pushes for one order arrive in order.
	f.do(t, PathOrderList, nil, nil).want(t, "成功", 1, "")
	waitCallbacks(t, f.sim)

	got := rcv.received()
	if s := statuses(got); !slices.Equal(s, []string{"4", "3"}) {
		t.Fatalf("got statuses %v, want [4 3]", s)
	}
	rec := f.record(t, "cb-ok")
	for i, form := range got {
		for _, k := range []string{"origin_id", "ordernumber", "acceptTime", "fetchTime"} {
			if form.Get(k) != rec[k] {
				t.Errorf("callback %d: got %s %q, want %q", i, k, form.Get(k), rec[k])
			}
		}
	}
	if got[0].Get("finishTime") != notYet || got[1].Get("finishTime") != rec["finishTime"] {
		t.Errorf("got finishTime %q then %q, want %s then %v", got[0].Get("finishTime"), got[1].Get("finishTime"),
			notYet, rec["finishTime"])
	}

	var okCount, failed int
	for _, cb := range f.sim.Callbacks() {
		switch {
		case cb.URL == rcv.srv.URL+"/notify" && cb.Status == http.StatusOK && cb.Err == "":
			okCount++
		case cb.URL == dead.srv.URL && cb.Status == 0 && cb.Err != "":
			failed++
		default:
			t.Errorf("unexpected callback %+v", cb)
		}
	}
	if okCount != 2 || failed != 2 {
		t.Errorf("got %d delivered and %d failed callbacks, want 2 and 2", okCount, failed)
	}
	// Nothing more to push.
	f.clock.Add(time.Hour)
	f.do(t, PathOrderList, nil, nil)
	waitCallbacks(t, f.sim)
	if n := len(f.sim.Callbacks()); n != 4 {
		t.Errorf("got %d callbacks, want still 4", n)
	}
}

func TestCallbacksAreCopies(t *testing.T) {
	t.Parallel()
	rcv := newCallbackReceiver(t)
	f := newFixture(t, Options{})
	f.mustCreateOrder(t, "copy", func(h map[string]string, _ url.Values) { h["callback"] = rcv.srv.URL })
	f.do(t, PathOrderCancel, map[string]string{"origin_id": "copy", "cancel_id": "1"}, nil)
	waitCallbacks(t, f.sim)
	f.sim.Callbacks()[0].Form.Set("origin_id", "changed")
	if got := f.sim.Callbacks()[0].Form.Get("origin_id"); got != "copy" {
		t.Errorf("got %q, want the recorded callback unchanged", got)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	rcv := newCallbackReceiver(t)
	f := newFixture(t, Options{Now: time.Now, StatusStep: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.sim.Run(ctx)
	}()
	f.mustCreateOrder(t, "run-1", func(h map[string]string, _ url.Values) { h["callback"] = rcv.srv.URL })
	// No further requests: the ticker alone must push both statuses.
	waitFor(t, func() bool { return len(rcv.received()) == 2 })
	if s := statuses(rcv.received()); !slices.Equal(s, []string{"4", "3"}) {
		t.Errorf("got statuses %v, want [4 3]", s)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	waitCallbacks(t, f.sim)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	rcv := newCallbackReceiver(t)
	f := newFixture(t, Options{StatusStep: time.Second})
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("conc-%d", i)
			h, form := orderParams(id)
			h["callback"] = rcv.srv.URL
			ctx := t.Context()
			if r, err := f.tryDo(ctx, PathCreateOrder, h, form); err != nil || r.code != 1 {
				errs <- fmt.Errorf("%s: got %s, %v", id, r.body, err)
			}
			f.clock.Add(100 * time.Millisecond)
			if r, err := f.tryDo(ctx, PathOrderList, map[string]string{"types": "2"}, nil); err != nil || r.code != 1 {
				errs <- fmt.Errorf("list: got %s, %v", r.body, err)
			}
			if i%2 == 0 {
				if _, err := f.tryDo(ctx, PathOrderCancel, map[string]string{"origin_id": id, "cancel_id": "4"}, nil); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f.clock.Add(time.Hour)
	f.do(t, PathOrderList, nil, nil)
	waitCallbacks(t, f.sim)
	if got := f.sim.Calls(PathCreateOrder); got != n {
		t.Errorf("got %d createOrder calls, want %d", got, n)
	}
	// Every order ends finished or cancelled, each with a final push.
	final := map[string]string{}
	for _, form := range rcv.received() {
		final[form.Get("origin_id")] = form.Get("order_status")
	}
	if len(final) != n {
		t.Errorf("got final pushes for %d orders, want %d", len(final), n)
		for _, cb := range f.sim.Callbacks() {
			if cb.Err != "" {
				t.Log(cb.Form.Get("origin_id"), cb.Err)
			}
		}
	}
}

func TestLogsNeverHoldAuthorization(t *testing.T) {
	t.Parallel()
	var buf logtest.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t, Options{Logger: logger})
	f.mustCreateOrder(t, "log-1", nil)
	f.sim.Inject(PathOrderList, Fault{Status: 502})
	f.do(t, PathOrderList, nil, nil)
	out := buf.String()
	if !strings.Contains(out, "log-1") {
		t.Errorf("got logs %q, want debug lines about the order", out)
	}
	for _, secret := range []string{"hmac", "signature", testSecretKey, "Authorization"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q: %s", secret, out)
		}
	}
}

func TestBoundedOrderStore(t *testing.T) {
	t.Parallel()
	s := New(Options{Now: func() time.Time { return t0 }})
	s.mu.Lock()
	for i := range maxOrders {
		id := fmt.Sprintf("o%d", i)
		status := statusWaiting
		if i == 5 {
			status = statusFinished
		}
		s.orders[id] = &order{originID: id, status: status}
		s.orderIDs = append(s.orderIDs, id)
	}
	s.evictOrderLocked()
	_, finishedKept := s.orders["o5"]
	_, oldestKept := s.orders["o0"]
	n := len(s.orderIDs)
	s.mu.Unlock()
	if finishedKept || !oldestKept || n != maxOrders-1 {
		t.Errorf("got finished kept %v, oldest kept %v, %d orders; want the finished one evicted first",
			finishedKept, oldestKept, n)
	}
}

// A caller that gives up during a delay-only fault is never served: the
// vendor did nothing, so a retry is not a duplicate.
func TestDelayRespectsCancellation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.sim.Inject(PathCreateOrder, Fault{Delay: 300 * time.Millisecond})
	client := &http.Client{Transport: f.client.Transport, Timeout: 50 * time.Millisecond}
	h, form := orderParams("gave-up")
	if resp, err := client.Do(f.request(t, PathCreateOrder, h, form)); err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d, want a client timeout", resp.StatusCode)
	}
	time.Sleep(500 * time.Millisecond) // past the delay
	f.do(t, PathOrderRecord, map[string]string{"origin_id": "gave-up"}, nil).want(t, "参数无效", 0, "[]")
}

// handlerTransport serves requests in-process, the way the delivery service
// uses the simulator in sandbox mode.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func TestInProcess(t *testing.T) {
	t.Parallel()
	sim := New(Options{Keys: map[string]string{testSecretID: testSecretKey}})
	client := &http.Client{Transport: &cloudmarket.Signer{SecretID: testSecretID, SecretKey: testSecretKey,
		Base: handlerTransport{sim.Handler()}}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://dingdang.sandbox/release"+PathReason, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("origin_id", "未知订单")
	send(t, client, req).want(t, "参数无效", 0, "[]")
	if got := sim.Calls(PathReason); got != 1 {
		t.Errorf("got %d calls, want 1", got)
	}
}
