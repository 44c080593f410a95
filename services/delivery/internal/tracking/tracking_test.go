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

// TestRateLimitedPushesAreReadOnceLater: pushes over an order's rate are
// refused, and the order is read once when the limit allows, so the last
// change of a burst is not lost.
func TestRateLimitedPushesAreReadOnceLater(t *testing.T) {
	t.Parallel()
	v := &vendor{status: "0"}
	tr, st, base := newTracker(t, v, tracking.Options{PublicURL: "https://hooks.example.com", PushRate: rate.Every(300 * time.Millisecond), PushBurst: 1})
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
	if n := v.count(); n != 1 {
		t.Errorf("got %d reads right after the refused pushes, want 1", n)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		e, err := st.Latest(ctx, "R1")
		if err == nil && e.RawStatus == "4" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change behind the refused pushes was never read (last %+v, %v)", e, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond)
	if n := v.count(); n != 2 {
		t.Errorf("got %d reads, want 2 (one for the accepted push, one for the three refused)", n)
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
// times at most, and the vendor is never read.
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
	_, _, base := newTracker(t, v, tracking.Options{PublicURL: "https://hooks.example.com", Logger: logger})
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
