package billing_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/logistics/internal/billing"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
	"github.com/vendorgate/vendorgate/services/logistics/internal/store"
)

// vendor is a 30post stand-in whose recharges wait for release.
type vendor struct {
	calls   atomic.Int32
	started chan struct{}
	release chan struct{}
}

func (v *vendor) Recharge(ctx context.Context, _ post30.Account, _ string) (post30.Reply, error) {
	v.calls.Add(1)
	v.started <- struct{}{}
	<-v.release
	return post30.Reply{Message: "ok"}, nil
}

func (v *vendor) Deduct(ctx context.Context, a post30.Account, amount, _ string) (post30.Reply, error) {
	return v.Recharge(ctx, a, amount)
}

// replica is one process's billing over the shared database.
func replica(t *testing.T, url string, v billing.Vendor) (*billing.Service, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s, err := billing.New(v, st, billing.Options{MaxAmountFen: 100_000, Locks: coord.NewLocks(st.DB())})
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func reasonOf(err error) string {
	if d, ok := domainerr.As(err); ok {
		return d.Reason
	}
	return ""
}

// TestInFlightAcrossReplicas: while one replica's recharge is out, the same
// request_id on the other replica is ABORTED with a retry-after, and the
// vendor is called once; afterwards the repeat gets the first outcome.
func TestInFlightAcrossReplicas(t *testing.T) {
	t.Parallel()
	url := sqlstoretest.PostgresURL(t, "logistics_billing")
	v := &vendor{started: make(chan struct{}, 1), release: make(chan struct{})}
	a, _ := replica(t, url, v)
	b, _ := replica(t, url, v)
	ctx := context.Background()
	req := billing.Request{RequestID: "inflight-" + t.Name(), Kind: store.KindRecharge, Phone: "+61412345678", Amount: "5"}
	done := make(chan error, 1)
	go func() {
		_, err := a.Move(ctx, req)
		done <- err
	}()
	<-v.started
	_, err := b.Move(ctx, req)
	if d, ok := domainerr.As(err); !ok || d.Kind != domainerr.KindAborted || d.Reason != billing.ReasonInProgress || d.RetryAfter <= 0 {
		t.Errorf("repeat on the other replica while in flight: got %v, want ABORTED %s with a retry-after", err, billing.ReasonInProgress)
	}
	if ops, err := b.ListUnresolved(ctx, store.Cursor{}, 10); err != nil || len(ops) != 0 {
		t.Errorf("ListUnresolved while in flight: got %v, %v; want none (its sender is alive)", ops, err)
	}
	close(v.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	op, err := b.Move(ctx, req)
	if err != nil || op.State != store.StateSucceeded {
		t.Errorf("repeat after: got %+v, %v; want SUCCEEDED", op, err)
	}
	if n := v.calls.Load(); n != 1 {
		t.Errorf("got %d vendor calls, want 1", n)
	}
}

// TestOrphanedPendingIsUnknown: a PENDING record whose sender died (no
// lock holder) is UNKNOWN to a repeat, never re-sent, listed for the
// operator, and resolvable; on SQLite and Postgres.
func TestOrphanedPendingIsUnknown(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]string{"sqlite": sqlstoretest.SQLiteURL(t), "postgres": sqlstoretest.PostgresURL(t, "logistics_billing")} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := &vendor{started: make(chan struct{}, 1), release: make(chan struct{})}
			close(v.release)
			s, st := replica(t, url, v)
			ctx := context.Background()
			id := "orphan-" + name + "-" + time.Now().Format("150405.000000")
			for _, orphan := range []string{id, id + "-listed"} {
				// What a process that died mid-call leaves behind.
				if _, _, err := st.Begin(ctx, store.Operation{RequestID: orphan, Kind: store.KindRecharge, Phone: "+61412345678",
					Amount: "5.00", CreatedAt: time.Now()}, time.Now().Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := s.Move(ctx, billing.Request{RequestID: id, Kind: store.KindRecharge, Phone: "+61412345678", Amount: "5"})
			if d, ok := domainerr.As(err); !ok || d.Kind != domainerr.KindUnknown || reasonOf(err) != billing.ReasonOutcomeUnknown {
				t.Errorf("repeat of an orphaned PENDING: got %v, want UNKNOWN %s", err, billing.ReasonOutcomeUnknown)
			}
			if n := v.calls.Load(); n != 0 {
				t.Errorf("got %d vendor calls, want 0 (never re-sent)", n)
			}
			ops, err := s.ListUnresolved(ctx, store.Cursor{}, 10)
			if err != nil || len(ops) != 2 {
				t.Fatalf("ListUnresolved: got %+v, %v; want both orphans", ops, err)
			}
			for _, op := range ops {
				if op.State != store.StateUnknown {
					t.Errorf("%s: got %s, want UNKNOWN", op.RequestID, op.State)
				}
			}
			op, err := s.Resolve(ctx, id+"-listed", false, "not on the 30post console")
			if err != nil || op.State != store.StateNotApplied {
				t.Errorf("Resolve: got %+v, %v; want NOT_APPLIED", op, err)
			}
		})
	}
}
