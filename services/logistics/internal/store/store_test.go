package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
)

func dialects(t *testing.T) map[string]string {
	return map[string]string{
		"sqlite":   sqlstoretest.SQLiteURL(t),
		"postgres": sqlstoretest.PostgresURL(t, "logistics_store"),
	}
}

func TestOperationLifecycle(t *testing.T) {
	t.Parallel()
	for name, url := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := Open(ctx, url, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			t0 := time.UnixMilli(1_700_000_000_000).UTC()
			op := Operation{RequestID: "r1", Kind: KindRecharge, Phone: "+61400000001", Amount: "10.50", CreatedAt: t0}

			got, created, err := st.Begin(ctx, op, t0.Add(-time.Hour))
			if err != nil || !created || got.State != StatePending {
				t.Fatalf("first Begin: got %+v, %v, %v; want created PENDING", got, created, err)
			}
			again, created, err := st.Begin(ctx, Operation{RequestID: "r1", Kind: KindDeduction, Amount: "1", CreatedAt: t0}, t0.Add(-time.Hour))
			if err != nil || created {
				t.Fatalf("second Begin: got created %v, %v; want the first operation", created, err)
			}
			if again.Kind != KindRecharge || again.Amount != "10.50" {
				t.Errorf("second Begin: got %+v, want the first request", again)
			}
			if ids, err := st.Pending(ctx, 10); err != nil || len(ids) != 1 || ids[0] != "r1" {
				t.Errorf("Pending: got %v, %v; want [r1]", ids, err)
			}
			if n, _ := st.CountUnresolved(ctx); n != 0 {
				t.Errorf("CountUnresolved of a PENDING operation: got %d, want 0", n)
			}
			if _, err := st.Resolve(ctx, "r1", StateApplied, "x", t0); !errors.Is(err, ErrNotResolvable) {
				t.Errorf("Resolve of a PENDING operation: got %v, want ErrNotResolvable", err)
			}
			if changed, err := st.MarkUnknown(ctx, "r1", "its process died", t0.Add(time.Second)); err != nil || !changed {
				t.Fatalf("MarkUnknown: got %v, %v; want true", changed, err)
			}
			if changed, err := st.MarkUnknown(ctx, "r1", "again", t0); err != nil || changed {
				t.Errorf("MarkUnknown of an UNKNOWN operation: got %v, %v; want false", changed, err)
			}
			if ids, _ := st.Pending(ctx, 10); len(ids) != 0 {
				t.Errorf("Pending after MarkUnknown: got %v, want none", ids)
			}
			if err := st.Finish(ctx, "r1", StateSucceeded, "", t0); !errors.Is(err, ErrNotFound) {
				t.Errorf("Finish of a finished operation: got %v, want ErrNotFound", err)
			}
			n, err := st.CountUnresolved(ctx)
			if err != nil || n != 1 {
				t.Errorf("CountUnresolved: got %d, %v, want 1", n, err)
			}
			list, err := st.ListUnresolved(ctx, Cursor{}, 10)
			if err != nil || len(list) != 1 || list[0].RequestID != "r1" {
				t.Fatalf("ListUnresolved: got %+v, %v, want r1", list, err)
			}
			if next, _ := st.ListUnresolved(ctx, Cursor{CreatedAt: list[0].CreatedAt, RequestID: "r1"}, 10); len(next) != 0 {
				t.Errorf("ListUnresolved after r1: got %+v, want none", next)
			}

			r1 := t0.Add(time.Minute)
			resolved, err := st.Resolve(ctx, "r1", StateNotApplied, "no trace at 30post", r1)
			if err != nil {
				t.Fatal(err)
			}
			resolved, err = st.Resolve(ctx, "r1", StateApplied, "found it after all", r1.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			want := []Resolution{
				{Outcome: StateNotApplied, Note: "no trace at 30post", ResolvedAt: r1},
				{Outcome: StateApplied, Note: "found it after all", ResolvedAt: r1.Add(time.Second)},
			}
			if diff := cmp.Diff(want, resolved.Resolutions); diff != "" {
				t.Errorf("resolutions (-want +got):\n%s", diff)
			}
			if resolved.State != StateApplied {
				t.Errorf("state: got %s, want APPLIED", resolved.State)
			}
			if n, _ := st.CountUnresolved(ctx); n != 0 {
				t.Errorf("CountUnresolved after resolving: got %d, want 0", n)
			}

			if _, _, err := st.Begin(ctx, Operation{RequestID: "r2", Kind: KindRecharge, Amount: "1", CreatedAt: t0}, t0.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := st.Finish(ctx, "r2", StateSucceeded, "", t0); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Resolve(ctx, "r2", StateNotApplied, "x", r1); !errors.Is(err, ErrNotResolvable) {
				t.Errorf("Resolve of a succeeded operation: got %v, want ErrNotResolvable", err)
			}
			if _, err := st.Resolve(ctx, "nope", StateNotApplied, "x", r1); !errors.Is(err, ErrNotFound) {
				t.Errorf("Resolve of an unknown id: got %v, want ErrNotFound", err)
			}
		})
	}
}

// TestRequestIDExpiry: Begin replaces an operation older than the TTL
// whose outcome is known (with its resolutions), and never an unresolved
// one nor a recent one.
func TestRequestIDExpiry(t *testing.T) {
	t.Parallel()
	for name, url := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := Open(ctx, url, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			t0 := time.UnixMilli(1_700_000_000_000).UTC()
			later := t0.Add(25 * time.Hour)
			cutoff := later.Add(-24 * time.Hour)
			begin := func(id string, at time.Time, expiredBefore time.Time) (Operation, bool) {
				t.Helper()
				op, created, err := st.Begin(ctx, Operation{RequestID: id, Kind: KindRecharge, Amount: "1.00", CreatedAt: at}, expiredBefore)
				if err != nil {
					t.Fatal(err)
				}
				return op, created
			}
			for id, state := range map[string]State{"done": StateSucceeded, "unknown": StateUnknown, "pending": StatePending, "resolved": StateUnknown} {
				begin(id, t0, t0)
				if state != StatePending {
					if err := st.Finish(ctx, id, state, "", t0); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := st.Resolve(ctx, "resolved", StateNotApplied, "checked", t0); err != nil {
				t.Fatal(err)
			}
			if _, created := begin("done", later, t0); created {
				t.Errorf("a recent SUCCEEDED operation was replaced")
			}
			for id, want := range map[string]bool{"done": true, "resolved": true, "unknown": false, "pending": false} {
				op, created := begin(id, later, cutoff)
				if created != want {
					t.Errorf("%s after the TTL: got replaced %v, want %v", id, created, want)
				}
				if created && (len(op.Resolutions) != 0 || !op.CreatedAt.Equal(later)) {
					t.Errorf("%s after the TTL: got %+v, want a new operation", id, op)
				}
			}
			if got, _ := st.Get(ctx, "resolved"); len(got.Resolutions) != 0 {
				t.Errorf("the expired operation's resolutions remain: %+v", got.Resolutions)
			}
		})
	}
}

// mutexLocker is an in-process Locker standing for coord.Locks.
type mutexLocker struct{ mu sync.Mutex }

func (l *mutexLocker) Lock(context.Context, string) (func(), error) {
	l.mu.Lock()
	return l.mu.Unlock, nil
}

// TestSharedToken: two store handles (two replicas) renewing at once log
// in once; a refused (stale) token is replaced by one login; a replica
// that holds an older token than the stored one gets the stored one.
func TestSharedToken(t *testing.T) {
	t.Parallel()
	for name, url := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var locks mutexLocker
			// Two handles stand for two replicas; SQLite serves one process,
			// so there both share one handle.
			var shared [2]*SharedToken
			var st *Store
			for i := range shared {
				if st == nil || name == "postgres" {
					opened, err := Open(ctx, url, slog.New(slog.DiscardHandler))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = opened.Close() })
					st = opened
				}
				shared[i] = st.SharedToken("vendor", &locks, nil)
			}
			var logins atomic.Int32
			login := func(context.Context) (string, error) {
				return fmt.Sprintf("token-%d", logins.Add(1)), nil
			}
			var wg sync.WaitGroup
			got := make([]string, 20)
			for i := range got {
				wg.Go(func() {
					token, err := shared[i%2].Renew(ctx, "", login)
					if err != nil {
						t.Error(err)
					}
					got[i] = token
				})
			}
			wg.Wait()
			for i, token := range got {
				if token != "token-1" {
					t.Errorf("renew %d: got %q, want token-1", i, token)
				}
			}
			if token, _ := shared[0].Renew(ctx, "token-1", login); token != "token-2" {
				t.Errorf("renew of the refused token-1: got %q, want token-2", token)
			}
			if token, _ := shared[1].Renew(ctx, "token-1", login); token != "token-2" {
				t.Errorf("the other replica's renew of token-1: got %q, want the stored token-2", token)
			}
			if n := logins.Load(); n != 2 {
				t.Errorf("got %d logins, want 2", n)
			}
			failed := func(context.Context) (string, error) { return "", errors.New("refused") }
			if _, err := shared[0].Renew(ctx, "token-2", failed); err == nil || strings.Contains(err.Error(), "token-2") {
				t.Errorf("failed login: got %v, want an error without the token", err)
			}
		})
	}
}
