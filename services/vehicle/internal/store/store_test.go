package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// dialects runs test against a fresh SQLite file and a fresh Postgres schema.
func dialects(t *testing.T, test func(t *testing.T, url string)) {
	t.Helper()
	for _, d := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return sqlstoretest.SQLiteURL(t) }},
		{"postgres", func(t *testing.T) string { return sqlstoretest.PostgresURL(t, "vehicle_test") }},
	} {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			test(t, d.url(t))
		})
	}
}

func open(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// t0 is a fixed instant with whole milliseconds, as the store keeps them.
var t0 = time.Date(2026, 3, 1, 8, 0, 0, 123e6, time.UTC)

// buy records a purchase through to its vendor order id.
func buy(t *testing.T, s *store.Store, p reports.Purchase, orderID string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	id, err := s.Begin(ctx, p, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Bought(ctx, id, orderID, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		p := reports.Purchase{VIN: "SALWA2FK7EA402383", EngineNumber: "306DT", PlateNumber: "沪A12345", RequestID: "req-1"}
		id, err := s.Begin(ctx, p, t0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ByRequestID(ctx, "req-1")
		if err != nil {
			t.Fatal(err)
		}
		want := reports.Order{ID: id, VIN: p.VIN, EngineNumber: "306DT", PlateNumber: "沪A12345", RequestID: "req-1",
			State: reports.StateBuying, CreatedAt: t0}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("buying mismatch (-want +got):\n%s", diff)
		}

		if err := s.Bought(ctx, id, "order-1", t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		report := []byte(`{"code":"0","data":{"result":"1","detail":{"brand":"路虎","content":"前杠线束֐¤"}}}`)
		if err := s.Finish(ctx, "order-1", reports.StateReady, report, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		// A second, later report does not replace the first.
		if err := s.Finish(ctx, "order-1", reports.StateNoRecords, []byte(`{}`), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err = s.ByOrderID(ctx, "order-1")
		if err != nil {
			t.Fatal(err)
		}
		want.OrderID, want.State, want.Report = "order-1", reports.StateReady, report
		want.BoughtAt, want.ReadyAt = t0.Add(time.Second), t0.Add(time.Minute)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ready mismatch (-want +got):\n%s", diff)
		}

		// A restart (a second Open, migrations included) finds the same order.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		again := open(t, url)
		got, err = again.ByOrderID(ctx, "order-1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("after reopening mismatch (-want +got):\n%s", diff)
		}

		if _, err := again.ByOrderID(ctx, "nope"); !errors.Is(err, reports.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
	})
}

func TestBeginRequestIDOnce(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		for range 20 {
			wg.Go(func() {
				_, err := s.Begin(ctx, reports.Purchase{VIN: "V", RequestID: "same"}, t0)
				switch {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case !errors.Is(err, reports.ErrDuplicateRequest):
					t.Errorf("got %v, want nil or ErrDuplicateRequest", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("got %d purchases begun for one request id, want 1", wins)
		}
		// Purchases without a request id never conflict.
		for range 3 {
			if _, err := s.Begin(ctx, reports.Purchase{VIN: "V"}, t0); err != nil {
				t.Errorf("got %v, want nil", err)
			}
		}
	})
}

func TestAbandon(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		id, err := s.Begin(ctx, reports.Purchase{VIN: "V", RequestID: "r"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Abandon(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ByRequestID(ctx, "r"); !errors.Is(err, reports.ErrNotFound) {
			t.Errorf("got %v, want the abandoned purchase gone", err)
		}
		// Its vendor answer arriving late is reported, not lost silently.
		if err := s.Bought(ctx, id, "late", t0); !errors.Is(err, reports.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
		// The request id is free again, and a bought order is never abandoned.
		buy(t, s, reports.Purchase{VIN: "V", RequestID: "r"}, "o", t0)
		o, err := s.ByRequestID(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Abandon(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ByOrderID(ctx, "o"); err != nil {
			t.Errorf("got %v, want the bought order kept", err)
		}
	})
}

func TestReusable(t *testing.T) {
	t.Parallel()
	const vin = "SALWA2FK7EA402383"
	since := t0.Add(-24 * time.Hour)
	tests := []struct {
		name string
		// setup records orders for vin (and others).
		setup func(t *testing.T, s *store.Store)
		want  string // the order id, "" for ErrNotFound
	}{
		{"nothing", func(*testing.T, *store.Store) {}, ""},
		{"only buying", func(t *testing.T, s *store.Store) {
			if _, err := s.Begin(context.Background(), reports.Purchase{VIN: vin}, t0); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"pending", func(t *testing.T, s *store.Store) {
			buy(t, s, reports.Purchase{VIN: vin}, "pending", t0)
		}, "pending"},
		{"stale pending", func(t *testing.T, s *store.Store) {
			buy(t, s, reports.Purchase{VIN: vin}, "old", since.Add(-time.Hour))
		}, ""},
		{"ready beats a newer pending", func(t *testing.T, s *store.Store) {
			buy(t, s, reports.Purchase{VIN: vin}, "ready", t0.Add(-time.Hour))
			finish(t, s, "ready", reports.StateReady, t0.Add(-time.Hour))
			buy(t, s, reports.Purchase{VIN: vin}, "pending", t0)
		}, "ready"},
		{"newest finished", func(t *testing.T, s *store.Store) {
			buy(t, s, reports.Purchase{VIN: vin}, "older", t0.Add(-2*time.Hour))
			finish(t, s, "older", reports.StateReady, t0.Add(-2*time.Hour))
			buy(t, s, reports.Purchase{VIN: vin}, "newer", t0.Add(-time.Hour))
			finish(t, s, "newer", reports.StateNoRecords, t0.Add(-time.Hour))
		}, "newer"},
		{"stale ready, fresh pending", func(t *testing.T, s *store.Store) {
			buy(t, s, reports.Purchase{VIN: vin}, "stale", since.Add(-time.Hour))
			finish(t, s, "stale", reports.StateReady, since.Add(-time.Minute))
			buy(t, s, reports.Purchase{VIN: vin}, "pending", t0)
		}, "pending"},
		{"other VIN", func(t *testing.T, s *store.Store) {
			buy(t, s, reports.Purchase{VIN: "LFV2A21K6A3123456"}, "other", t0)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dialects(t, func(t *testing.T, url string) {
				s := open(t, url)
				tt.setup(t, s)
				o, err := s.Reusable(context.Background(), vin, since)
				if tt.want == "" {
					if !errors.Is(err, reports.ErrNotFound) {
						t.Errorf("got %+v, %v, want ErrNotFound", o, err)
					}
					return
				}
				if err != nil || o.OrderID != tt.want {
					t.Errorf("got order %q, %v, want %q", o.OrderID, err, tt.want)
				}
			})
		})
	}
}

func finish(t *testing.T, s *store.Store, orderID string, state reports.State, at time.Time) {
	t.Helper()
	if err := s.Finish(context.Background(), orderID, state, []byte(`{"code":"0"}`), at); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownOutcomeIsKept(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		id, err := s.Begin(ctx, reports.Purchase{VIN: "V", RequestID: "r"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.MarkUnknownByRequestID(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		o, err := s.ByRequestID(ctx, "r")
		if err != nil || o.State != reports.StateUnknown {
			t.Fatalf("got %v, %v, want the purchase kept as UNKNOWN", o, err)
		}
		// It is not abandoned, so its request id is not free for another purchase.
		if err := s.Abandon(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Begin(ctx, reports.Purchase{VIN: "V", RequestID: "r"}, t0); !errors.Is(err, reports.ErrDuplicateRequest) {
			t.Errorf("got %v, want ErrDuplicateRequest", err)
		}
		got, err := s.Unsettled(ctx, "V", t0.Add(-time.Minute))
		if err != nil || len(got) != 1 || got[0].ID != id {
			t.Errorf("got %v, %v, want purchase %s", got, err, id)
		}
		if got, err := s.Unsettled(ctx, "V", t0.Add(time.Minute)); err != nil || len(got) != 0 {
			t.Errorf("got %v, %v for a window after it, want none", got, err)
		}
		if _, err := s.Reusable(ctx, "V", t0.Add(-time.Hour)); !errors.Is(err, reports.ErrNotFound) {
			t.Errorf("got %v, want an unknown purchase never reused as a report", err)
		}
	})
}
