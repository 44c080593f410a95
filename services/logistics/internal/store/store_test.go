package store

import (
	"context"
	"errors"
	"log/slog"
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

			got, created, err := st.Begin(ctx, op)
			if err != nil || !created || got.State != StatePending {
				t.Fatalf("first Begin: got %+v, %v, %v; want created PENDING", got, created, err)
			}
			again, created, err := st.Begin(ctx, Operation{RequestID: "r1", Kind: KindDeduction, Amount: "1", CreatedAt: t0})
			if err != nil || created {
				t.Fatalf("second Begin: got created %v, %v; want the first operation", created, err)
			}
			if again.Kind != KindRecharge || again.Amount != "10.50" {
				t.Errorf("second Begin: got %+v, want the first request", again)
			}
			if err := st.Finish(ctx, "r1", StateUnknown, "", t0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if err := st.Finish(ctx, "r1", StateSucceeded, "", t0); !errors.Is(err, ErrNotFound) {
				t.Errorf("Finish of a finished operation: got %v, want ErrNotFound", err)
			}
			n, err := st.CountUnresolved(ctx, t0)
			if err != nil || n != 1 {
				t.Errorf("CountUnresolved: got %d, %v, want 1", n, err)
			}
			list, err := st.ListUnresolved(ctx, Cursor{}, 10, t0)
			if err != nil || len(list) != 1 || list[0].RequestID != "r1" {
				t.Fatalf("ListUnresolved: got %+v, %v, want r1", list, err)
			}
			if next, _ := st.ListUnresolved(ctx, Cursor{CreatedAt: list[0].CreatedAt, RequestID: "r1"}, 10, t0); len(next) != 0 {
				t.Errorf("ListUnresolved after r1: got %+v, want none", next)
			}

			r1 := t0.Add(time.Minute)
			resolved, err := st.Resolve(ctx, "r1", StateNotApplied, "no trace at 30post", r1, t0)
			if err != nil {
				t.Fatal(err)
			}
			resolved, err = st.Resolve(ctx, "r1", StateApplied, "found it after all", r1.Add(time.Second), t0)
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
			if n, _ := st.CountUnresolved(ctx, t0); n != 0 {
				t.Errorf("CountUnresolved after resolving: got %d, want 0", n)
			}

			if _, _, err := st.Begin(ctx, Operation{RequestID: "r2", Kind: KindRecharge, Amount: "1", CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
			if err := st.Finish(ctx, "r2", StateSucceeded, "", t0); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Resolve(ctx, "r2", StateNotApplied, "x", r1, t0); !errors.Is(err, ErrNotResolvable) {
				t.Errorf("Resolve of a succeeded operation: got %v, want ErrNotResolvable", err)
			}
			if _, err := st.Resolve(ctx, "nope", StateNotApplied, "x", r1, t0); !errors.Is(err, ErrNotFound) {
				t.Errorf("Resolve of an unknown id: got %v, want ErrNotFound", err)
			}
		})
	}
}
