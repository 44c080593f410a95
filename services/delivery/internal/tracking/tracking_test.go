package tracking_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdang"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
	"github.com/vendorgate/vendorgate/services/delivery/internal/tracking"
)

// vendor is a hand-written Dingdang that knows one order and counts reads.
type vendor struct {
	mu     sync.Mutex
	status string
	reads  int
}

func (v *vendor) GetOrder(_ context.Context, originID string) (*dingdang.Order, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reads++
	return &dingdang.Order{OriginID: originID, RawStatus: v.status}, nil
}

func (v *vendor) set(status string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.status = status
}

func (v *vendor) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reads
}

func newTracker(t *testing.T, v tracking.Vendor, opts tracking.Options) (*tracking.Tracker, *store.Store, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := store.Open(ctx, sqlstoretest.SQLiteURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	notes, err := coord.NewNotifier(st.DB(), "delivery_test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(notes.Close)
	tr, err := tracking.New(ctx, st, v, notes, coord.NewLocks(st.DB()), opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tr.Handler())
	t.Cleanup(srv.Close)
	return tr, st, srv.URL
}

// clock is a hand-driven clock for the rules that run on time (push rate
// limits, refusal budgets): it moves only when the test advances it, so a
// slow run does not refill a bucket behind the test's back.
type clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []clockWaiter
}

type clockWaiter struct {
	at time.Time
	ch chan time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After fires once the clock has been advanced by d.
func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, clockWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock by d and fires the timers due by then.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// waiting reports how many timers wait on the clock.
func (c *clock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// TestRateLimitedPushesAreReadOnceLater: pushes over an order's rate are
// refused, and the order is read once when the limit allows, so the last
// change of a burst is not lost. The limiter runs on a hand-driven clock:
// however slow the run, no token comes back until the test says so.
func TestRateLimitedPushesAreReadOnceLater(t *testing.T) {
	t.Parallel()
	v := &vendor{status: "0"}
	clk := newClock()
	tr, st, base := newTracker(t, v, tracking.Options{PublicURL: "https://hooks.example.com",
		PushRate: rate.Every(300 * time.Millisecond), PushBurst: 1, Now: clk.Now, After: clk.After})
	ctx := context.Background()
	cb, err := tr.CallbackURL(ctx, "R1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := tr.CallbackURL(ctx, "R1")
	if err != nil || again != cb || !strings.HasPrefix(cb, "https://hooks.example.com/callbacks/dingdang/") {
		t.Fatalf("callback URL: got %q then %q, %v", cb, again, err)
	}
	push := base + strings.TrimPrefix(cb, "https://hooks.example.com")
	post := func() int {
		resp, err := http.Post(push, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != http.StatusOK {
		t.Fatalf("first push: got HTTP %d", code)
	}
	v.set("4")
	for range 3 {
		if code := post(); code != http.StatusTooManyRequests {
			t.Errorf("push over the rate: got HTTP %d, want 429", code)
		}
	}
	// The one trailing read waits for the limiter on the clock.
	waitUntil(t, "the trailing read waiting on the clock", func() bool { return clk.waiting() == 1 })
	if n := v.count(); n != 1 {
		t.Errorf("got %d reads right after the refused pushes, want 1", n)
	}
	if e, err := st.Latest(ctx, "R1"); err != nil || e.RawStatus != "0" {
		t.Errorf("before the limit allows: got last event %+v, %v, want status 0", e, err)
	}
	// Not yet: the next token is 300ms after the accepted push.
	clk.Advance(299 * time.Millisecond)
	if n := clk.waiting(); n != 1 {
		t.Errorf("got %d timers after 299ms, want the trailing read still waiting", n)
	}
	clk.Advance(time.Millisecond)
	waitUntil(t, "the change behind the refused pushes read", func() bool {
		e, err := st.Latest(ctx, "R1")
		return err == nil && e.RawStatus == "4"
	})
	// Nothing else reads the order, however long the clock runs.
	clk.Advance(time.Hour)
	time.Sleep(50 * time.Millisecond)
	if n := v.count(); n != 2 {
		t.Errorf("got %d reads, want 2 (one for the accepted push, one for the three refused)", n)
	}
}

// waitUntil waits (in real time: the work runs in goroutines of its own)
// for cond, failing after 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatchEndsWithTheService: a watch in progress returns when the
// service's context ends, so that a shutdown is not held up by it.
func TestWatchEndsWithTheService(t *testing.T) {
	t.Parallel()
	v := &vendor{status: "0"}
	ctx, stop := context.WithCancel(context.Background())
	st, err := store.Open(ctx, sqlstoretest.SQLiteURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	notes, err := coord.NewNotifier(st.DB(), "delivery_test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(notes.Close)
	tr, err := tracking.New(ctx, st, v, notes, coord.NewLocks(st.DB()), tracking.Options{PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	sent := make(chan struct{}, 1)
	go func() {
		done <- tr.Watch(context.Background(), "S1", 0, func(store.Event) error { sent <- struct{}{}; return nil })
	}()
	<-sent
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch outlived the service")
	}
}

// TestGuessedTokensCostTheGuesser: 1000 pushes with unknown tokens from one
// source are refused; after a small budget the source is turned away (429
// with Retry-After) before any store lookup, its refusals are logged a few
// times at most, and the vendor is never read. The refusal budget runs on a
// clock that stands still, so a slow run refills none of it.
func TestGuessedTokensCostTheGuesser(t *testing.T) {
	t.Parallel()
	v := &vendor{status: "0"}
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	_, _, base := newTracker(t, v, tracking.Options{PublicURL: "https://hooks.example.com", Logger: logger,
		Now: newClock().Now})
	codes := map[int]int{}
	for i := range 1000 {
		resp, err := http.Post(fmt.Sprintf("%s/callbacks/dingdang/guess%026d", base, i), "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Fatal("a throttled source got no Retry-After")
		}
		_ = resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[http.StatusNotFound] > 40 || codes[http.StatusTooManyRequests] < 900 {
		t.Errorf("got %v, want at most a burst of 404s, then 429s", codes)
	}
	mu.Lock()
	lines := strings.Count(logs.String(), "push refused")
	mu.Unlock()
	if lines > 5 {
		t.Errorf("got %d log lines for 1000 guesses, want a few", lines)
	}
	if n := v.count(); n != 0 {
		t.Errorf("got %d vendor reads for guessed tokens, want 0", n)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestWatchersShareTheirOrdersReads: fifty watches of a polled order
// started together read it from the vendor once, all of them see its
// change, and what Derived makes of the change is made once for them all.
func TestWatchersShareTheirOrdersReads(t *testing.T) {
	t.Parallel()
	v := &vendor{status: "0"}
	tr, _, _ := newTracker(t, v, tracking.Options{PollInterval: time.Hour, Final: func(raw string) bool { return raw == "5" }})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const watchers = 50
	var built, firsts sync.WaitGroup
	var builds sync.Map // event id → *int32 builds
	var mu sync.Mutex
	seen := map[string]int{}
	firsts.Add(watchers)
	built.Add(watchers)
	for range watchers {
		go func() {
			defer built.Done()
			n := 0
			err := tr.Watch(ctx, "F1", 0, func(e store.Event) error {
				if _, err := tr.Derived(e, func(e store.Event) (any, error) {
					c, _ := builds.LoadOrStore(e.ID, new(int))
					mu.Lock()
					*c.(*int)++
					mu.Unlock()
					return e.RawStatus, nil
				}); err != nil {
					return err
				}
				mu.Lock()
				seen[e.RawStatus]++
				mu.Unlock()
				if n++; n == 1 {
					firsts.Done()
				}
				return nil
			})
			if err != nil {
				t.Errorf("watch: %v", err)
			}
		}()
	}
	firsts.Wait()
	if n := v.count(); n != 1 {
		t.Errorf("got %d vendor reads for %d watches starting together, want 1", n, watchers)
	}
	// The order changes (a push or a poll would record it so).
	if _, err := tr.Observe(ctx, &dingdang.Order{OriginID: "F1", RawStatus: "5"}, store.SourcePush); err != nil {
		t.Fatal(err)
	}
	built.Wait()
	mu.Lock()
	defer mu.Unlock()
	if seen["0"] != watchers || seen["5"] != watchers {
		t.Errorf("got statuses %v, want each of 0 and 5 seen by %d watchers", seen, watchers)
	}
	builds.Range(func(id, c any) bool {
		if *c.(*int) != 1 {
			t.Errorf("event %v: built %d times, want once", id, *c.(*int))
		}
		return true
	})
}
