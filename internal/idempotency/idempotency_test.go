package idempotency_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/crashpoint"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// clock is a settable clock.
type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time          { return time.UnixMilli(c.now.Load()) }
func (c *clock) Advance(d time.Duration) { c.now.Add(d.Milliseconds()) }

// fixture is a Store on one database of a dialect (two handles on
// Postgres, standing for two replicas) and a call that counts.
type fixture struct {
	a, b  *idempotency.Store
	clock *clock
	calls atomic.Int32
}

// storeURL is a new database of dialect d for t.
func storeURL(t *testing.T, d sqlstore.Dialect) string {
	t.Helper()
	if d == sqlstore.Postgres {
		return sqlstoretest.PostgresURL(t, "idem")
	}
	return sqlstoretest.SQLiteURL(t)
}

func newFixture(t *testing.T, d sqlstore.Dialect) *fixture {
	t.Helper()
	ctx := context.Background()
	url := storeURL(t, d)
	f := &fixture{clock: &clock{}}
	f.clock.now.Store(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).UnixMilli())
	open := func() *idempotency.Store {
		db := sqlstoretest.Open(t, url)
		s, err := idempotency.New(ctx, db, "test", idempotency.Options{TTL: time.Hour, Now: f.clock.Now, Locks: coord.NewLocks(db)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	f.a = open()
	f.b = f.a
	if d == sqlstore.Postgres {
		f.b = open()
	}
	return f
}

// echo is a vendor call: it answers "vendor:<request's value>".
func (f *fixture) echo(req *wrapperspb.StringValue) func(context.Context, idempotency.Attempt) (*wrapperspb.StringValue, error) {
	return func(context.Context, idempotency.Attempt) (*wrapperspb.StringValue, error) {
		n := f.calls.Add(1)
		return wrapperspb.String("vendor:" + req.GetValue() + ":" + string(rune('0'+n))), nil
	}
}

func forEachDialect(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			test(t, newFixture(t, d))
		})
	}
}

// forEachDialectHandle runs test for each dialect on a handle of its own,
// for tests that build their own Stores rather than the fixture's.
func forEachDialectHandle(t *testing.T, test func(t *testing.T, d sqlstore.Dialect, db *sqlstore.DB)) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			test(t, d, sqlstoretest.Open(t, storeURL(t, d)))
		})
	}
}

func wantDomain(t *testing.T, err error, kind domainerr.Kind, reason string) {
	t.Helper()
	d, ok := domainerr.As(err)
	if !ok || d.Kind != kind || d.Reason != reason {
		t.Fatalf("got %v, want %s %s", err, kind, reason)
	}
}

// TestRepeatReturnsFirstResponse: the same request under one request_id,
// from either replica, gets the first response without another call.
func TestRepeatReturnsFirstResponse(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		req := wrapperspb.String("order-1")
		first, err := idempotency.Run(ctx, f.a, "Create", "rid-1", req, f.echo(req))
		if err != nil {
			t.Fatal(err)
		}
		again, err := idempotency.Run(ctx, f.b, "Create", "rid-1", req, f.echo(req))
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(first, again) || f.calls.Load() != 1 {
			t.Fatalf("got %v after %v and %d calls, want the first response and 1 call", again, first, f.calls.Load())
		}
		// No request_id: no record, every call runs.
		for range 2 {
			if _, err := idempotency.Run(ctx, f.a, "Create", "", req, f.echo(req)); err != nil {
				t.Fatal(err)
			}
		}
		if f.calls.Load() != 3 {
			t.Fatalf("got %d calls, want 3", f.calls.Load())
		}
	})
}

// TestReuseForAnotherRequestIsRefused: another request or another method
// under a used request_id is REQUEST_ID_REUSED, without a call.
func TestReuseForAnotherRequestIsRefused(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		req := wrapperspb.String("order-1")
		if _, err := idempotency.Run(ctx, f.a, "Create", "rid-1", req, f.echo(req)); err != nil {
			t.Fatal(err)
		}
		other := wrapperspb.String("order-2")
		_, err := idempotency.Run(ctx, f.b, "Create", "rid-1", other, f.echo(other))
		wantDomain(t, err, domainerr.KindInvalidArgument, idempotency.ReasonReused)
		_, err = idempotency.Run(ctx, f.b, "Cancel", "rid-1", req, f.echo(req))
		wantDomain(t, err, domainerr.KindInvalidArgument, idempotency.ReasonReused)
		if f.calls.Load() != 1 {
			t.Fatalf("got %d calls, want 1", f.calls.Load())
		}
	})
}

// TestFingerprintIgnoresRequestID: the request_id field itself is not part
// of the request's identity; every other field is.
func TestFingerprintIgnoresRequestID(t *testing.T) {
	t.Parallel()
	a, _ := structpb.NewStruct(map[string]any{"x": 1})
	b, _ := structpb.NewStruct(map[string]any{"x": 2})
	if idempotency.Fingerprint(a) == idempotency.Fingerprint(b) {
		t.Error("two different requests share a fingerprint")
	}
	if idempotency.Fingerprint(a) != idempotency.Fingerprint(proto.Clone(a)) {
		t.Error("one request has two fingerprints")
	}
	if idempotency.Fingerprint(a, []byte("file1")) == idempotency.Fingerprint(a, []byte("file2")) {
		t.Error("extra bytes are not part of the fingerprint")
	}
}

// TestRepeatInFlightIsAborted: while the first call runs (on the other
// replica), a repeat is ABORTED with a retry-after and makes no call.
func TestRepeatInFlightIsAborted(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		req := wrapperspb.String("slow")
		entered, release := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, err := idempotency.Run(ctx, f.a, "Create", "rid-slow", req, func(context.Context, idempotency.Attempt) (*wrapperspb.StringValue, error) {
				close(entered)
				<-release
				return wrapperspb.String("ok"), nil
			})
			done <- err
		}()
		<-entered
		_, err := idempotency.Run(ctx, f.b, "Create", "rid-slow", req, f.echo(req))
		wantDomain(t, err, domainerr.KindAborted, idempotency.ReasonInFlight)
		if d, _ := domainerr.As(err); d.RetryAfter <= 0 {
			t.Errorf("got retry-after %s, want > 0", d.RetryAfter)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got, err := idempotency.Run(ctx, f.b, "Create", "rid-slow", req, f.echo(req))
		if err != nil || got.GetValue() != "ok" || f.calls.Load() != 0 {
			t.Fatalf("after the first finished: got %v, %v and %d calls, want ok and 0", got, err, f.calls.Load())
		}
	})
}

// TestCrashBeforeCommitIsInterrupted: a process that dies between the
// vendor's success and the commit leaves the request_id for the next
// attempt to resolve as interrupted (here the crash is a panic at the
// crashpoint, which unwinds like a dying process: the lock goes, the
// IN_FLIGHT record stays).
func TestCrashBeforeCommitIsInterrupted(t *testing.T) {
	// Not parallel: the hook is the process's.
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) { crashBeforeCommit(t, newFixture(t, d)) })
	}
}

func crashBeforeCommit(t *testing.T, f *fixture) {
	ctx := context.Background()
	req := wrapperspb.String("crash")
	func() {
		crashpoint.SetHook(func(name string) {
			if name == "idempotency.before-commit:CrashCreate" {
				panic("crash")
			}
		})
		defer crashpoint.SetHook(nil)
		defer func() { _ = recover() }()
		_, _ = idempotency.Run(ctx, f.a, "CrashCreate", "rid-crash", req, f.echo(req))
		t.Error("the crashpoint did not run")
	}()
	var sawInterrupted bool
	got, err := idempotency.Run(ctx, f.b, "CrashCreate", "rid-crash", req, func(_ context.Context, a idempotency.Attempt) (*wrapperspb.StringValue, error) {
		sawInterrupted = a.Interrupted
		return wrapperspb.String("read back"), nil
	})
	if err != nil || !sawInterrupted || got.GetValue() != "read back" {
		t.Fatalf("got %v, %v, interrupted %v; want the read-back answer of an interrupted attempt", got, err, sawInterrupted)
	}
	if f.calls.Load() != 1 {
		t.Fatalf("got %d vendor calls, want 1", f.calls.Load())
	}
}

// TestFailureKeepsOrFreesTheRequestID: an outcome-unknown failure keeps the
// request_id (the next attempt is interrupted); a failure known not to have
// been applied frees it for a clean retry.
func TestFailureKeepsOrFreesTheRequestID(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		req := wrapperspb.String("x")
		fail := func(err error) func(context.Context, idempotency.Attempt) (*wrapperspb.StringValue, error) {
			return func(context.Context, idempotency.Attempt) (*wrapperspb.StringValue, error) { return nil, err }
		}
		attemptOf := func(rid string) idempotency.Attempt {
			var got idempotency.Attempt
			_, err := idempotency.Run(ctx, f.b, "Create", rid, req, func(_ context.Context, a idempotency.Attempt) (*wrapperspb.StringValue, error) {
				got = a
				return wrapperspb.String("ok"), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		unknown := &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: "v", Err: errors.New("reply lost")}
		if _, err := idempotency.Run(ctx, f.a, "Create", "rid-unknown", req, fail(unknown)); !errors.Is(err, unknown) {
			t.Fatalf("got %v, want the call's error", err)
		}
		if a := attemptOf("rid-unknown"); !a.Interrupted {
			t.Error("after an outcome-unknown failure: got a clean attempt, want interrupted")
		}
		refused := domainerr.FailedPrecondition("VENDOR_REFUSED", "no")
		_, _ = idempotency.Run(ctx, f.a, "Create", "rid-refused", req, fail(refused))
		if a := attemptOf("rid-refused"); a.Interrupted {
			t.Error("after a refusal: got an interrupted attempt, want a clean one")
		}
	})
}

// TestRecordsExpireAfterTTL: past the TTL a request_id is new again, and
// Sweep deletes its record.
func TestRecordsExpireAfterTTL(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		req := wrapperspb.String("old")
		if _, err := idempotency.Run(ctx, f.a, "Create", "rid-old", req, f.echo(req)); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(59 * time.Minute)
		if n, err := f.a.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("sweep within the TTL: got %d, %v; want 0", n, err)
		}
		f.clock.Advance(2 * time.Minute)
		other := wrapperspb.String("new")
		if _, err := idempotency.Run(ctx, f.b, "Create", "rid-old", other, f.echo(other)); err != nil {
			t.Fatalf("reuse after the TTL: %v", err)
		}
		if f.calls.Load() != 2 {
			t.Fatalf("got %d calls, want 2", f.calls.Load())
		}
		f.clock.Advance(2 * time.Hour)
		if n, err := f.a.Sweep(ctx); err != nil || n != 1 {
			t.Fatalf("sweep after the TTL: got %d, %v; want 1", n, err)
		}
	})
}
