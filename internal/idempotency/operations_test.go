package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

type call = func(context.Context, idempotency.Attempt) (*wrapperspb.StringValue, error)

func lost(context.Context, idempotency.Attempt) (*wrapperspb.StringValue, error) {
	return nil, &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: "v", Endpoint: "/pay", Err: errors.New("reply lost")}
}

// cannotTell is a call whose vendor cannot be asked: an interrupted
// attempt says so, and a fresh one must not happen.
func cannotTell(t *testing.T) call {
	return func(_ context.Context, a idempotency.Attempt) (*wrapperspb.StringValue, error) {
		if !a.Interrupted {
			t.Error("a repeat of an unknown outcome ran as a fresh call")
		}
		return nil, idempotency.ErrCannotTell
	}
}

func wantUnknown(t *testing.T, err error, rid string) {
	t.Helper()
	wantDomain(t, err, domainerr.KindUnknown, idempotency.ReasonOutcomeUnknown)
	if d, _ := domainerr.As(err); d.Metadata["request_id"] != rid {
		t.Errorf("got metadata %v, want request_id %s", d.Metadata, rid)
	}
}

// TestUnknownOutcomeUntilResolved: a lost reply is UNKNOWN OUTCOME_UNKNOWN
// on the first answer and on every repeat, listed for an operator, and an
// operator's resolution decides what a repeat returns.
func TestUnknownOutcomeUntilResolved(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		req := wrapperspb.String("pay 10")
		_, err := idempotency.Run(ctx, f.a, "Pay", "rid-lost", req, lost)
		wantUnknown(t, err, "rid-lost")
		for range 2 {
			_, err = idempotency.Run(ctx, f.b, "Pay", "rid-lost", req, cannotTell(t))
			wantUnknown(t, err, "rid-lost")
		}
		ops, err := f.a.ListUnresolved(ctx, idempotency.Cursor{}, 10)
		if err != nil || len(ops) != 1 {
			t.Fatalf("got %v, %v; want the one unresolved operation", ops, err)
		}
		var kept wrapperspb.StringValue
		if err := proto.Unmarshal(ops[0].Request, &kept); err != nil || kept.GetValue() != "pay 10" || ops[0].Method != "Pay" {
			t.Errorf("got the operation %+v, want the Pay request kept", ops[0])
		}
		if _, err := f.b.Resolve(ctx, "rid-lost", idempotency.NotApplied, nil, "ops@example", "not in the console"); err != nil {
			t.Fatal(err)
		}
		_, err = idempotency.Run(ctx, f.a, "Pay", "rid-lost", req, f.echo(req))
		wantDomain(t, err, domainerr.KindFailedPrecondition, idempotency.ReasonNotApplied)
		_, err = f.a.Resolve(ctx, "rid-lost", idempotency.Applied, nil, "ops@example", "changed my mind")
		wantDomain(t, err, domainerr.KindFailedPrecondition, idempotency.ReasonOutcomeKnown)
		_, err = f.a.Resolve(ctx, "rid-none", idempotency.Applied, nil, "ops@example", "")
		wantDomain(t, err, domainerr.KindNotFound, idempotency.ReasonOperationNotFound)
		if ops, _ := f.a.ListUnresolved(ctx, idempotency.Cursor{}, 10); len(ops) != 0 {
			t.Errorf("got %d unresolved after the resolution, want 0", len(ops))
		}
		op, err := f.a.Get(ctx, "rid-lost")
		if err != nil || len(op.Resolutions) != 1 || op.Resolutions[0].By != "ops@example" || op.Outcome() != idempotency.NotApplied {
			t.Errorf("got %+v, %v; want one resolution by ops@example", op, err)
		}
		if f.calls.Load() != 0 {
			t.Errorf("got %d vendor calls, want 0", f.calls.Load())
		}
	})
}

// TestAppliedWithoutResponseIsRebuilt: an operation resolved applied with
// no response is rebuilt once by the service (Attempt.Applied), then
// returned as recorded.
func TestAppliedWithoutResponseIsRebuilt(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		req := wrapperspb.String("pay 20")
		_, _ = idempotency.Run(ctx, f.a, "Pay", "rid-applied", req, lost)
		if _, err := f.a.Resolve(ctx, "rid-applied", idempotency.Applied, nil, "ops@example", "seen"); err != nil {
			t.Fatal(err)
		}
		rebuilds := 0
		for range 2 {
			got, err := idempotency.Run(ctx, f.b, "Pay", "rid-applied", req, func(_ context.Context, a idempotency.Attempt) (*wrapperspb.StringValue, error) {
				if !a.Applied {
					t.Error("got a call without Applied")
				}
				rebuilds++
				return wrapperspb.String("applied"), nil
			})
			if err != nil || got.GetValue() != "applied" {
				t.Fatalf("got %v, %v; want the rebuilt response", got, err)
			}
		}
		if rebuilds != 1 {
			t.Errorf("got %d rebuilds, want 1", rebuilds)
		}
	})
}

// TestReconcilerResolvesWhatTheVendorCanTell: the reconciler asks the
// Checker of each unresolved operation's method; what it finds applied
// returns its response to a repeat without a vendor call, and a method
// without a Checker stays for an operator.
func TestReconcilerResolvesWhatTheVendorCanTell(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		order, pay := wrapperspb.String("order 1"), wrapperspb.String("pay 1")
		_, _ = idempotency.Run(ctx, f.a, "CreateOrder", "rid-order", order, lost)
		_, _ = idempotency.Run(ctx, f.a, "Pay", "rid-pay", pay, lost)
		r := f.b.NewReconciler(map[string]idempotency.Checker{
			"CreateOrder": func(_ context.Context, op idempotency.Operation) (idempotency.Finding, error) {
				var req wrapperspb.StringValue
				if err := proto.Unmarshal(op.Request, &req); err != nil {
					return idempotency.Finding{}, err
				}
				return idempotency.Finding{Outcome: idempotency.Applied, Response: wrapperspb.String("found " + req.GetValue()),
					Note: "orderRecord shows it"}, nil
			},
		})
		n, err := r.Once(ctx)
		if err != nil || n != 1 {
			t.Fatalf("got %d resolved, %v; want 1", n, err)
		}
		got, err := idempotency.Run(ctx, f.a, "CreateOrder", "rid-order", order, f.echo(order))
		if err != nil || got.GetValue() != "found order 1" || f.calls.Load() != 0 {
			t.Fatalf("got %v, %v, %d calls; want the reconciled response and no call", got, err, f.calls.Load())
		}
		op, _ := f.a.Get(ctx, "rid-order")
		if len(op.Resolutions) != 1 || op.Resolutions[0].By != idempotency.ResolvedByReconciler {
			t.Errorf("got resolutions %+v, want one by the reconciler", op.Resolutions)
		}
		ops, err := f.a.ListUnresolved(ctx, idempotency.Cursor{}, 10)
		if err != nil || len(ops) != 1 || ops[0].RequestID != "rid-pay" {
			t.Fatalf("got %+v, %v; want only rid-pay left for an operator", ops, err)
		}
	})
}

// TestReconcilerRunsAPassAtStart: Run resolves what a previous process
// left unknown at once, not an interval later, and FirstPassDone closes
// after that pass.
func TestReconcilerRunsAPassAtStart(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		order := wrapperspb.String("order 1")
		_, _ = idempotency.Run(ctx, f.a, "CreateOrder", "rid-order", order, lost)
		r := f.b.NewReconciler(map[string]idempotency.Checker{
			"CreateOrder": func(context.Context, idempotency.Operation) (idempotency.Finding, error) {
				return idempotency.Finding{Outcome: idempotency.NotApplied, Note: "no such order"}, nil
			},
		})
		select {
		case <-r.FirstPassDone():
			t.Fatal("FirstPassDone closed before Run")
		default:
		}
		go r.Run(ctx, time.Hour)
		select {
		case <-r.FirstPassDone():
		case <-time.After(10 * time.Second):
			t.Fatal("no first pass within 10 s of Run, with an interval of an hour")
		}
		ops, err := f.a.ListUnresolved(ctx, idempotency.Cursor{}, 10)
		if err != nil || len(ops) != 0 {
			t.Fatalf("after the first pass: got %+v, %v; want nothing unresolved", ops, err)
		}
	})
}

// TestStoreFailureAfterTheVendorApplied: when the store fails between the
// vendor's success and the record, the caller gets UNKNOWN
// OUTCOME_UNKNOWN (never INTERNAL), and the operation is listed as
// unresolved once the store is back.
func TestStoreFailureAfterTheVendorApplied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteURL(t))
	s, err := idempotency.New(ctx, db, "test", idempotency.Options{Locks: coord.NewLocks(db)})
	if err != nil {
		t.Fatal(err)
	}
	req := wrapperspb.String("recharge")
	_, err = idempotency.Run(ctx, s, "Recharge", "rid-store", req, func(context.Context, idempotency.Attempt) (*wrapperspb.StringValue, error) {
		// The vendor applied it; now the store goes away.
		if _, err := db.ExecContext(ctx, `ALTER TABLE idempotency_records RENAME TO gone`); err != nil {
			t.Fatal(err)
		}
		return wrapperspb.String("applied"), nil
	})
	wantUnknown(t, err, "rid-store")
	if _, err := db.ExecContext(ctx, `ALTER TABLE gone RENAME TO idempotency_records`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ops, err := s.ListUnresolved(ctx, idempotency.Cursor{}, 10)
		if err == nil && len(ops) == 1 && ops[0].State == "UNKNOWN" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %+v, %v; want the operation listed as unknown once the store is back", ops, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStoreDownBeforeTheCall: a store that fails before the call is
// UNAVAILABLE STORE_UNAVAILABLE, and nothing is sent.
func TestStoreDownBeforeTheCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstoretest.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := idempotency.New(ctx, db, "test", idempotency.Options{Locks: coord.NewLocks(db)})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	sent := false
	_, err = idempotency.Run(ctx, s, "Recharge", "rid-down", wrapperspb.String("x"), func(context.Context, idempotency.Attempt) (*wrapperspb.StringValue, error) {
		sent = true
		return nil, nil
	})
	wantDomain(t, err, domainerr.KindUnavailable, domainerr.ReasonStoreUnavailable)
	if sent {
		t.Error("the call was sent with the store down")
	}
}

// TestFoundNotAppliedSettlesTheRecord: an interrupted attempt that finds
// the earlier call not applied resolves the record NOT_APPLIED at once.
func TestFoundNotAppliedSettlesTheRecord(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		req := wrapperspb.String("upload")
		_, _ = idempotency.Run(ctx, f.a, "Upload", "rid-mismatch", req, lost)
		mismatch := domainerr.FailedPrecondition("CONTENT_MISMATCH", "the vendor holds other bytes")
		_, err := idempotency.Run(ctx, f.b, "Upload", "rid-mismatch", req, func(context.Context, idempotency.Attempt) (*wrapperspb.StringValue, error) {
			return nil, fmt.Errorf("read back: %w", idempotency.FoundNotApplied(mismatch))
		})
		wantDomain(t, err, domainerr.KindFailedPrecondition, "CONTENT_MISMATCH")
		_, err = idempotency.Run(ctx, f.a, "Upload", "rid-mismatch", req, f.echo(req))
		wantDomain(t, err, domainerr.KindFailedPrecondition, idempotency.ReasonNotApplied)
		op, _ := f.a.Get(ctx, "rid-mismatch")
		if len(op.Resolutions) != 1 || op.Resolutions[0].By != idempotency.ResolvedByService {
			t.Errorf("got %+v, want one resolution by the service", op.Resolutions)
		}
	})
}

// TestCountUnresolved counts unknown outcomes per method in one query.
func TestCountUnresolved(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for _, rid := range []string{"rid-a", "rid-b"} {
			_, _ = idempotency.Run(ctx, f.a, "Pay", rid, wrapperspb.String(rid), lost)
		}
		_, _ = idempotency.Run(ctx, f.a, "Order", "rid-c", wrapperspb.String("c"), lost)
		req := wrapperspb.String("ok")
		if _, err := idempotency.Run(ctx, f.a, "Pay", "rid-ok", req, f.echo(req)); err != nil {
			t.Fatal(err)
		}
		for methods, want := range map[string]int64{"": 3, "Pay": 2, "Order": 1, "Other": 0} {
			var ms []string
			if methods != "" {
				ms = []string{methods}
			}
			if n, err := f.b.CountUnresolved(ctx, ms...); err != nil || n != want {
				t.Errorf("CountUnresolved(%q): got %d, %v; want %d", methods, n, err, want)
			}
		}
		if n, _ := f.b.CountUnresolved(ctx, "Pay", "Order"); n != 3 {
			t.Errorf("CountUnresolved(Pay, Order): got %d, want 3", n)
		}
	})
}

// TestCountUnresolvedRestsOnSQLite: on SQLite, whose file only this
// process writes, a count is answered from the last one until a Store on
// the handle writes a record (the records' table is gone while it rests,
// and no count fails); every write counts, the one that marks a call
// unknown and a resolution among them. On PostgreSQL, which other
// replicas write, every count asks the store.
func TestCountUnresolvedRestsOnSQLite(t *testing.T) {
	t.Parallel()
	forEachDialectHandle(t, func(t *testing.T, d sqlstore.Dialect, db *sqlstore.DB) {
		ctx := context.Background()
		store := func() *idempotency.Store {
			s, err := idempotency.New(ctx, db, "test", idempotency.Options{Locks: coord.NewLocks(db)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		writer, counter := store(), store()
		count := func(want int64) {
			t.Helper()
			if n, err := counter.CountUnresolved(ctx, "Pay"); err != nil || n != want {
				t.Fatalf("CountUnresolved: got %d, %v; want %d", n, err, want)
			}
		}
		hide := func() (restore func()) {
			t.Helper()
			if _, err := db.ExecContext(ctx, `ALTER TABLE idempotency_records RENAME TO gone`); err != nil {
				t.Fatal(err)
			}
			return func() {
				t.Helper()
				if _, err := db.ExecContext(ctx, `ALTER TABLE gone RENAME TO idempotency_records`); err != nil {
					t.Fatal(err)
				}
			}
		}

		_, _ = idempotency.Run(ctx, writer, "Pay", "rid-1", wrapperspb.String("pay 1"), lost)
		count(1)
		restore := hide()
		if d == sqlstore.Postgres {
			if _, err := counter.CountUnresolved(ctx, "Pay"); err == nil {
				t.Fatal("a count with the records' table gone answered")
			}
			restore()
			return
		}
		count(1)
		count(1)
		restore()

		// A call counted after its record began and before it was
		// marked unknown.
		_, _ = idempotency.Run(ctx, writer, "Pay", "rid-2", wrapperspb.String("pay 2"), func(ctx context.Context, a idempotency.Attempt) (*wrapperspb.StringValue, error) {
			count(1)
			return lost(ctx, a)
		})
		count(2)
		if _, err := writer.Resolve(ctx, "rid-1", idempotency.NotApplied, nil, "operator", "checked"); err != nil {
			t.Fatal(err)
		}
		count(1)
		restore = hide()
		count(1)
		restore()
	})
}

// TestFoundSettlesTheLedger: what an interrupted attempt reports of the
// earlier call (Found) reaches OnResolve; one that says nothing and
// succeeds is taken as applied.
func TestFoundSettlesTheLedger(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		var mu sync.Mutex
		settled := map[string]bool{}
		f.b.OnResolve(func(_ context.Context, rid string, applied bool) error {
			mu.Lock()
			defer mu.Unlock()
			settled[rid] = applied
			return nil
		})
		for rid, report := range map[string]idempotency.Outcome{"rid-resent": idempotency.NotApplied, "rid-landed": idempotency.Applied, "rid-silent": ""} {
			req := wrapperspb.String(rid)
			_, _ = idempotency.Run(ctx, f.a, "Order", rid, req, lost)
			_, err := idempotency.Run(ctx, f.b, "Order", rid, req, func(_ context.Context, a idempotency.Attempt) (*wrapperspb.StringValue, error) {
				if report != "" {
					a.Found(report)
				}
				return wrapperspb.String("ok"), nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		want := map[string]bool{"rid-resent": false, "rid-landed": true, "rid-silent": true}
		for rid, applied := range want {
			if got, ok := settled[rid]; !ok || got != applied {
				t.Errorf("%s: got settled %v (%v), want %v", rid, got, ok, applied)
			}
		}
	})
}

// TestReconcilerRestsUntilACallBegins: on SQLite, whose file only this
// process writes, once a pass finds nothing to do the ticks ask the store
// nothing (a table a pass reads is gone here, and no tick fails) until a
// call begins, even one that failed half-way through its record. On
// PostgreSQL, which other replicas write, every tick runs its pass.
func TestReconcilerRestsUntilACallBegins(t *testing.T) {
	t.Parallel()
	forEachDialectHandle(t, func(t *testing.T, d sqlstore.Dialect, db *sqlstore.DB) {
		ctx := context.Background()
		logs := &logtest.Buffer{}
		s, err := idempotency.New(ctx, db, "test", idempotency.Options{Locks: coord.NewLocks(db), Logger: slog.New(slog.NewJSONHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = idempotency.Run(ctx, s, "Pay", "rid-1", wrapperspb.String("pay 1"), lost)
		checks := 0
		r := s.NewReconciler(map[string]idempotency.Checker{"Pay": func(context.Context, idempotency.Operation) (idempotency.Finding, error) {
			checks++
			return idempotency.Finding{Outcome: idempotency.NotApplied}, nil
		}})
		tick := func(want bool) {
			t.Helper()
			if got := r.Tick(ctx); got != want {
				t.Fatalf("a tick ran its pass: got %t, want %t", got, want)
			}
		}
		tick(true) // resolves rid-1
		tick(true) // finds nothing to do
		if checks != 1 {
			t.Fatalf("got %d checks, want 1", checks)
		}
		if _, err := db.ExecContext(ctx, `ALTER TABLE idempotency_requests RENAME TO gone`); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = db.ExecContext(ctx, `ALTER TABLE gone RENAME TO idempotency_requests`) })
		failed := func() int { return strings.Count(logs.String(), "reconciler pass failed") }
		if d == sqlstore.Postgres {
			tick(true)
			if failed() != 1 {
				t.Fatalf("got %d failed passes logged, want 1:\n%s", failed(), logs)
			}
			return
		}
		tick(false)
		tick(false)
		if failed() != 0 {
			t.Fatalf("a resting tick asked the store:\n%s", logs)
		}
		// A call begins; its record fails after its first row, the
		// request's table being gone.
		_, err = idempotency.Run(ctx, s, "Pay", "rid-2", wrapperspb.String("pay 2"), lost)
		wantDomain(t, err, domainerr.KindUnavailable, domainerr.ReasonStoreUnavailable)
		tick(true)
		tick(true) // a failed pass found nothing to rest on
		if failed() != 2 {
			t.Fatalf("got %d failed passes logged, want 2:\n%s", failed(), logs)
		}
	})
}
