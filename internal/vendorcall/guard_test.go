package vendorcall_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// countingVendor answers every call with status (or a {"code":1} success
// for 200) and counts the calls.
func countingVendor(t *testing.T, status *atomic.Int32, calls *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		switch s := int(status.Load()); s {
		case http.StatusOK:
			_, _ = io.WriteString(w, `{"code":1}`)
		case 0:
			_, _ = io.WriteString(w, `{"code":0,"msg":"参数无效"}`)
		default:
			w.WriteHeader(s)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// refusingDecoder refuses a {"code":0} answer.
func refusingDecoder(body []byte) error {
	if string(body) != `{"code":1}` {
		return &vendorerr.Error{Kind: vendorerr.KindRefused, Code: "0", Message: "参数无效"}
	}
	return nil
}

func read(c *vendorcall.Caller, ctx context.Context, url string) error {
	return c.Read(ctx, "/x", vendorcall.NoRetry, func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, url, nil)
	}, refusingDecoder)
}

func TestRateLimitRefusesBeforeSendingWhenTheDeadlineIsTooShort(t *testing.T) {
	t.Parallel()
	var status, calls atomic.Int32
	status.Store(http.StatusOK)
	srv := countingVendor(t, &status, &calls)
	c, err := vendorcall.New("test", vendorcall.Config{RateLimit: 1, RateBurst: 1}, vendorcall.Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if err := read(c, context.Background(), srv.URL); err != nil {
		t.Fatalf("first call within the burst: got %v, want nil", err)
	}
	// The next token comes in ~1s; a 100ms deadline cannot wait for it.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = read(c, ctx, srv.URL)
	ve, ok := vendorerr.As(err)
	if !ok || ve.Kind != vendorerr.KindRateLimited || ve.RetryAfter <= 0 {
		t.Fatalf("got %v, want %s with a RetryAfter", err, vendorerr.KindRateLimited)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("got %d calls at the vendor, want 1 (the refused call must not be sent)", got)
	}
}

func TestRateLimitWaitsWithinTheDeadline(t *testing.T) {
	t.Parallel()
	var status, calls atomic.Int32
	status.Store(http.StatusOK)
	srv := countingVendor(t, &status, &calls)
	c, err := vendorcall.New("test", vendorcall.Config{RateLimit: 20, RateBurst: 1}, vendorcall.Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 3 {
		if err := read(c, ctx, srv.URL); err != nil {
			t.Fatalf("call %d: got %v, want nil (a token comes every 50ms)", i, err)
		}
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("got %d calls, want 3", got)
	}
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	var status, calls atomic.Int32
	srv := countingVendor(t, &status, &calls)
	reg := prometheus.NewRegistry()
	// The breaker's window is wide enough for the checks made while it is
	// open on a loaded machine; the test then waits out only what is left
	// of it (gobreaker reads the wall clock).
	const openFor = 2 * time.Second
	c, err := vendorcall.New("test", vendorcall.Config{BreakerFailures: 5, BreakerOpenFor: openFor},
		vendorcall.Options{HTTPClient: srv.Client(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	gauge := func() float64 { return gaugeValue(t, reg, "vendorgate_vendor_circuit_state") }

	// 50 refusals are answers: the breaker stays closed.
	status.Store(0)
	for range 50 {
		if err := read(c, ctx, srv.URL); !vendorerr.IsKind(err, vendorerr.KindRefused) {
			t.Fatalf("got %v, want %s", err, vendorerr.KindRefused)
		}
	}
	// Each of 5 unavailabilities reaches the vendor (4 do not open the
	// breaker); the 5th opens it.
	status.Store(http.StatusBadGateway)
	for i := range 5 {
		if err := read(c, ctx, srv.URL); !vendorerr.IsKind(err, vendorerr.KindUnavailable) {
			t.Fatalf("unavailability %d: got %v, want %s", i+1, err, vendorerr.KindUnavailable)
		}
	}
	opened := time.Now() // after the breaker opened
	if got := gauge(); got != 2 {
		t.Errorf("got breaker gauge %v after 5 unavailabilities, want 2 (open)", got)
	}
	// Open: fails at once, without a call.
	before := calls.Load()
	err = read(c, ctx, srv.URL)
	ve, ok := vendorerr.As(err)
	if !ok || ve.Kind != vendorerr.KindCircuitOpen || ve.RetryAfter <= 0 {
		t.Fatalf("got %v, want %s with a RetryAfter", err, vendorerr.KindCircuitOpen)
	}
	if got := calls.Load(); got != before {
		t.Errorf("got %d calls while open, want none", got-before)
	}
	// After BreakerOpenFor, a good probe closes it.
	status.Store(http.StatusOK)
	time.Sleep(time.Until(opened.Add(openFor + 10*time.Millisecond)))
	if err := read(c, ctx, srv.URL); err != nil {
		t.Fatalf("probe: got %v, want nil", err)
	}
	if got := gauge(); got != 0 {
		t.Errorf("got breaker gauge %v after a good probe, want 0 (closed)", got)
	}
	if err := read(c, ctx, srv.URL); err != nil {
		t.Errorf("after closing: got %v, want nil", err)
	}
}

// gaugeValue returns the value of the one gauge of name on reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single gauge %s", name)
	return 0
}

func TestSecondVendorOnOneRegistry(t *testing.T) {
	t.Parallel()
	var status, calls atomic.Int32
	status.Store(http.StatusOK)
	srv := countingVendor(t, &status, &calls)
	reg := prometheus.NewRegistry()
	var callers []*vendorcall.Caller
	for _, vendor := range []string{"damaijia", "post30", "damaijia"} {
		c, err := vendorcall.New(vendor, vendorcall.Config{}, vendorcall.Options{HTTPClient: srv.Client(), Registerer: reg})
		if err != nil {
			t.Fatalf("caller %s: got %v, want nil", vendor, err)
		}
		callers = append(callers, c)
	}
	for _, c := range callers {
		if err := read(c, context.Background(), srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	const want = `
# HELP vendorgate_vendor_requests_total Vendor HTTP calls by vendor, endpoint and outcome (ok or a failure reason).
# TYPE vendorgate_vendor_requests_total counter
vendorgate_vendor_requests_total{endpoint="/x",outcome="ok",vendor="damaijia"} 2
vendorgate_vendor_requests_total{endpoint="/x",outcome="ok",vendor="post30"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vendorgate_vendor_requests_total"); err != nil {
		t.Error(err)
	}
	// A different collector under the same name is an error, not a panic.
	clash := prometheus.NewRegistry()
	if err := clash.Register(prometheus.NewCounter(prometheus.CounterOpts{Name: "vendorgate_vendor_requests_total", Help: "other"})); err != nil {
		t.Fatal(err)
	}
	if _, err := vendorcall.New("x", vendorcall.Config{}, vendorcall.Options{Registerer: clash}); err == nil {
		t.Error("got nil error for a clashing collector, want one")
	}
}
