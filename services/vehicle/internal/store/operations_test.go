package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// unknown records a purchase of unknown outcome for requestID.
func unknown(t *testing.T, s *store.Store, vin, requestID string, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	id, err := s.Begin(ctx, reports.Purchase{VIN: vin, RequestID: requestID}, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkUnknownByRequestID(ctx, requestID); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSettle: a finding about a purchase of unknown outcome makes it a
// bought order (APPLIED) or NOT_APPLIED; a purchase with a known outcome is
// left as it is; another purchase's order is refused.
func TestSettle(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		unknown(t, s, "V1", "r1", t0)
		if err := s.Settle(ctx, "r1", reports.OutcomeApplied, "order-9"); err != nil {
			t.Fatal(err)
		}
		// Applied, it is a bought order like any other: bought when its purchase started.
		o, err := s.ByOrderID(ctx, "order-9")
		if err != nil || o.State != reports.StatePending || !o.BoughtAt.Equal(t0) || o.RequestID != "r1" {
			t.Errorf("got %+v, %v, want order-9 PENDING bought at %v", o, err, t0)
		}
		if got, err := s.Reusable(ctx, "V1", t0.Add(-time.Hour)); err != nil || got.OrderID != "order-9" {
			t.Errorf("got %+v, %v, want order-9 reusable", got, err)
		}
		// Its report, once fetched, survives a repeated finding.
		finish(t, s, "order-9", reports.StateReady, t0.Add(time.Hour))
		if err := s.Settle(ctx, "r1", reports.OutcomeNotApplied, ""); err != nil {
			t.Fatal(err)
		}
		if o, _ := s.ByOrderID(ctx, "order-9"); o.State != reports.StateReady {
			t.Errorf("got state %s, want READY kept", o.State)
		}

		// A purchase in flight whose process died (BUYING) is settled too.
		if _, err := s.Begin(ctx, reports.Purchase{VIN: "V2", RequestID: "r2"}, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.Settle(ctx, "r2", reports.OutcomeNotApplied, ""); err != nil {
			t.Fatal(err)
		}
		if o, err := s.ByRequestID(ctx, "r2"); err != nil || o.State != reports.StateNotApplied || o.OrderID != "" {
			t.Errorf("got %+v, %v, want NOT_APPLIED without an order", o, err)
		}

		// A sale recorded late (the store came back) settles an unknown
		// purchase; one resolved meanwhile is not touched.
		late := unknown(t, s, "V4", "r4", t0)
		if err := s.Bought(ctx, late, "order-4", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if o, err := s.ByRequestID(ctx, "r4"); err != nil || o.State != reports.StatePending || o.OrderID != "order-4" {
			t.Errorf("got %+v, %v, want order-4 PENDING", o, err)
		}
		resolved, err := s.ByRequestID(ctx, "r2")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Bought(ctx, resolved.ID, "order-5", t0); !errors.Is(err, reports.ErrNotFound) {
			t.Errorf("sale of a purchase resolved NOT_APPLIED: got %v, want ErrNotFound", err)
		}

		// Refusals.
		if err := s.Settle(ctx, "nope", reports.OutcomeNotApplied, ""); !errors.Is(err, reports.ErrNotFound) {
			t.Errorf("settle of an unknown id: got %v, want ErrNotFound", err)
		}
		unknown(t, s, "V3", "r3", t0)
		if err := s.Settle(ctx, "r3", reports.OutcomeApplied, "order-9"); !errors.Is(err, reports.ErrOrderIDTaken) {
			t.Errorf("settle with another purchase's order: got %v, want ErrOrderIDTaken", err)
		}
		if o, err := s.ByRequestID(ctx, "r3"); err != nil || o.State != reports.StateUnknown {
			t.Errorf("got %+v, %v, want r3 untouched by the refused finding", o, err)
		}
	})
}

// TestUnsettledAndCount: a VIN's purchases in BUYING, and in UNKNOWN since
// a time, newest first; the gauge's count of unresolved purchases.
func TestUnsettledAndCount(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		unknown(t, s, "V", "old", t0.Add(-2*time.Hour))
		unknown(t, s, "V", "recent", t0)
		buy(t, s, reports.Purchase{VIN: "V", RequestID: "bought"}, "o1", t0)
		if _, err := s.Begin(ctx, reports.Purchase{VIN: "V", RequestID: "buying"}, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		unknown(t, s, "OTHER", "other", t0)
		got, err := s.Unsettled(ctx, "V", t0.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, o := range got {
			ids = append(ids, o.RequestID)
		}
		if len(ids) != 2 || ids[0] != "buying" || ids[1] != "recent" {
			t.Errorf("got %v, want [buying recent]", ids)
		}
		// For the request_id engine: the unknown ones, the BUYING one once
		// old enough, the orders bought since a time.
		for _, tt := range []struct {
			buyingBefore, boughtSince time.Time
			want                      int
		}{
			{t0.Add(time.Hour), t0.Add(-time.Hour), 5},
			{t0.Add(-time.Hour), t0.Add(time.Hour), 3},
		} {
			if got, err := s.WithRequestID(ctx, tt.buyingBefore, tt.boughtSince); err != nil || len(got) != tt.want {
				t.Errorf("WithRequestID(%v, %v): got %d purchases, %v, want %d", tt.buyingBefore, tt.boughtSince, len(got), err, tt.want)
			}
		}
		if n, err := s.CountUnresolved(ctx, t0.Add(time.Hour)); err != nil || n != 4 {
			t.Errorf("got %d, %v, want 4 (3 unknown and the old BUYING one)", n, err)
		}
		if n, err := s.CountUnresolved(ctx, t0.Add(-time.Hour)); err != nil || n != 3 {
			t.Errorf("got %d, %v, want 3 (a recent BUYING one is in flight)", n, err)
		}
	})
}

// TestBeginTakesBackAnExpiredRequestID: a purchase under a request id
// that the engine decided buys anew takes it from an older purchase with a
// known outcome, which stays as an order without one; a purchase of unknown
// outcome keeps it.
func TestBeginTakesBackAnExpiredRequestID(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		buy(t, s, reports.Purchase{VIN: "V", RequestID: "r"}, "o1", t0)
		if _, err := s.Begin(ctx, reports.Purchase{VIN: "V", RequestID: "r"}, t0.Add(time.Hour)); err != nil {
			t.Fatalf("got %v, want the expired request id taken back", err)
		}
		if o, err := s.ByOrderID(ctx, "o1"); err != nil || o.RequestID != "" {
			t.Errorf("got %+v, %v, want the order kept without its request id", o, err)
		}
		unknown(t, s, "V", "u", t0)
		if _, err := s.Begin(ctx, reports.Purchase{VIN: "V", RequestID: "u"}, t0); !errors.Is(err, reports.ErrDuplicateRequest) {
			t.Errorf("got %v, want an unknown purchase's request id kept (ErrDuplicateRequest)", err)
		}
	})
}
