package dingdangsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
)

const (
	testSecretID  = "sandbox-id"
	testSecretKey = "sandbox-key"
)

// t0 is on the 10-minute grid, as door_time must be.
var t0 = time.Date(2026, 11, 23, 13, 30, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	sim    *Simulator
	srv    *httptest.Server
	client *http.Client
	clock  *fakeClock
}

// newFixture starts the simulator on loopback with a fake clock (unless
// opts.Now is set) and a client that signs like the service does.
func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	clk := &fakeClock{now: t0}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	if opts.Keys == nil {
		opts.Keys = map[string]string{testSecretID: testSecretKey}
	}
	sim := New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	client := &http.Client{
		Transport: &cloudmarket.Signer{SecretID: testSecretID, SecretKey: testSecretKey, Now: opts.Now},
		Timeout:   5 * time.Second,
	}
	return &fixture{sim: sim, srv: srv, client: client, clock: clk}
}

// reply is one answer from the simulator.
type reply struct {
	status      int
	contentType string
	body        string
	msg         string
	code        int
	result      json.RawMessage
}

// request builds a POST with the vendor's header names exactly as written
// (lower case, underscores) and an optional form body.
func (f *fixture) request(t *testing.T, path string, headers map[string]string, form url.Values) *http.Request {
	t.Helper()
	req, err := f.newRequest(t.Context(), path, headers, form)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (f *fixture) newRequest(ctx context.Context, path string, headers map[string]string, form url.Values) (*http.Request, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+path, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range headers {
		req.Header[k] = []string{v}
	}
	return req, nil
}

// tryDo is do for goroutines other than the test's own.
func (f *fixture) tryDo(ctx context.Context, path string, headers map[string]string, form url.Values) (reply, error) {
	req, err := f.newRequest(ctx, path, headers, form)
	if err != nil {
		return reply{}, err
	}
	return trySend(f.client, req)
}

func (f *fixture) do(t *testing.T, path string, headers map[string]string, form url.Values) reply {
	t.Helper()
	return send(t, f.client, f.request(t, path, headers, form))
}

func send(t *testing.T, client *http.Client, req *http.Request) reply {
	t.Helper()
	r, err := trySend(client, req)
	if err != nil {
		t.Fatalf("%s: %v", req.URL.Path, err)
	}
	return r
}

// trySend is send for goroutines other than the test's own.
func trySend(client *http.Client, req *http.Request) (reply, error) {
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(b)}
	var env struct {
		Msg    string          `json:"msg"`
		Code   int             `json:"code"`
		Result json.RawMessage `json:"result"`
	}
	if json.Unmarshal(b, &env) == nil {
		r.msg, r.code, r.result = env.Msg, env.Code, env.Result
	}
	return r, nil
}

// want checks an envelope's msg, code and, when result is not "", its raw result.
func (r reply) want(t *testing.T, msg string, code int, result string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("got HTTP %d (%s), want 200", r.status, r.body)
	}
	if r.msg != msg || r.code != code {
		t.Errorf("got msg %q code %d, want msg %q code %d (body %s)", r.msg, r.code, msg, code, r.body)
	}
	if result != "" && compact(t, r.result) != result {
		t.Errorf("got result %s, want %s", r.result, result)
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("result %q: %v", raw, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// orderParams is a valid createOrder split the way the vendor wants it.
func orderParams(originID string) (map[string]string, url.Values) {
	headers := map[string]string{
		"callback":          "",
		"info":              "1号",
		"mode_distribution": "3",
		"receiver_lat":      "31.238808",
		"receiver_lng":      "121.323932",
	}
	form := url.Values{
		"bigNumb":          {"12"},
		"cargo_price":      {"25.00"},
		"city":             {"上海"},
		"door_time":        {"1"},
		"goods":            {`[{"name":"宫保鸡丁","quantity":2,"price":"12.50"}]`},
		"origin_id":        {originID},
		"receiver_address": {"上海市嘉定区江桥万达9号楼1106"},
		"receiver_mobile":  {""},
		"receiver_name":    {"林冲"},
		"receiver_phone":   {"18942249050"},
		"shop_no":          {"MD1545130259123"},
		"source":           {"5"},
		"weight":           {"1"},
	}
	return headers, form
}

// createOrder creates originID, letting edit change the parameters first.
func (f *fixture) createOrder(t *testing.T, originID string, edit func(h map[string]string, form url.Values)) reply {
	t.Helper()
	h, form := orderParams(originID)
	if edit != nil {
		edit(h, form)
	}
	return f.do(t, PathCreateOrder, h, form)
}

func (f *fixture) mustCreateOrder(t *testing.T, originID string, edit func(h map[string]string, form url.Values)) {
	t.Helper()
	f.createOrder(t, originID, edit).want(t, "成功", 1, "[]")
}

// record returns orderRecord's result for a known order.
func (f *fixture) record(t *testing.T, originID string) map[string]any {
	t.Helper()
	r := f.do(t, PathOrderRecord, map[string]string{"origin_id": originID}, nil)
	r.want(t, "成功", 1, "")
	var rec map[string]any
	if err := json.Unmarshal(r.result, &rec); err != nil {
		t.Fatalf("record %s: %v", r.result, err)
	}
	return rec
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// waitCallbacks waits until no callback is in flight.
func waitCallbacks(t *testing.T, s *Simulator) {
	t.Helper()
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
	case <-time.After(10 * time.Second):
		t.Fatal("callbacks still in flight after 10s")
	}
}

// callbackReceiver records the forms posted to it.
type callbackReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	forms []url.Values
}

func newCallbackReceiver(t *testing.T) *callbackReceiver {
	t.Helper()
	rcv := &callbackReceiver{}
	rcv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		rcv.forms = append(rcv.forms, r.PostForm)
		rcv.mu.Unlock()
		_, _ = io.WriteString(w, "success")
	}))
	t.Cleanup(rcv.srv.Close)
	return rcv
}

func (c *callbackReceiver) received() []url.Values {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]url.Values(nil), c.forms...)
}

// statuses lists the order_status of each form.
func statuses(forms []url.Values) []string {
	out := make([]string, 0, len(forms))
	for _, f := range forms {
		out = append(out, f.Get("order_status"))
	}
	return out
}
