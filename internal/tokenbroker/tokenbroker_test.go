package tokenbroker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vendorgate/vendorgate/internal/tokenbroker"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

const (
	appID     = "app-1"
	appSecret = "s3cret-app-key"
)

// tokenVendor is a small login-token vendor in damaijia's shape: POST
// /user_login {"app_id","app_secret"} → {"status":0,"data":{"access_token"}};
// every other call needs the header Authorization: <token> and answers
// {"status":200} ("认证失败") for a token it does not know.
type tokenVendor struct {
	logins  atomic.Int32
	applied atomic.Int32
	delay   time.Duration // each login's duration, so that callers pile up

	mu     sync.Mutex
	tokens map[string]bool
	n      int
}

func (v *tokenVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/user_login" {
		v.logins.Add(1)
		time.Sleep(v.delay)
		var in struct {
			AppID     string `json:"app_id"`
			AppSecret string `json:"app_secret"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in.AppID != appID || in.AppSecret != appSecret {
			_, _ = io.WriteString(w, `{"status":200,"msg":"认证失败"}`)
			return
		}
		v.mu.Lock()
		v.n++
		token := "tok-" + string(rune('a'+v.n))
		v.tokens[token] = true
		v.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"status": 0, "data": map[string]string{"access_token": token}})
		return
	}
	v.mu.Lock()
	ok := v.tokens[r.Header.Get("Authorization")]
	v.mu.Unlock()
	if !ok {
		_, _ = io.WriteString(w, `{"status":200,"msg":"认证失败"}`)
		return
	}
	v.applied.Add(1)
	_, _ = io.WriteString(w, `{"status":0}`)
}

// revokeAll makes the vendor forget every token, as when one expires.
func (v *tokenVendor) revokeAll() {
	v.mu.Lock()
	clear(v.tokens)
	v.mu.Unlock()
}

// reply decodes the vendor's envelope; status 200 is the token refused.
func reply(token *string) vendorcall.Decoder {
	return func(body []byte) error {
		var r struct {
			Status int `json:"status"`
			Data   struct {
				AccessToken string `json:"access_token"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return err
		}
		switch r.Status {
		case 0:
			if token != nil {
				*token = r.Data.AccessToken
			}
			return nil
		case 200:
			return &vendorerr.Error{Kind: vendorerr.KindAuth, Code: "200", Message: "认证失败"}
		default:
			return &vendorerr.Error{Kind: vendorerr.KindRefused, Code: "x"}
		}
	}
}

// harness is a broker and a caller in front of a tokenVendor.
type harness struct {
	vendor *tokenVendor
	broker *tokenbroker.Broker
	caller *vendorcall.Caller
	url    string
	reg    *prometheus.Registry
	logs   *syncWriter
}

func newHarness(t *testing.T, secret string, delay time.Duration) *harness {
	t.Helper()
	v := &tokenVendor{tokens: map[string]bool{}, delay: delay}
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	return newHarnessOn(t, v, srv, secret, nil)
}

// newHarnessOn is a broker (one replica) in front of v served by srv,
// sharing its token through shared when not nil.
func newHarnessOn(t *testing.T, v *tokenVendor, srv *httptest.Server, secret string, shared tokenbroker.Shared) *harness {
	t.Helper()
	h := &harness{vendor: v, url: srv.URL, reg: prometheus.NewRegistry(), logs: &syncWriter{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// A generous timeout: 200 concurrent calls under -race on a loaded
	// machine; these tests count logins, not time.
	c, err := vendorcall.New("tokenvendor", vendorcall.Config{Timeout: time.Minute}, vendorcall.Options{HTTPClient: srv.Client(), Registerer: h.reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h.caller = c
	b, err := tokenbroker.New(tokenbroker.Options{
		Vendor: "tokenvendor",
		Login: func(ctx context.Context) (string, error) {
			body, _ := json.Marshal(map[string]string{"app_id": appID, "app_secret": secret})
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/user_login", bytes.NewReader(body))
			if err != nil {
				return "", err
			}
			var token string
			return token, c.Mutate(ctx, "/user_login", req, reply(&token))
		},
		Shared:     shared,
		Registerer: h.reg,
		Logger:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.broker = b
	return h
}

// order is a mutating call with the token in its Authorization header.
func (h *harness) order(ctx context.Context) error {
	return h.broker.Do(ctx, func(ctx context.Context, token string) error {
		req, err := http.NewRequest(http.MethodPost, h.url+"/v1/order_create", strings.NewReader(`{}`))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", token)
		return h.caller.Mutate(ctx, "/v1/order_create", req, reply(nil))
	})
}

func (h *harness) logins(outcome string) float64 {
	return testutil.ToFloat64(counter(h.reg, outcome))
}

// counter is the logins counter for outcome, read back from the registry.
func counter(reg *prometheus.Registry, outcome string) prometheus.Collector {
	return prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "vendorgate_vendor_logins_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" && l.GetValue() == outcome {
						ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("x", "x", nil, nil), prometheus.CounterValue, m.GetCounter().GetValue())
					}
				}
			}
		}
	})
}

// syncWriter is a log buffer shared by goroutines.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestConcurrentCallsShareOneLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, appSecret, 50*time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Go(func() { errs <- h.order(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("got %v, want every call to succeed", err)
		}
	}
	if got := h.vendor.logins.Load(); got != 1 {
		t.Errorf("got %d logins for 200 concurrent calls, want 1", got)
	}
	if got := h.vendor.applied.Load(); got != 200 {
		t.Errorf("got %d calls applied, want 200", got)
	}
	if got := h.logins("ok"); got != 1 {
		t.Errorf("got logins metric %v, want 1", got)
	}
}

func TestRefusedTokenLogsInAgainOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, appSecret, 0)
	if err := h.order(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.vendor.revokeAll()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() { errs <- h.order(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("got %v, want every call re-sent with the new token", err)
		}
	}
	if got := h.vendor.logins.Load(); got != 2 {
		t.Errorf("got %d logins, want 2 (the first and one after the refusal)", got)
	}
	if got := h.vendor.applied.Load(); got != 51 {
		t.Errorf("got %d calls applied, want 51", got)
	}
	if strings.Contains(h.logs.String(), "tok-") || strings.Contains(h.logs.String(), appSecret) {
		t.Errorf("got a token or the secret in the logs:\n%s", h.logs)
	}
}

func TestBadCredentialsFailWithoutLooping(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "wrong secret", 0)
	err := h.order(context.Background())
	if !vendorerr.IsKind(err, vendorerr.KindAuth) {
		t.Fatalf("got %v, want %s", err, vendorerr.KindAuth)
	}
	if got := h.vendor.logins.Load(); got != 1 {
		t.Errorf("got %d logins for one call, want 1", got)
	}
	if got := h.vendor.applied.Load(); got != 0 {
		t.Errorf("got %d calls applied, want 0", got)
	}
	if got := h.logins("failed"); got != 1 {
		t.Errorf("got failed-logins metric %v, want 1", got)
	}
	if strings.Contains(h.logs.String(), "wrong secret") {
		t.Errorf("got the secret in the logs:\n%s", h.logs)
	}
}

func TestRefusalOfAnOldTokenKeepsTheNewOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, appSecret, 0)
	ctx := context.Background()
	if err := h.order(ctx); err != nil {
		t.Fatal(err)
	}
	// Call A is refused its (first) token; before its refusal reaches the
	// broker, call B was refused the same token and logged in again. A's
	// late refusal must not discard B's new token: A is re-sent with it,
	// and nobody logs in a third time.
	calls := 0
	err := h.broker.Do(ctx, func(ctx context.Context, token string) error {
		calls++
		if calls == 1 {
			h.vendor.revokeAll()
			if err := h.order(ctx); err != nil {
				t.Errorf("call B: got %v, want nil", err)
			}
			return &vendorerr.Error{Kind: vendorerr.KindAuth}
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("call A: got %v after %d sends, want nil after 2", err, calls)
	}
	if got := h.vendor.logins.Load(); got != 2 {
		t.Errorf("got %d logins, want 2 (a stale refusal must not discard the newer token)", got)
	}
}

// memShared is a Shared for tests: one stored token behind a mutex that
// stands for the lock spanning processes.
type memShared struct {
	mu     sync.Mutex
	token  string
	renews atomic.Int32
}

func (m *memShared) Renew(ctx context.Context, stale string, login tokenbroker.Login) (string, error) {
	m.renews.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.token != "" && m.token != stale {
		return m.token, nil
	}
	token, err := login(ctx)
	if err != nil {
		return "", err
	}
	m.token = token
	return token, nil
}

// TestSharedTokenOneLoginPerExpiry: two brokers (two replicas) share one
// token store; 200 concurrent calls split between them make one login,
// and after each of two expiries one more, with every call applied once.
func TestSharedTokenOneLoginPerExpiry(t *testing.T) {
	t.Parallel()
	v := &tokenVendor{tokens: map[string]bool{}, delay: 20 * time.Millisecond}
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	shared := &memShared{}
	replicas := []*harness{newHarnessOn(t, v, srv, appSecret, shared), newHarnessOn(t, v, srv, appSecret, shared)}
	wave := func(n int) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() { errs <- replicas[i%2].order(context.Background()) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("got %v, want every call to succeed", err)
			}
		}
	}
	wave(200)
	for range 2 {
		v.revokeAll()
		wave(200)
	}
	if got := v.logins.Load(); got != 3 {
		t.Errorf("got %d logins, want 3 (the first, then one per expiry)", got)
	}
	if got := v.applied.Load(); got != 600 {
		t.Errorf("got %d calls applied, want 600", got)
	}
	if got := loginsOf(replicas[0].reg) + loginsOf(replicas[1].reg); got != 3 {
		t.Errorf("got logins metric %v over both replicas, want 3", got)
	}
	for _, h := range replicas {
		if strings.Contains(h.logs.String(), "tok-") {
			t.Errorf("got a token in the logs:\n%s", h.logs)
		}
	}
}

// TestSharedLoginFailure: a refused login through Shared is the vendor's
// auth error, counted as failed, as without Shared.
func TestSharedLoginFailure(t *testing.T) {
	t.Parallel()
	v := &tokenVendor{tokens: map[string]bool{}}
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	h := newHarnessOn(t, v, srv, "wrong secret", &memShared{})
	err := h.order(context.Background())
	if !vendorerr.IsKind(err, vendorerr.KindAuth) || !strings.Contains(err.Error(), "tokenvendor login") {
		t.Fatalf("got %v, want the vendor's %s naming the login", err, vendorerr.KindAuth)
	}
	if got := h.logins("failed"); got != 1 {
		t.Errorf("got failed-logins metric %v, want 1", got)
	}
}

// loginsOf sums the ok logins a registry counted (0 when none).
func loginsOf(reg *prometheus.Registry) float64 {
	mfs, _ := reg.Gather()
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "vendorgate_vendor_logins_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == "ok" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
