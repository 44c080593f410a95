package usage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/usage"
)

// openLedger opens a ledger of service "vehicle" that writes only when
// flushed, on a new database of the dialect, and returns its database too.
func openLedger(t testing.TB, d sqlstore.Dialect) (*usage.Ledger, *sqlstore.DB) {
	t.Helper()
	url := sqlstoretest.SQLiteURL(t)
	if d == sqlstore.Postgres {
		url = sqlstoretest.PostgresURL(t, "usagewrite")
	}
	return openLedgerAt(t, url)
}

// openLedgerAt is openLedger on the database at url.
func openLedgerAt(t testing.TB, url string) (*usage.Ledger, *sqlstore.DB) {
	t.Helper()
	return openLedgerWith(t, url, usage.Options{BatchSize: 1 << 30, FlushEvery: time.Hour})
}

// openLedgerWith opens service vehicle's ledger with opts on the database
// at url, both closed when the test ends.
func openLedgerWith(t testing.TB, url string, opts usage.Options) (*usage.Ledger, *sqlstore.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	l, err := usage.New(ctx, db, "vehicle", opts)
	if err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()); _ = db.Close() })
	return l, db
}

// call is the i-th of a test batch: every field differs from row to row,
// and its cost is i fen.
func call(i int, at time.Time) usage.Call {
	return usage.Call{Vendor: fmt.Sprintf("vendor-%d", i%3), Endpoint: fmt.Sprintf("/endpoint/%d", i%7),
		Caller: fmt.Sprintf("caller-%d", i%5), RequestID: fmt.Sprintf("rid-%d", i), Outcome: "ok",
		Latency: time.Duration(i) * time.Millisecond, CostFen: int64(i), At: at.Add(time.Duration(i) * time.Millisecond)}
}

// totals are what the store holds of service vehicle's calls.
type totals struct{ Calls, CostFen, LatencyMs, RequestIDs, IDs int64 }

func readTotals(t testing.TB, db *sqlstore.DB) totals {
	t.Helper()
	var got totals
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*), CAST(COALESCE(SUM(cost_fen), 0) AS BIGINT),
		CAST(COALESCE(SUM(latency_ms), 0) AS BIGINT), COUNT(DISTINCT request_id), COUNT(DISTINCT id)
		FROM usage_calls WHERE service = 'vehicle'`).Scan(&got.Calls, &got.CostFen, &got.LatencyMs, &got.RequestIDs, &got.IDs); err != nil {
		t.Fatal(err)
	}
	return got
}

// wantTotals are the totals of calls 0 … n-1.
func wantTotals(n int64) totals {
	return totals{Calls: n, CostFen: n * (n - 1) / 2, LatencyMs: n * (n - 1) / 2, RequestIDs: n, IDs: n}
}

// TestBatchIsWrittenExactly: a batch bigger than one multi-row INSERT
// (and not a multiple of it) is written whole, once, every field in its
// column.
func TestBatchIsWrittenExactly(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		l, db := openLedger(t, d)
		at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
		const n = 1234
		for i := range n {
			l.Record(call(i, at))
		}
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := readTotals(t, db), wantTotals(n); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
		var got usage.Call
		var latencyMs, atMs int64
		if err := db.QueryRowContext(ctx, `SELECT vendor, endpoint, caller, request_id, outcome, latency_ms, cost_fen, at
			FROM usage_calls WHERE service = 'vehicle' AND request_id = 'rid-1000'`).Scan(
			&got.Vendor, &got.Endpoint, &got.Caller, &got.RequestID, &got.Outcome, &latencyMs, &got.CostFen, &atMs); err != nil {
			t.Fatal(err)
		}
		got.Latency, got.At = time.Duration(latencyMs)*time.Millisecond, time.UnixMilli(atMs).UTC()
		if want := call(1000, at); got != want {
			t.Errorf("row rid-1000: got %+v, want %+v", got, want)
		}
		// Nothing is written twice by a second flush.
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := readTotals(t, db), wantTotals(n); got != want {
			t.Errorf("after a second flush: got %+v, want %+v", got, want)
		}
	})
}

// failOn makes the store refuse any usage_calls or usage_counts row whose
// endpoint is endpoint, until the returned function drops the triggers.
func failOn(t *testing.T, db *sqlstore.DB, endpoint string) (heal func()) {
	t.Helper()
	ctx := context.Background()
	var stmts, drop []string
	if db.Dialect == sqlstore.Postgres {
		stmts = []string{`CREATE FUNCTION usage_fail() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF NEW.endpoint = '` + endpoint + `' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`}
	}
	for _, table := range []string{"usage_calls", "usage_counts"} {
		if db.Dialect == sqlstore.Postgres {
			stmts = append(stmts, `CREATE TRIGGER usage_fail BEFORE INSERT ON `+table+` FOR EACH ROW EXECUTE FUNCTION usage_fail()`)
			drop = append(drop, `DROP TRIGGER usage_fail ON `+table)
			continue
		}
		stmts = append(stmts, `CREATE TRIGGER `+table+`_fail BEFORE INSERT ON `+table+`
			WHEN NEW.endpoint = '`+endpoint+`' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
		drop = append(drop, `DROP TRIGGER `+table+`_fail`)
	}
	if db.Dialect == sqlstore.Postgres {
		drop = append(drop, `DROP FUNCTION usage_fail()`)
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		for _, s := range drop {
			if _, err := db.ExecContext(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestFailedBatchIsRetriedWhole: a store failure in the middle of a batch
// (a row past the first multi-row INSERT) leaves none of its rows; the
// batch stays queued, ahead of the calls recorded since, and the flush
// after the store recovers writes each call exactly once.
func TestFailedBatchIsRetriedWhole(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		l, db := openLedger(t, d)
		at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
		const n, bad = 1000, 700
		heal := failOn(t, db, "/fail")
		for i := range n {
			c := call(i, at)
			if i == bad {
				c.Endpoint = "/fail"
			}
			l.Record(c)
		}
		for attempt := range 2 {
			if err := l.Flush(ctx); err == nil {
				t.Fatalf("flush %d: got no error from a failing store", attempt)
			}
			if got := readTotals(t, db); got != (totals{}) {
				t.Fatalf("after failed flush %d: got %+v in the store, want nothing", attempt, got)
			}
		}
		for i := n; i < n+10; i++ {
			l.Record(call(i, at))
		}
		heal()
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := readTotals(t, db), wantTotals(n+10); got != want {
			t.Errorf("after recovery: got %+v, want %+v", got, want)
		}
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := readTotals(t, db), wantTotals(n+10); got != want {
			t.Errorf("after another flush: got %+v, want %+v", got, want)
		}
	})
}

// TestBatchCommittedUnseenIsNotCountedTwice: a batch whose write committed
// but whose answer was lost (Flush saw an error and queued it again) is
// written again with the same row ids, and the rows already there are
// skipped: every call counts once, on every store, the COPY of Postgres
// included.
func TestBatchCommittedUnseenIsNotCountedTwice(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		l, db := openLedger(t, d)
		at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
		const n = 250
		batch := make([]usage.Call, n)
		for i := range batch {
			batch[i] = call(i, at)
		}
		if err := usage.Write(ctx, l, batch); err != nil {
			t.Fatal(err)
		}
		// The answer was lost: the same batch comes back, with calls
		// recorded since behind it.
		for i := n; i < n+5; i++ {
			batch = append(batch, call(i, at))
		}
		if err := usage.Write(ctx, l, batch); err != nil {
			t.Fatalf("the batch again: %v", err)
		}
		if got, want := readTotals(t, db), wantTotals(n+5); got != want {
			t.Errorf("got %+v, want %+v: each call once", got, want)
		}
	})
}

// TestFlushWaitsForAWriteInFlight: a Flush that finds nothing queued
// returns only once the batch another Flush took is in the store, so that
// Resolve (which flushes, then updates the request's rows) never updates
// rows that are still on their way and leaves their cost unknown. On
// Postgres, whose trigger can make the first write slow.
func TestFlushWaitsForAWriteInFlight(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		if d != sqlstore.Postgres {
			t.Skip("needs a store that can make a write slow (a Postgres trigger with pg_sleep)")
		}
		ctx := context.Background()
		l, db := openLedger(t, d)
		for _, stmt := range []string{`CREATE FUNCTION usage_slow() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF NEW.endpoint = '/slow' THEN PERFORM pg_sleep(0.5); END IF; RETURN NEW; END $$`,
			`CREATE TRIGGER usage_slow BEFORE INSERT ON usage_calls FOR EACH ROW EXECUTE FUNCTION usage_slow()`} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
		for i := range 200 {
			c := call(i, at)
			if i == 0 {
				c.Endpoint = "/slow"
			}
			l.Record(c)
		}
		first := make(chan error, 1)
		go func() { first <- l.Flush(ctx) }()
		time.Sleep(100 * time.Millisecond) // the first flush has taken the queue and is writing
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := readTotals(t, db).Calls; got != 200 {
			t.Errorf("right after the second flush the store has %d calls, want 200", got)
		}
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	})
}

// TestSilentStoreFailsTheCopy: a Postgres that stops answering under a
// flush (its COPYs, into both tables in one transaction) fails it within
// the store timeout as STORE_UNAVAILABLE, like every other statement; once
// the store answers again the batch is written, every call exactly once.
func TestSilentStoreFailsTheCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	proxy := sqlstoretest.NewProxy(t, sqlstoretest.PostgresURL(t, "usagesilent"))
	l, db := openLedgerAt(t, proxy.URL)
	// Cleanups run last first: the store speaks again before the ledger
	// closes.
	t.Cleanup(proxy.Speak)
	const timeout = 300 * time.Millisecond
	db.SetTimeout(timeout)
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	const n = 50
	for i := range n {
		l.Record(call(i, at))
		l.Record(freeCall(i, at)) // both tables: the COPYs' transaction
	}
	proxy.Silence()
	start := time.Now()
	err := l.Flush(ctx)
	took := time.Since(start)
	if d, ok := domainerr.As(err); !ok || d.Reason != domainerr.ReasonStoreUnavailable {
		t.Fatalf("flush on a silent store: got %v, want STORE_UNAVAILABLE", err)
	}
	// Bounded by the store timeout, not by the flush's own (none here).
	if took > 10*timeout {
		t.Errorf("flush on a silent store took %v, want about the %v store timeout", took, timeout)
	}
	proxy.Speak()
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := readTotals(t, db), wantTotals(n); got != want {
		t.Errorf("after the store came back: got %+v, want %+v", got, want)
	}
	if got := readCounted(t, db); got.Calls != 2*n {
		t.Errorf("after the store came back: got %+v, want %d calls in all", got, 2*n)
	}
}

// counted is what the store holds of service vehicle's calls in both
// tables: the calls each row stands for, and the rows.
type counted struct{ Calls, Failures, Rows, CountRows int64 }

func readCounted(t testing.TB, db *sqlstore.DB) counted {
	t.Helper()
	var got counted
	if err := db.QueryRowContext(context.Background(), `SELECT
		(SELECT COUNT(*) FROM usage_calls WHERE service = 'vehicle') +
			(SELECT CAST(COALESCE(SUM(calls), 0) AS BIGINT) FROM usage_counts WHERE service = 'vehicle'),
		(SELECT COUNT(*) FROM usage_calls WHERE service = 'vehicle' AND outcome <> 'ok') +
			(SELECT CAST(COALESCE(SUM(calls), 0) AS BIGINT) FROM usage_counts WHERE service = 'vehicle' AND outcome <> 'ok'),
		(SELECT COUNT(*) FROM usage_calls WHERE service = 'vehicle'),
		(SELECT COUNT(*) FROM usage_counts WHERE service = 'vehicle')`).Scan(&got.Calls, &got.Failures, &got.Rows, &got.CountRows); err != nil {
		t.Fatal(err)
	}
	return got
}

// freeCall is the i-th free read of a test: no request_id, no cost, one of
// two callers, every tenth one failed, made i ms after at.
func freeCall(i int, at time.Time) usage.Call {
	outcome := "ok"
	if i%10 == 0 {
		outcome = "VENDOR_UNAVAILABLE"
	}
	return usage.Call{Vendor: "dingdang", Endpoint: "/open/order/orderRecord", Caller: fmt.Sprintf("caller-%d", i%2),
		Outcome: outcome, Latency: time.Millisecond, At: at.Add(time.Duration(i) * time.Millisecond)}
}

// TestFreeCallsAreCounted: free calls without a request_id take a row per
// caller, outcome and second in usage_counts, not one each, and the
// summary counts every one of them (and its failures) beside the calls
// that keep their rows.
func TestFreeCallsAreCounted(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		l, db := openLedger(t, d)
		at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
		const free, paid = 2500, 5 // over 2.5 s
		for i := range free {
			l.Record(freeCall(i, at))
		}
		for i := range paid {
			l.Record(call(i+1, at))
		}
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got := readCounted(t, db)
		// caller-0's ok and failed calls, caller-1's ok ones (every tenth
		// call is caller-0's), in each of 3 seconds.
		if got.Calls != free+paid || got.Failures != free/10 || got.Rows != paid || got.CountRows != 9 {
			t.Errorf("got %+v, want %d calls, %d failures, %d rows and 9 counting rows", got, free+paid, free/10, paid)
		}
		rows, err := l.Summary(ctx, at.Add(-time.Hour), at.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var calls, failures int64
		for _, r := range rows {
			if r.Endpoint == "/open/order/orderRecord" {
				calls, failures = calls+r.Calls, failures+r.Failures
				if r.CostFen != 0 || r.UnknownCalls != 0 {
					t.Errorf("free calls' row %+v has a cost or unknown calls", r)
				}
			}
		}
		if calls != free || failures != free/10 {
			t.Errorf("summary: got %d calls, %d failures of orderRecord, want %d, %d", calls, failures, free, free/10)
		}
	})
}

// TestCountedCallsAreWrittenOnce: a flush of counted calls that fails
// leaves nothing in either table, and calls recorded since are counted
// apart from the entries already folded (and numbered): once the store
// takes them, every call counts once, however many flushes failed.
func TestCountedCallsAreWrittenOnce(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		l, db := openLedger(t, d)
		heal := failOn(t, db, "/fail")
		at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
		bad := freeCall(0, at)
		bad.Endpoint = "/fail"
		l.Record(bad)
		n := 1
		for attempt := range 3 {
			for range 100 {
				l.Record(freeCall(n, at))
				l.Record(call(n, at))
				n++
			}
			if err := l.Flush(ctx); err == nil {
				t.Fatalf("flush %d: got no error from a failing store", attempt)
			}
			if got := readCounted(t, db); got != (counted{}) {
				t.Fatalf("after failed flush %d: got %+v in the store, want nothing", attempt, got)
			}
		}
		heal()
		for i := 0; i < 2; i++ {
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// bad, and calls 1 … n-1 twice: a free one and a paid one each.
		if got := readCounted(t, db); got.Calls != int64(1+2*(n-1)) || got.Rows != int64(n-1) {
			t.Errorf("got %+v, want %d calls, %d of them in rows of their own", got, 1+2*(n-1), n-1)
		}
	})
}

// TestCountedCallsCommittedUnseenAreNotLost: a batch whose counts were
// written but whose answer was lost comes back with calls recorded since
// behind it; those are counted in entries of their own, not added to the
// entries already written (which the store then skips): no call is lost,
// none counted twice.
func TestCountedCallsCommittedUnseenAreNotLost(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		l, db := openLedger(t, d)
		at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
		var calls []usage.Call
		for i := range 100 {
			calls = append(calls, freeCall(i, at))
		}
		batch := usage.Fold(calls)
		if err := usage.Write(ctx, l, batch); err != nil {
			t.Fatal(err)
		}
		// The answer was lost: the batch comes back, and the same second's
		// calls since join it.
		for i := 100; i < 150; i++ {
			batch = append(batch, freeCall(i, at))
		}
		if err := usage.Write(ctx, l, usage.Fold(batch)); err != nil {
			t.Fatal(err)
		}
		if got := readCounted(t, db); got.Calls != 150 || got.Failures != 15 {
			t.Errorf("got %+v, want 150 calls, 15 failed: each once", got)
		}
	})
}

// TestABatchIsRowsNotCalls: the writer is woken by BatchSize rows queued,
// not calls: a thousand free calls of one caller in one second are one
// row, which waits for the flush interval, where they used to wake a write
// every BatchSize calls; with 9 paid calls, a row each, the batch is
// BatchSize rows and wakes it.
func TestABatchIsRowsNotCalls(t *testing.T) {
	t.Parallel()
	l, db := openLedgerWith(t, sqlstoretest.SQLiteURL(t), usage.Options{BatchSize: 10, FlushEvery: time.Hour})
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for range 1000 {
		l.Record(usage.Call{Vendor: "dingdang", Endpoint: "/open/order/orderRecord", Caller: "shop", Outcome: "ok", Latency: time.Millisecond, At: at})
	}
	time.Sleep(300 * time.Millisecond) // a woken writer writes in milliseconds
	if got := readCounted(t, db); got != (counted{}) {
		t.Fatalf("got %+v written: 1000 calls that fold into one row woke the writer", got)
	}
	for i := range 9 {
		l.Record(call(i, at))
	}
	deadline := time.Now().Add(10 * time.Second)
	for readCounted(t, db).Rows != 9 {
		if time.Now().After(deadline) {
			t.Fatalf("a batch of 10 rows was not written: %+v", readCounted(t, db))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := readCounted(t, db); got.Calls != 1009 || got.CountRows != 1 {
		t.Errorf("got %+v, want 1009 calls, the free ones in one count row", got)
	}
}
