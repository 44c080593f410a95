package auth_test

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/domainerr"
)

// logLines collects a guard's JSON log lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// matching returns the lines that contain every one of parts.
func (l *logLines) matching(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

func (l *logLines) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestPaidOrMoneyRPCsAreRealMethods: every entry of the one table names an
// RPC of the contract, as its generated FullMethodName constant spells it,
// and the table holds every RPC that spends or moves money.
func TestPaidOrMoneyRPCsAreRealMethods(t *testing.T) {
	t.Parallel()
	want := []string{
		deliveryv1.DeliveryService_CreateOrder_FullMethodName,
		deliveryv1.DeliveryService_ResolveOperation_FullMethodName,
		esignv1.EsignService_ResolveOperation_FullMethodName,
		logisticsv1.ParcelService_CreateParcelOrder_FullMethodName,
		logisticsv1.BillingService_Recharge_FullMethodName,
		logisticsv1.BillingService_Deduct_FullMethodName,
		logisticsv1.BillingService_CloseBatch_FullMethodName,
		logisticsv1.BillingService_ResolveOperation_FullMethodName,
		vehiclev1.VehicleService_OrderReport_FullMethodName,
		vehiclev1.VehicleService_LookupHistory_FullMethodName,
		vehiclev1.VehicleService_ResolveOperation_FullMethodName,
	}
	for i := range want {
		want[i] = strings.TrimPrefix(want[i], "/")
	}
	got := auth.PaidOrMoneyRPCs()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("PaidOrMoneyRPCs: got %q, want %q", got, want)
	}
}

// TestWildcardDoesNotGrantPaidRPCs: with no Options.Explicit at all, "*"
// and "pkg.Service/*" no longer cover a dispatch, a parcel order or a
// batch's close; naming the RPC does.
func TestWildcardDoesNotGrantPaidRPCs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path,
		caller("everything", []string{"*"}, "star-key"),
		caller("services", []string{"vendorgate.delivery.v1.DeliveryService/*", "vendorgate.logistics.v1.ParcelService/*", "vendorgate.logistics.v1.BillingService/*"}, "svc-key"),
		caller("dispatcher", []string{"vendorgate.delivery.v1.DeliveryService/CreateOrder"}, "named-key"))
	g, err := auth.New(context.Background(), auth.Options{Service: "test", Config: auth.Config{Mode: auth.ModeAPIKey, KeysFile: path, ReloadInterval: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{
		deliveryv1.DeliveryService_CreateOrder_FullMethodName,
		logisticsv1.ParcelService_CreateParcelOrder_FullMethodName,
		logisticsv1.BillingService_CloseBatch_FullMethodName,
	} {
		for _, key := range []string{"star-key", "svc-key"} {
			_, err := g.Admit(withKey(key), method, "")
			d, ok := domainerr.As(err)
			if !ok || d.Kind != domainerr.KindPermissionDenied {
				t.Errorf("%s with %s: got %v, want PERMISSION_DENIED", method, key, err)
			}
		}
	}
	if _, err := g.Admit(withKey("star-key"), deliveryv1.DeliveryService_GetOrder_FullMethodName, ""); err != nil {
		t.Errorf("GetOrder with *: got %v, want admitted", err)
	}
	if _, err := g.Admit(withKey("named-key"), deliveryv1.DeliveryService_CreateOrder_FullMethodName, ""); err != nil {
		t.Errorf("CreateOrder named in full: got %v, want admitted", err)
	}
}

// TestEmptiedKeysFileKeepsCallers: while the guard runs, emptying the keys
// file or listing no caller is refused: every caller keeps working, an
// ERROR is logged and the refusal counted; a later good file is taken.
func TestEmptiedKeysFileKeepsCallers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, caller("shop", []string{"*"}, "shop-key"), caller("ops", []string{"*"}, "ops-key"))
	var logs logLines
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	g, err := auth.New(ctx, auth.Options{Service: "test", Config: auth.Config{Mode: auth.ModeAPIKey, KeysFile: path, ReloadInterval: 5 * time.Millisecond},
		Registerer: reg, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); g.Watch(ctx) }()

	refused := func() float64 {
		return counterValue(t, reg, "vendorgate_auth_reload_refused_total", "no_callers")
	}
	for name, body := range map[string]string{"empty file": "", "no callers": "callers: []\n"} {
		before := refused()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, name+": refusal counted", func() bool { return refused() > before })
		for _, k := range []string{"shop-key", "ops-key"} {
			if _, err := g.Admit(withKey(k), deliveryGet, ""); err != nil {
				t.Errorf("%s: %s: got %v, want admitted by the callers in force", name, k, err)
			}
		}
		if err := g.Reload(ctx); err != auth.ErrNoCallers {
			t.Errorf("%s: Reload: got %v, want ErrNoCallers", name, err)
		}
	}
	if lines := logs.matching(`"level":"ERROR"`, "reload refused"); len(lines) == 0 {
		t.Errorf("got no ERROR line for the refused reload; logs:\n%s", logs.buf.String())
	}
	if lines := logs.matching("caller removed"); len(lines) != 0 {
		t.Errorf("a refused reload logged removals: %q", lines)
	}
	writeKeys(t, path, caller("shop", []string{"*"}, "shop-key"))
	waitFor(t, "the good file taken", func() bool {
		_, err := g.Admit(withKey("ops-key"), deliveryGet, "")
		return err != nil
	})
	cancel()
	<-done
}

// TestRemovedCallerLoggedAtWarn: a reload that drops a caller names it at
// WARN; one that adds a caller names it at INFO.
func TestRemovedCallerLoggedAtWarn(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, caller("shop", []string{"*"}, "shop-key"), caller("legacy-erp", []string{"*"}, "erp-key"))
	var logs logLines
	ctx := context.Background()
	g, err := auth.New(ctx, auth.Options{Service: "test", Config: auth.Config{Mode: auth.ModeAPIKey, KeysFile: path, ReloadInterval: 1}, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, path, caller("shop", []string{"*"}, "shop-key"), caller("new-app", []string{"*"}, "new-key"))
	if err := g.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := logs.matching(`"level":"WARN"`, "caller removed", `"caller":"legacy-erp"`); len(got) != 1 {
		t.Errorf("WARN lines naming legacy-erp: got %d, want 1; logs:\n%s", len(got), logs.buf.String())
	}
	if got := logs.matching("caller removed", `"caller":"shop"`); len(got) != 0 {
		t.Errorf("a kept caller was logged as removed: %q", got)
	}
	if got := logs.matching(`"level":"INFO"`, "caller added", `"caller":"new-app"`); len(got) != 1 {
		t.Errorf("INFO lines naming new-app: got %d, want 1", len(got))
	}
	if strings.Contains(logs.buf.String(), "shop-key") || strings.Contains(logs.buf.String(), auth.HashKey("erp-key")) {
		t.Error("the log shows a key or its hash")
	}
}

// TestKeyLikeNamesAreRefused: a caller name that looks like a key (one of
// NewKey's, a hash, a random token) is refused at load, and the error
// shows neither the name nor a key; names made of words pass.
func TestKeyLikeNamesAreRefused(t *testing.T) {
	t.Parallel()
	generated, err := auth.NewKey("shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		generated,
		auth.HashKey("x"),
		strings.TrimPrefix(auth.HashKey("x"), "sha256:"),
		"svc-" + strings.TrimPrefix(generated, "vg_shop_"),
		"dGhpcyBpcyBhIHNlY3JldCB0b2tlbiE5OTk",
		"3f2c8a1e9b7d4c6fa2e1b3c4d5e6f7a8",
	} {
		body := "callers:\n  - name: '" + name + "'\n    keys: ['" + auth.HashKey("k") + "']\n    allow: ['bad pattern*']\n"
		_, err := auth.ParseKeysFile([]byte(body))
		if err == nil {
			t.Errorf("name %q: got no error, want a refusal", name)
			continue
		}
		if strings.Contains(err.Error(), name) || strings.Contains(err.Error(), strings.TrimPrefix(generated, "vg_shop_")) {
			t.Errorf("the error %q shows the name", err)
		}
	}
	for _, name := range []string{
		"shop-backend", "spiffe://corp.example/ns/prod/sa/shop", "billing-reconciler-prod-eu-west-1",
		"shopbackend2024production", "billingReconcilerProductionEuWest", "ops@example.com", "a",
	} {
		body := "callers:\n  - name: '" + name + "'\n    keys: ['" + auth.HashKey("k") + "']\n"
		if _, err := auth.ParseKeysFile([]byte(body)); err != nil {
			t.Errorf("name %q: got %v, want accepted", name, err)
		}
	}
	// Invalid for another reason (spaces), still not quoted.
	_, err = auth.ParseKeysFile([]byte("callers:\n  - name: 'my secret value'\n"))
	if err == nil || strings.Contains(err.Error(), "my secret value") {
		t.Errorf("got %v, want a refusal that does not quote the name", err)
	}
}

// TestBadKeyFloodIsCheap: 1000 bad keys from one address log a handful of
// lines (every refusal is counted), are throttled to RESOURCE_EXHAUSTED
// with a retry delay after a burst, and cost nothing for other callers:
// a good key from the same address and anyone from another address are
// served as before.
func TestBadKeyFloodIsCheap(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, caller("shop", []string{"*"}, "shop-key"))
	var logs logLines
	reg := prometheus.NewRegistry()
	// The refusal limits run on a clock that moves 10 µs a refusal, as a
	// fast run would: a slow (loaded, -race) run must not refill the
	// bucket or open a new log second while the flood proceeds.
	clock := newStepClock(10 * time.Microsecond)
	g, err := auth.New(context.Background(), auth.Options{Service: "test", Config: auth.Config{Mode: auth.ModeAPIKey, KeysFile: path, ReloadInterval: 1},
		Registerer: reg, Logger: logs.logger(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	const attacker = "203.0.113.7:40000"
	start := time.Now()
	var unauthenticated, throttled int
	for i := range 1000 {
		_, err := g.Admit(withKey("guess-"+string(rune('a'+i%26))), deliveryGet, attacker)
		d, _ := domainerr.As(err)
		switch {
		case d != nil && d.Kind == domainerr.KindUnauthenticated:
			unauthenticated++
		case d != nil && d.Kind == domainerr.KindResourceExhausted && d.Reason == auth.ReasonAuthFailuresRateLimited && d.RetryAfter > 0:
			throttled++
		default:
			t.Fatalf("attempt %d: got %v, want UNAUTHENTICATED or %s", i, err, auth.ReasonAuthFailuresRateLimited)
		}
	}
	flood := time.Since(start)
	lines := logs.matching("call refused")
	t.Logf("1000 bad keys: %s, %d UNAUTHENTICATED, %d throttled, %d log lines", flood, unauthenticated, throttled, len(lines))
	if len(lines) > 3 {
		t.Errorf("log lines for 1000 refusals from one address: got %d, want at most 3", len(lines))
	}
	if unauthenticated > 30 || throttled < 950 {
		t.Errorf("got %d UNAUTHENTICATED and %d throttled, want the burst (20) then throttling", unauthenticated, throttled)
	}
	if n := counterValue(t, reg, "vendorgate_auth_failures_total", auth.ReasonInvalid, "unknown"); n != 1000 {
		t.Errorf("vendorgate_auth_failures_total: got %v, want 1000 (every refusal counted)", n)
	}
	for _, source := range []string{attacker, "198.51.100.1:1234", ""} {
		// The fastest of five admissions: a guard that made good keys
		// wait would make every one wait, while a loaded machine's
		// scheduler only delays some of them.
		fastest := time.Duration(math.MaxInt64)
		for range 5 {
			t0 := time.Now()
			if _, err := g.Admit(withKey("shop-key"), deliveryGet, source); err != nil {
				t.Errorf("good key from %q during the flood: got %v, want admitted", source, err)
			}
			fastest = min(fastest, time.Since(t0))
		}
		if fastest > 50*time.Millisecond {
			t.Errorf("good key from %q took %s at best of 5", source, fastest)
		}
	}
	_, err = g.Admit(withKey("typo"), deliveryGet, "198.51.100.1:1234")
	wantKind(t, err, domainerr.KindUnauthenticated, auth.ReasonInvalid)
}

// TestRefusalTableIsBounded: bad keys from 20 000 addresses leave the guard
// working and its log bounded by the global line rate.
func TestRefusalTableIsBounded(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, caller("shop", []string{"*"}, "shop-key"))
	var logs logLines
	// The refusal limits run on a clock that moves 10 µs a refusal, so
	// that the global line rate's refill is the same however slowly a
	// loaded machine runs the loop.
	clock := newStepClock(10 * time.Microsecond)
	g, err := auth.New(context.Background(), auth.Options{Service: "test", Config: auth.Config{Mode: auth.ModeAPIKey, KeysFile: path, ReloadInterval: 1},
		Logger: logs.logger(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20000 {
		source := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String() + ":1"
		_, err := g.Admit(withKey("bad"), deliveryGet, source)
		wantKind(t, err, domainerr.KindUnauthenticated, auth.ReasonInvalid)
	}
	// The global line rate: 50 lines at once, 50 a second after that
	// (refusal's refusalLogsPerSecond).
	const globalLines = 50
	allowed := globalLines + int(math.Ceil(globalLines*clock.Elapsed().Seconds()))
	if n := len(logs.matching("call refused")); n > allowed {
		t.Errorf("log lines for 20000 sources over %s: got %d, want at most the global rate's burst and refill (%d)", clock.Elapsed(), n, allowed)
	}
	if _, err := g.Admit(withKey("shop-key"), deliveryGet, "10.0.0.1:1"); err != nil {
		t.Errorf("good key: %v", err)
	}
}

// counterValue is the value of the counter name{labels...} in reg (label
// values in any order), 0 when it has no such series.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(labels))
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var values []string
			for _, l := range m.GetLabel() {
				values = append(values, l.GetValue())
			}
			slices.Sort(values)
			if slices.Equal(values, want) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// stepClock is a clock that moves step forward each time it is read.
type stepClock struct {
	mu    sync.Mutex
	start time.Time
	now   time.Time
	step  time.Duration
}

func newStepClock(step time.Duration) *stepClock {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	return &stepClock{start: start, now: start, step: step}
}

// Now returns the clock's time and moves it one step.
func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

// Elapsed is how far the clock has moved.
func (c *stepClock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now.Sub(c.start)
}

// waitFor polls cond until it holds, failing after five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: did not happen within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
