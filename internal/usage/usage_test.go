package usage_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

var prices = map[string]int64{"maintenance /maintenance_report/order": 1700}

// ledgers opens n ledgers of service "vehicle" on one database of the
// dialect (n > 1 only on Postgres: replicas).
func ledgers(t *testing.T, d sqlstore.Dialect, n int, now func() time.Time) []*usage.Ledger {
	t.Helper()
	ctx := context.Background()
	url := sqlstoretest.SQLiteURL(t)
	if d == sqlstore.Postgres {
		url = sqlstoretest.PostgresURL(t, "usage")
	}
	var out []*usage.Ledger
	for range n {
		db, err := sqlstore.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		l, err := usage.New(ctx, db, "vehicle", usage.Options{Prices: prices, FlushEvery: time.Hour, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close(context.Background()); _ = db.Close() })
		out = append(out, l)
	}
	return out
}

func forEachDialect(t *testing.T, f func(t *testing.T, d sqlstore.Dialect)) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f(t, d)
		})
	}
}

// TestLedgerSummary: calls observed through vendorcall's hook are written
// on Close (nothing lost though the flush interval never came) and summed
// by day, caller and endpoint, with the cost of paid calls that succeeded.
func TestLedgerSummary(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
		l := ledgers(t, d, 1, func() time.Time { return now })[0]
		shop := auth.WithCaller(context.Background(), auth.Caller{Name: "shop"})
		ops := usage.WithRequestID(auth.WithCaller(context.Background(), auth.Caller{Name: "ops"}), "rid-1")
		order := vendorcall.Observation{Vendor: "maintenance", Endpoint: "/maintenance_report/order", Outcome: "ok", Latency: 30 * time.Millisecond}
		get := vendorcall.Observation{Vendor: "maintenance", Endpoint: "/maintenance_report/get", Outcome: "ok"}
		failed := order
		failed.Outcome = "OutcomeUnknown"
		l.Observe(shop, order)
		l.Observe(shop, order)
		l.Observe(shop, get)
		l.Observe(ops, failed)
		if err := l.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		rows, err := l.Summary(context.Background(), now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []usage.Row{
			{Day: "2026-11-29", Caller: "ops", Vendor: "maintenance", Endpoint: "/maintenance_report/order", Calls: 1, Failures: 1},
			{Day: "2026-11-29", Caller: "shop", Vendor: "maintenance", Endpoint: "/maintenance_report/get", Calls: 1},
			{Day: "2026-11-29", Caller: "shop", Vendor: "maintenance", Endpoint: "/maintenance_report/order", Calls: 2, CostFen: 3400},
		}
		if len(rows) != len(want) {
			t.Fatalf("got %+v, want %+v", rows, want)
		}
		for i := range want {
			if rows[i] != want[i] {
				t.Errorf("row %d: got %+v, want %+v", i, rows[i], want[i])
			}
		}
	})
}

// TestCloseLosesNothing: records queued when Close is called are written.
func TestCloseLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := sqlstoretest.SQLiteURL(t)
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	l, err := usage.New(ctx, db, "vehicle", usage.Options{FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 500 {
		l.Record(usage.Call{Vendor: "v", Endpoint: "/e", Outcome: "ok", At: now})
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	l2, err := usage.New(ctx, db, "vehicle", usage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close(ctx)
	rows, err := l2.Summary(ctx, now.Add(-time.Minute), now.Add(time.Minute))
	if err != nil || len(rows) != 1 || rows[0].Calls != 500 {
		t.Fatalf("got %+v, %v; want 500 calls", rows, err)
	}
}

// TestSpendCapHoldsAcrossReplicas: with a ¥50 cap and ¥17 reports, 20
// concurrent reservations over two replicas get exactly 2 through; the
// rest are RESOURCE_EXHAUSTED naming the quota, with a retry-after. A
// booking released as not applied frees its share.
func TestSpendCapHoldsAcrossReplicas(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		n := 1
		if d == sqlstore.Postgres {
			n = 2
		}
		ls := ledgers(t, d, n, time.Now)
		ctx := auth.WithCaller(context.Background(), auth.Caller{Name: "buyer", DailySpendCapYuan: "50"})
		var ok atomic.Int32
		var releases sync.Map
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				release, err := ls[i%n].Reserve(ctx, 1700)
				if err == nil {
					ok.Add(1)
					releases.Store(i, release)
					return
				}
				de, isDomain := domainerr.As(err)
				if !isDomain || de.Kind != domainerr.KindResourceExhausted || de.Reason != usage.ReasonSpendCap || de.Metadata["quota"] != "daily_spend_cap_yuan" || de.RetryAfter <= 0 {
					t.Errorf("got %v, want RESOURCE_EXHAUSTED %s with the quota and a retry-after", err, usage.ReasonSpendCap)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 2 {
			t.Fatalf("got %d reservations through, want 2", ok.Load())
		}
		releases.Range(func(_, r any) bool {
			r.(func(bool))(false)
			return false
		})
		if _, err := ls[0].Reserve(ctx, 1700); err != nil {
			t.Fatalf("after a release: %v", err)
		}
		// A caller without a cap is never refused.
		free := auth.WithCaller(context.Background(), auth.Caller{Name: "free"})
		for range 5 {
			if _, err := ls[0].Reserve(free, 1700); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestReplicasCountEachOther: two ledgers of one service on Postgres see
// two live replicas after a heartbeat; closing one leaves one.
func TestReplicasCountEachOther(t *testing.T) {
	t.Parallel()
	ls := ledgers(t, sqlstore.Postgres, 2, time.Now)
	if got := ls[1].Replicas(); got != 2 {
		t.Fatalf("second replica sees %d, want 2", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ls[0].Replicas() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("first replica still sees %d after its heartbeats, want 2", ls[0].Replicas())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := ls[1].Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for ls[0].Replicas() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after one left: still %d, want 1", ls[0].Replicas())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSQLiteLedgerHasNoHeartbeat: a SQLite store is one process's (its
// file lock refuses a second), so its ledger is the only replica and
// writes no heartbeat: an idle service on SQLite runs no statement every
// few seconds.
func TestSQLiteLedgerHasNoHeartbeat(t *testing.T) {
	t.Parallel()
	l, db := openLedgerWith(t, sqlstoretest.SQLiteURL(t), usage.Options{Prices: prices})
	var beats int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM usage_replicas`).Scan(&beats); err != nil {
		t.Fatal(err)
	}
	if beats != 0 || l.Replicas() != 1 {
		t.Errorf("got %d heartbeat rows and %d replicas, want none and 1", beats, l.Replicas())
	}
}

// TestUnknownOutcomesAreBookedUntilResolved: a paid call whose outcome is
// unknown costs its price and shows as unknown; resolved applied it is a
// known cost, resolved not applied it costs nothing.
func TestUnknownOutcomesAreBookedUntilResolved(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
		l := ledgers(t, d, 1, func() time.Time { return now })[0]
		lost := vendorcall.Observation{Vendor: "maintenance", Endpoint: "/maintenance_report/order", Outcome: "OUTCOME_UNKNOWN"}
		for _, rid := range []string{"rid-a", "rid-b", "rid-c"} {
			l.Observe(usage.WithRequestID(auth.WithCaller(ctx, auth.Caller{Name: "shop"}), rid), lost)
		}
		summary := func() usage.Row {
			t.Helper()
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			rows, err := l.Summary(ctx, now.Add(-time.Hour), now.Add(time.Hour))
			if err != nil || len(rows) != 1 {
				t.Fatalf("got %+v, %v; want one row", rows, err)
			}
			return rows[0]
		}
		if r := summary(); r.CostFen != 3*1700 || r.UnknownCalls != 3 || r.UnknownCostFen != 3*1700 {
			t.Fatalf("before resolution: got %+v, want ¥51 booked, all unknown", r)
		}
		if err := l.Resolve(ctx, "rid-a", true); err != nil {
			t.Fatal(err)
		}
		if err := l.Resolve(ctx, "rid-b", false); err != nil {
			t.Fatal(err)
		}
		if r := summary(); r.CostFen != 2*1700 || r.UnknownCalls != 1 || r.UnknownCostFen != 1700 || r.Failures != 2 {
			t.Fatalf("after resolution: got %+v, want ¥34 (one applied, one still unknown), ¥17 unknown", r)
		}
	})
}
