package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// unknown records a purchase of unknown outcome for requestID.
func unknown(t *testing.T, s *store.Store, vin, requestID string, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	id, err := s.Begin(ctx, store.Purchase{VIN: vin, RequestID: requestID}, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkUnknown(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestResolve(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		unknown(t, s, "V1", "r1", t0)
		r1 := t0.Add(time.Hour)

		op, err := s.Resolve(ctx, "r1", store.OutcomeNotApplied, "", "no trace at the vendor", r1)
		if err != nil {
			t.Fatal(err)
		}
		if op.State != store.StateNotApplied || op.OrderID != "" {
			t.Errorf("got %+v, want NOT_APPLIED without an order", op)
		}
		// A correction: the operator found it after all.
		op, err = s.Resolve(ctx, "r1", store.OutcomeApplied, "order-9", "in the vendor's order list", r1.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Resolution{
			{Outcome: store.OutcomeNotApplied, Note: "no trace at the vendor", ResolvedAt: r1},
			{Outcome: store.OutcomeApplied, OrderID: "order-9", Note: "in the vendor's order list", ResolvedAt: r1.Add(time.Second)},
		}
		if diff := cmp.Diff(want, op.Resolutions); diff != "" {
			t.Errorf("resolutions (-want +got):\n%s", diff)
		}
		// Applied, it is a bought order like any other: bought when its purchase started.
		o, err := s.ByOrderID(ctx, "order-9")
		if err != nil || o.State != store.StatePending || !o.BoughtAt.Equal(t0) || o.RequestID != "r1" {
			t.Errorf("got %+v, %v, want order-9 PENDING bought at %v", o, err, t0)
		}
		if got, err := s.Reusable(ctx, "V1", t0.Add(-time.Hour)); err != nil || got.OrderID != "order-9" {
			t.Errorf("got %+v, %v, want order-9 reusable", got, err)
		}
		// Its report, once fetched, survives a repeated APPLIED with the same order.
		finish(t, s, "order-9", store.StateReady, r1)
		if _, err := s.Resolve(ctx, "r1", store.OutcomeApplied, "order-9", "again", r1.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		if o, _ := s.ByOrderID(ctx, "order-9"); o.State != store.StateReady {
			t.Errorf("got state %s, want READY kept", o.State)
		}

		// Refusals.
		buy(t, s, store.Purchase{VIN: "V2", RequestID: "r2"}, "order-2", t0)
		if _, err := s.Resolve(ctx, "r2", store.OutcomeNotApplied, "", "x", r1); !errors.Is(err, store.ErrNotResolvable) {
			t.Errorf("resolve of a bought order: got %v, want ErrNotResolvable", err)
		}
		if _, err := s.Resolve(ctx, "nope", store.OutcomeNotApplied, "", "x", r1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("resolve of an unknown id: got %v, want ErrNotFound", err)
		}
		unknown(t, s, "V3", "r3", t0)
		if _, err := s.Resolve(ctx, "r3", store.OutcomeApplied, "order-2", "x", r1); !errors.Is(err, store.ErrOrderIDTaken) {
			t.Errorf("resolve with another purchase's order: got %v, want ErrOrderIDTaken", err)
		}
		if op, err := s.OperationByRequestID(ctx, "r3"); err != nil || op.State != store.StateUnknown || len(op.Resolutions) != 0 {
			t.Errorf("got %+v, %v, want r3 untouched by the refused resolution", op, err)
		}
	})
}

func TestListUnresolvedPages(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		var want []string
		for i := range 5 {
			id := fmt.Sprintf("r%d", i)
			unknown(t, s, "V", id, t0.Add(time.Duration(i%3)*time.Second)) // ties on created_at
			want = append(want, id)
		}
		buy(t, s, store.Purchase{VIN: "V", RequestID: "bought"}, "o1", t0)
		if _, err := s.Begin(ctx, store.Purchase{VIN: "V", RequestID: "buying"}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Resolve(ctx, "r4", store.OutcomeNotApplied, "", "resolved", t0); err != nil {
			t.Fatal(err)
		}
		want = want[:4]

		var got []string
		var after store.Cursor
		for {
			page, err := s.ListUnresolved(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range page {
				got = append(got, op.RequestID)
			}
			if len(page) < 2 {
				break
			}
			last := page[len(page)-1]
			after = store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		// Oldest first: r0 and r3 at t0, r1 at +1s, r2 at +2s (ties by id).
		if len(got) != len(want) {
			t.Fatalf("got %v, want the 4 unresolved %v", got, want)
		}
		seen := map[string]bool{}
		for _, id := range got {
			seen[id] = true
		}
		for _, id := range want {
			if !seen[id] {
				t.Errorf("got %v, want %s listed", got, id)
			}
		}
		if got[2] != "r1" || got[3] != "r2" {
			t.Errorf("got %v, want r1 then r2 last (oldest first)", got)
		}

		if n, err := s.CountUnresolved(ctx, t0.Add(time.Hour)); err != nil || n != 5 {
			t.Errorf("got %d, %v, want 5 (4 unknown and the old BUYING one)", n, err)
		}
		if n, err := s.CountUnresolved(ctx, t0.Add(-time.Hour)); err != nil || n != 4 {
			t.Errorf("got %d, %v, want 4 (a recent BUYING one is in flight)", n, err)
		}

		buying, err := s.Buying(ctx, "")
		if err != nil || len(buying) != 1 || buying[0].RequestID != "buying" {
			t.Errorf("got %+v, %v, want the one purchase in BUYING", buying, err)
		}
		if buying, err := s.Buying(ctx, "OTHER"); err != nil || len(buying) != 0 {
			t.Errorf("got %+v, %v for another VIN, want none", buying, err)
		}
	})
}

func TestReleaseRequestID(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		buy(t, s, store.Purchase{VIN: "V", RequestID: "r"}, "o1", t0)
		o, err := s.ByRequestID(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseRequestID(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ByRequestID(ctx, "r"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("got %v, want the released request id free", err)
		}
		if o, err := s.ByOrderID(ctx, "o1"); err != nil || o.RequestID != "" {
			t.Errorf("got %+v, %v, want the order kept without its request id", o, err)
		}
		// An unknown purchase keeps its request id.
		id := unknown(t, s, "V", "u", t0)
		if err := s.ReleaseRequestID(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ByRequestID(ctx, "u"); err != nil {
			t.Errorf("got %v, want an unknown purchase's request id kept", err)
		}
	})
}
