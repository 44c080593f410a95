// Package usage records what every vendor call cost and who made it: a
// ledger written in batches off the hot path (and flushed on shutdown), a
// daily spending cap per caller and service that holds across replicas,
// and the per-day, per-caller, per-endpoint summaries behind GetUsage.
package usage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/money"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

//go:embed migrations/*.sql
var migrations embed.FS

// china is the day boundary of caps and summaries: the vendors bill by the
// China day.
var china = time.FixedZone("CST", 8*60*60)

// Day is t's China day, "2006-01-02".
func Day(t time.Time) string { return t.In(china).Format(time.DateOnly) }

// ReasonSpendCap is the ErrorInfo reason of a call over its daily cap.
const ReasonSpendCap = "DAILY_SPEND_CAP_REACHED"

type requestIDKey struct{}

// WithRequestID returns ctx carrying the call's request_id, for the ledger.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom is the request_id WithRequestID put in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Options configure a Ledger.
type Options struct {
	// Prices are the unit costs of paid calls in fen, keyed
	// "vendor endpoint", e.g. {"maintenance /maintenance_report/order": 1700}.
	Prices map[string]int64
	// Retention is how long rows are kept; 0 means 400 days.
	Retention time.Duration
	// BatchSize and FlushEvery bound how long a record waits to be
	// written; 0 means 200 and 1 s.
	BatchSize  int
	FlushEvery time.Duration
	// Logger receives write failures.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultRetention is how long the ledger keeps rows by default.
const DefaultRetention = 400 * 24 * time.Hour

// Ledger records one service's vendor calls. It is safe for concurrent use.
type Ledger struct {
	db      *sqlstore.DB
	service string
	opts    Options
	locks   coord.Locks
	log     *slog.Logger

	mu      sync.Mutex
	pending []Call
	// folded folds pending's counted calls as they are recorded, so that
	// pending holds rows: a batch is BatchSize rows, not BatchSize calls
	// that mostly fold into a few (a busy service's free reads wrote a
	// transaction of one or two rows every 200 calls).
	folded folder
	// spare is the array of the last batch written, cleared, for the next
	// one to fill: each batch growing its own array from nothing was
	// 440 bytes allocated per call.
	spare  []Call
	closed bool
	// flushing is held through a Flush's write, so that a Flush (Resolve's,
	// Close's) that finds nothing queued has waited for a batch another
	// Flush took and is still writing.
	flushing sync.Mutex
	kick     chan struct{}
	done     chan struct{}

	replica  string       // this process's id in usage_replicas
	replicas atomic.Int64 // live replicas of the service, this one included

	// rowAtATime writes a batch one INSERT per row, as the ledger did
	// before batched writes: kept for BenchmarkLedgerWrite's "before".
	rowAtATime bool

	chunkMu sync.Mutex
	chunk   [2]*sql.Stmt // by table; see chunkStmt
}

// heartbeatEvery is how often a replica says it is alive; one silent for
// three beats counts as gone.
const heartbeatEvery = 5 * time.Second

// Call is one ledger row.
type Call struct {
	Vendor, Endpoint, Caller, RequestID, Outcome string
	Latency                                      time.Duration
	CostFen                                      int64
	At                                           time.Time
	// id is the call's row id, drawn at its first write attempt and kept
	// for the next ones.
	id string
	// calls is how many calls a counted entry (countable) stands for once
	// Record has folded them together (0 before: one); Latency is then
	// their sum and At the first one's.
	calls int64
}

// countable reports whether c is counted with the calls like it, in
// usage_counts, rather than written as a row of its own: a free call that
// carries no request_id, which no resolution or audit looks up (a read,
// mostly). A call that cost money or belongs to a request keeps its row.
func (c *Call) countable() bool { return c.RequestID == "" && c.CostFen == 0 }

// countKey is what the calls counted in one entry share: the second they
// were made in keeps a report's days (and the retention's cut) exact.
type countKey struct {
	vendor, endpoint, caller, outcome string
	second                            int64
}

// countKey is the count row a countable call folds into.
func (c *Call) countKey() countKey {
	return countKey{c.Vendor, c.Endpoint, c.Caller, c.Outcome, c.At.Unix()}
}

// folder folds countable calls that have no row id yet into one entry per
// countKey as they are added, keeping the order of the entries' first
// calls. Entries with a row id were written, or tried, before: they stay as
// they are, so that a write tried again writes the same rows.
type folder struct {
	at map[countKey]int // an entry's index, by the key its calls share
}

// add appends c to entries, or adds it to the entry of its key.
func (f *folder) add(entries []Call, c Call) []Call {
	if c.id != "" || !c.countable() {
		return append(entries, c)
	}
	k := c.countKey()
	if i, ok := f.at[k]; ok {
		entries[i].calls += max(c.calls, 1)
		entries[i].Latency += c.Latency
		return entries
	}
	if f.at == nil {
		f.at = make(map[countKey]int)
	}
	f.at[k] = len(entries)
	c.calls = max(c.calls, 1)
	return append(entries, c)
}

// index makes f fold into entries, whose countable entries without a row
// id are already one per key.
func (f *folder) index(entries []Call) {
	clear(f.at)
	for i := range entries {
		if c := &entries[i]; c.id == "" && c.countable() {
			if f.at == nil {
				f.at = make(map[countKey]int)
			}
			f.at[c.countKey()] = i
		}
	}
}

// New opens service's ledger in db and starts its writer; Close flushes
// and stops it.
func New(ctx context.Context, db *sqlstore.DB, service string, opts Options) (*Ledger, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := sqlstore.Migrate(ctx, db, sub, service+"_usage_goose_db_version", opts.Logger); err != nil {
		return nil, err
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 200
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Ledger{db: db, service: service, opts: opts, locks: coord.NewLocks(db), log: opts.Logger,
		kick: make(chan struct{}, 1), done: make(chan struct{}), replica: rand.Text()}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.replicas.Store(1)
	if !db.OneProcessOnly() {
		l.heartbeat(ctx)
	}
	go l.writer()
	return l, nil
}

// outcomeNotApplied is the outcome of a call whose unknown outcome was
// resolved as not applied.
const outcomeNotApplied = "NOT_APPLIED"

// Observe records a vendor call: vendorcall.Options.Observe. A paid call
// costs its price when it succeeded, and when its outcome is unknown: the
// vendor may have charged for it, so it is booked until resolved
// (Resolve). It returns the cost booked, in fen, for the call's span.
func (l *Ledger) Observe(ctx context.Context, o vendorcall.Observation) int64 {
	var cost int64
	if o.Outcome == "ok" || o.Outcome == vendorerr.ReasonOutcomeUnknown {
		cost = l.opts.Prices[o.Vendor+" "+o.Endpoint]
	}
	l.Record(Call{Vendor: o.Vendor, Endpoint: o.Endpoint, Caller: auth.CallerFrom(ctx), RequestID: RequestIDFrom(ctx),
		Outcome: o.Outcome, Latency: o.Latency, CostFen: cost, At: l.opts.Now()})
	return cost
}

// Record queues c for the next batch. It never blocks on the database.
func (l *Ledger) Record(c Call) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.log.Error("usage ledger closed; call not recorded", "vendor", c.Vendor, "endpoint", c.Endpoint)
		return
	}
	if l.rowAtATime {
		l.pending = append(l.pending, c)
	} else {
		l.pending = l.folded.add(l.pending, c)
	}
	full := len(l.pending) >= l.opts.BatchSize
	l.mu.Unlock()
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// Flush writes every queued record now: when it returns nil, every call
// recorded before it was called is in the store.
func (l *Ledger) Flush(ctx context.Context) error {
	l.flushing.Lock()
	defer l.flushing.Unlock()
	l.mu.Lock()
	batch := l.pending
	if len(batch) == 0 {
		l.mu.Unlock()
		return nil
	}
	l.pending, l.spare = l.spare, nil
	l.folded.index(nil)
	l.mu.Unlock()
	if err := l.write(ctx, batch); err != nil {
		// Put them back in front, to be tried again; the calls recorded
		// since are counted apart from the entries tried (which now
		// have row ids).
		l.mu.Lock()
		l.pending = append(batch, l.pending...)
		l.folded.index(l.pending)
		l.mu.Unlock()
		return err
	}
	// The batch's array is the next one's, unless a backlog grew it far
	// beyond a batch.
	if cap(batch) <= 4*l.opts.BatchSize {
		clear(batch[:cap(batch)])
		l.mu.Lock()
		l.spare = batch[:0]
		l.mu.Unlock()
	}
	return nil
}

// Close stops the writer and writes what is queued: a graceful shutdown
// loses no record. Call it after the servers have stopped.
func (l *Ledger) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.kick)
	<-l.done
	err := l.Flush(ctx)
	l.chunkMu.Lock()
	for _, stmt := range l.chunk {
		if stmt != nil {
			_ = stmt.Close()
		}
	}
	l.chunkMu.Unlock()
	return err
}

func (l *Ledger) writer() {
	defer close(l.done)
	t := time.NewTicker(l.opts.FlushEvery)
	defer t.Stop()
	sweep := time.NewTicker(time.Hour)
	defer sweep.Stop()
	// A SQLite store is one process's (its file lock refuses a second):
	// that process is the only replica, with nothing to count.
	var beats <-chan time.Time
	if !l.db.OneProcessOnly() {
		beat := time.NewTicker(heartbeatEvery)
		defer beat.Stop()
		beats = beat.C
	}
	for {
		select {
		case _, ok := <-l.kick:
			if !ok {
				l.leave()
				return
			}
		case <-t.C:
		case <-sweep.C:
			l.sweep()
			continue
		case <-beats:
			ctx, cancel := context.WithTimeout(context.Background(), heartbeatEvery)
			l.heartbeat(ctx)
			cancel()
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := l.Flush(ctx); err != nil {
			l.log.Warn("usage ledger write failed; will retry", "service", l.service, "error", err)
		}
		cancel()
	}
}

// sweep deletes rows older than the retention.
func (l *Ledger) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cut := l.opts.Now().Add(-l.opts.Retention)
	for _, table := range []string{"usage_calls", "usage_counts"} {
		if _, err := l.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE service = $1 AND at < $2`, l.service, cut.UnixMilli()); err != nil {
			l.log.Warn("usage ledger sweep failed", "table", table, "error", err)
		}
	}
	if _, err := l.db.ExecContext(ctx, `DELETE FROM usage_spend WHERE service = $1 AND at < $2`, l.service, cut.UnixMilli()); err != nil {
		l.log.Warn("usage spend sweep failed", "error", err)
	}
}

// Replicas is how many replicas of the service are alive (at least 1), as
// of the last heartbeat (1 on SQLite, whose store is one process's): a
// per-caller rate is shared out among them.
func (l *Ledger) Replicas() int { return int(max(1, l.replicas.Load())) }

// heartbeat records this replica as alive and counts the live ones.
func (l *Ledger) heartbeat(ctx context.Context) {
	now := l.opts.Now()
	if _, err := l.db.ExecContext(ctx, `INSERT INTO usage_replicas (service, replica, seen_at) VALUES ($1, $2, $3)
		ON CONFLICT (service, replica) DO UPDATE SET seen_at = excluded.seen_at`, l.service, l.replica, now.UnixMilli()); err != nil {
		l.log.Warn("replica heartbeat failed", "service", l.service, "error", err)
		return
	}
	var n int64
	if err := l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_replicas WHERE service = $1 AND seen_at >= $2`,
		l.service, now.Add(-3*heartbeatEvery).UnixMilli()).Scan(&n); err != nil {
		l.log.Warn("replica count failed", "service", l.service, "error", err)
		return
	}
	l.replicas.Store(n)
	// Forget replicas long gone.
	_, _ = l.db.ExecContext(ctx, `DELETE FROM usage_replicas WHERE service = $1 AND seen_at < $2`, l.service, now.Add(-time.Hour).UnixMilli())
}

// leave removes this replica at shutdown, so the others take up its share.
func (l *Ledger) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = l.db.ExecContext(ctx, `DELETE FROM usage_replicas WHERE service = $1 AND replica = $2`, l.service, l.replica)
}

// Price is the unit cost in fen of a paid call, 0 for a free one.
func (l *Ledger) Price(vendor, endpoint string) int64 { return l.opts.Prices[vendor+" "+endpoint] }

// Reserve books costFen of today's spend for ctx's caller before a paid
// call: when it would take the caller over its daily cap for this service
// (auth.Caller.DailySpendCapYuan), it is RESOURCE_EXHAUSTED with reason
// DAILY_SPEND_CAP_REACHED and a retry-after until the next China day,
// before any vendor call. The booking is exact across replicas: it is
// made under a lock per caller and day. Call release(false) when the
// vendor surely did not apply the call; the booking then no longer counts.
func (l *Ledger) Reserve(ctx context.Context, costFen int64) (release func(applied bool), err error) {
	caller, ok := auth.CallerOf(ctx)
	capFen, capped := caller.SpendCapFen()
	if !ok || !capped || costFen <= 0 {
		return func(bool) {}, nil
	}
	now := l.opts.Now()
	day := Day(now)
	unlock, err := l.locks.Lock(ctx, "usage/spend/"+l.service+"/"+caller.Name+"/"+day)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var spent int64
	if err := l.db.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(cost_fen), 0) AS BIGINT) FROM usage_spend WHERE service = $1 AND caller = $2 AND day = $3`,
		l.service, caller.Name, day).Scan(&spent); err != nil {
		return nil, fmt.Errorf("usage: read spend of %s: %w", caller.Name, err)
	}
	if spent+costFen > capFen {
		next := time.Date(now.In(china).Year(), now.In(china).Month(), now.In(china).Day()+1, 0, 0, 0, 0, china)
		e := domainerr.ResourceExhausted(ReasonSpendCap,
			fmt.Sprintf("caller %s has spent ¥%s of its ¥%s daily cap on %s; this call costs ¥%s", caller.Name,
				money.Yuan(spent), money.Yuan(capFen), l.service, money.Yuan(costFen)),
			map[string]string{"quota": "daily_spend_cap_yuan", "caller": caller.Name, "spent_yuan": money.Yuan(spent),
				"cap_yuan": money.Yuan(capFen), "cost_yuan": money.Yuan(costFen)})
		e.RetryAfter = next.Sub(now)
		return nil, e
	}
	id := rand.Text()
	if _, err := l.db.ExecContext(ctx, `INSERT INTO usage_spend (id, service, caller, day, cost_fen, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, l.service, caller.Name, day, costFen, now.UnixMilli()); err != nil {
		return nil, fmt.Errorf("usage: book spend of %s: %w", caller.Name, err)
	}
	return func(applied bool) {
		if applied {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := l.db.ExecContext(ctx, `DELETE FROM usage_spend WHERE id = $1`, id); err != nil {
			l.log.Warn("usage: spend booking not released; it still counts against the cap", "caller", caller.Name, "error", err)
		}
	}, nil
}

// SpentToday is what each caller has booked against its daily cap on this
// service so far today (the China day), in fen, across replicas: the sum
// Reserve compares with the cap. Callers with no booking today are absent.
func (l *Ledger) SpentToday(ctx context.Context) (map[string]int64, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT caller, CAST(SUM(cost_fen) AS BIGINT) FROM usage_spend
		WHERE service = $1 AND day = $2 GROUP BY caller`, l.service, Day(l.opts.Now()))
	if err != nil {
		return nil, fmt.Errorf("usage: read today's spend: %w", err)
	}
	defer rows.Close()
	spent := map[string]int64{}
	for rows.Next() {
		var caller string
		var fen int64
		if err := rows.Scan(&caller, &fen); err != nil {
			return nil, fmt.Errorf("usage: read today's spend: %w", err)
		}
		spent[caller] = fen
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage: read today's spend: %w", err)
	}
	return spent, nil
}

// Resolve settles the ledger rows of requestID's calls whose outcome was
// unknown: applied, they become successful calls at their price; not
// applied, they cost nothing. It is the hook of the request_id engine's
// resolutions (idempotency.Store.OnResolve).
func (l *Ledger) Resolve(ctx context.Context, requestID string, applied bool) error {
	if requestID == "" {
		return nil
	}
	// The calls may still wait in the batch.
	if err := l.Flush(ctx); err != nil {
		return err
	}
	outcome, keep := outcomeNotApplied, 0
	if applied {
		outcome, keep = "ok", 1
	}
	if _, err := l.db.ExecContext(ctx, `UPDATE usage_calls SET outcome = $3, cost_fen = cost_fen * $4
		WHERE service = $1 AND request_id = $2 AND outcome = $5`,
		l.service, requestID, outcome, keep, vendorerr.ReasonOutcomeUnknown); err != nil {
		return fmt.Errorf("usage: resolve %s: %w", requestID, err)
	}
	return nil
}

// Row is one line of a summary.
type Row struct {
	Day, Caller, Vendor, Endpoint string
	Calls, Failures, CostFen      int64
	// UnknownCalls and UnknownCostFen are the calls whose outcome is
	// unknown, and the part of CostFen booked for them.
	UnknownCalls, UnknownCostFen int64
}

// Summary aggregates the service's calls at or after from and before to
// by China day, caller, vendor and endpoint, ordered that way.
func (l *Ledger) Summary(ctx context.Context, from, to time.Time) ([]Row, error) {
	if !to.After(from) {
		return nil, errors.New("usage: summary range is empty")
	}
	const dayMs = 24 * 60 * 60 * 1000
	const offsetMs = 8 * 60 * 60 * 1000
	// A row of usage_calls is one call; a row of usage_counts is calls
	// calls, free, of one outcome.
	rows, err := l.db.QueryContext(ctx, `
		SELECT d, caller, vendor, endpoint, CAST(SUM(calls) AS BIGINT), CAST(SUM(failures) AS BIGINT),
			CAST(SUM(cost_fen) AS BIGINT), CAST(SUM(unknown_calls) AS BIGINT), CAST(SUM(unknown_cost_fen) AS BIGINT)
		FROM (
			SELECT (at + $4) / $5 AS d, caller, vendor, endpoint, 1 AS calls,
				CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END AS failures, cost_fen,
				CASE WHEN outcome = $6 THEN 1 ELSE 0 END AS unknown_calls,
				CASE WHEN outcome = $6 THEN cost_fen ELSE 0 END AS unknown_cost_fen
			FROM usage_calls WHERE service = $1 AND at >= $2 AND at < $3
			UNION ALL
			SELECT (at + $4) / $5, caller, vendor, endpoint, calls,
				CASE WHEN outcome = 'ok' THEN 0 ELSE calls END, 0,
				CASE WHEN outcome = $6 THEN calls ELSE 0 END, 0
			FROM usage_counts WHERE service = $1 AND at >= $2 AND at < $3
		) AS u
		GROUP BY d, caller, vendor, endpoint ORDER BY d, caller, vendor, endpoint`,
		l.service, from.UnixMilli(), to.UnixMilli(), offsetMs, dayMs, vendorerr.ReasonOutcomeUnknown)
	if err != nil {
		return nil, fmt.Errorf("usage: summary: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		var d int64
		if err := rows.Scan(&d, &r.Caller, &r.Vendor, &r.Endpoint, &r.Calls, &r.Failures, &r.CostFen, &r.UnknownCalls, &r.UnknownCostFen); err != nil {
			return nil, fmt.Errorf("usage: summary: %w", err)
		}
		r.Day = time.UnixMilli(d * dayMs).UTC().Format(time.DateOnly)
		out = append(out, r)
	}
	return out, rows.Err()
}
