package usage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

// callColumns are usage_calls' columns in the order a batch writes them.
var callColumns = []string{"id", "service", "vendor", "endpoint", "caller", "request_id", "outcome", "latency_ms", "cost_fen", "at"}

// countColumns are usage_counts' columns in the order a batch writes them.
var countColumns = []string{"id", "service", "vendor", "endpoint", "caller", "outcome", "calls", "latency_ms", "at"}

// A table is where a batch's entries go: usage_calls, a row per call, or
// usage_counts, a row per count of free calls (Call.countable).
type table int

const (
	callsTable table = iota
	countsTable
)

func (t table) name() string { return [...]string{"usage_calls", "usage_counts"}[t] }

func (t table) columns() []string { return [...][]string{callColumns, countColumns}[t] }

// appendRow appends the values of entry c's row in t to dst, in t's
// columns' order.
func (l *Ledger) appendRow(dst []any, t table, c *Call) []any {
	if t == countsTable {
		return append(dst, c.id, l.service, c.Vendor, c.Endpoint, c.Caller, c.Outcome, max(c.calls, 1), c.Latency.Milliseconds(), c.At.UnixMilli())
	}
	return append(dst, c.id, l.service, c.Vendor, c.Endpoint, c.Caller, c.RequestID, c.Outcome, c.Latency.Milliseconds(), c.CostFen, c.At.UnixMilli())
}

// split returns batch's entries for each table.
func split(batch []Call) (calls, counts []Call) {
	for _, c := range batch {
		if c.countable() {
			counts = append(counts, c)
		} else {
			calls = append(calls, c)
		}
	}
	return calls, counts
}

// maxRowsPerInsert bounds the rows of one multi-row INSERT: its 10
// parameters a row stay far below SQLite's limit of 32766 variables (and
// Postgres's 65535), and a bigger statement buys little. A batch of the
// default size (200) is two of them.
const maxRowsPerInsert = 100

// write stores batch as a whole or not at all: one COPY on Postgres, one
// transaction of multi-row INSERTs elsewhere. A failed write leaves no row
// of the batch behind, so that Flush may queue it again. A call's row id
// is drawn at its first attempt and kept: a batch tried again after a
// write whose commit went through but whose answer was lost is written
// with INSERTs that skip the rows already there, so no call counts twice.
func (l *Ledger) write(ctx context.Context, batch []Call) error {
	again := false
	g := newIDs()
	for i := range batch {
		if batch[i].id == "" {
			batch[i].id = g.next()
		} else {
			again = true
		}
	}
	var err error
	switch {
	case l.rowAtATime:
		err = l.writeRows(ctx, batch)
	case l.db.Dialect == sqlstore.Postgres && !again:
		err = l.copyRows(ctx, batch)
	default:
		err = l.insertRows(ctx, batch)
	}
	if err != nil {
		return fmt.Errorf("usage: write %d calls: %w", len(batch), err)
	}
	return nil
}

// copyRows writes batch with COPY through the pgx connection under
// database/sql: one COPY into each table that has entries, in one
// transaction when both do, so all or nothing. The store bounds it, traces
// it and reports a store that fails as STORE_UNAVAILABLE, as it does every
// other statement. A connection of another driver falls back to
// insertRows.
func (l *Ledger) copyRows(ctx context.Context, batch []Call) error {
	calls, counts := split(batch)
	notPgx := false
	err := l.db.RawConn(ctx, "COPY", func(ctx context.Context, dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			notPgx = true
			return nil
		}
		var q interface {
			CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error)
		} = pc.Conn()
		var tx pgx.Tx
		if len(calls) > 0 && len(counts) > 0 {
			var err error
			if tx, err = pc.Conn().Begin(ctx); err != nil {
				return err
			}
			defer func() { _ = tx.Rollback(ctx) }()
			q = tx
		}
		for t, entries := range [...][]Call{calls, counts} {
			if len(entries) == 0 {
				continue
			}
			if _, err := q.CopyFrom(ctx, pgx.Identifier{table(t).name()}, table(t).columns(),
				pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) { return l.appendRow(nil, table(t), &entries[i]), nil })); err != nil {
				return err
			}
		}
		if tx != nil {
			return tx.Commit(ctx)
		}
		return nil
	})
	if notPgx {
		return l.insertRows(ctx, batch)
	}
	return err
}

// ids draws the row ids of a batch's calls: the time, in fixed-width
// hex, then a random part drawn once, then the row's number. Unique across
// attempts and replicas like the random ids before them, they keep the
// primary key's index growing at its right end: a batch of random ids
// dirtied a page of the index per row, which SQLite then wrote to its WAL
// page by page, and which made each write slower as the table grew.
type ids struct {
	base []byte
	n    int
}

func newIDs() *ids {
	b := make([]byte, 0, 64)
	b = fmt.Appendf(b, "%016x", uint64(time.Now().UnixNano()))
	return &ids{base: append(b, rand.Text()...)}
}

func (g *ids) next() string {
	id := string(strconv.AppendInt(g.base, int64(g.n), 10))
	g.n++
	return id
}

// insertRows writes batch in one transaction of multi-row INSERTs into
// its tables: full chunks of maxRowsPerInsert rows through one statement
// per table prepared once for the ledger (preparing it for each batch was
// 15 % of the write's CPU), the rest through one prepared for its size.
func (l *Ledger) insertRows(ctx context.Context, batch []Call) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	calls, counts := split(batch)
	for t, entries := range [...][]Call{calls, counts} {
		if err := l.insertInto(ctx, tx, table(t), entries); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// insertInto writes entries into t within tx.
func (l *Ledger) insertInto(ctx context.Context, tx *sql.Tx, t table, entries []Call) error {
	args := make([]any, 0, len(t.columns())*min(len(entries), maxRowsPerInsert))
	for len(entries) > 0 {
		chunk := entries[:min(len(entries), maxRowsPerInsert)]
		entries = entries[len(chunk):]
		args = args[:0]
		for i := range chunk {
			args = l.appendRow(args, t, &chunk[i])
		}
		var err error
		if len(chunk) < maxRowsPerInsert {
			_, err = tx.ExecContext(ctx, insertQuery(l.db.Dialect, t, len(chunk)), args...)
		} else {
			var stmt *sql.Stmt
			if stmt, err = l.chunkStmt(ctx, t); err == nil {
				_, err = tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// chunkStmt is t's INSERT of maxRowsPerInsert rows, prepared on first use;
// database/sql prepares it again on each connection that runs it.
func (l *Ledger) chunkStmt(ctx context.Context, t table) (*sql.Stmt, error) {
	l.chunkMu.Lock()
	defer l.chunkMu.Unlock()
	if l.chunk[t] == nil {
		stmt, err := l.db.PrepareContext(ctx, insertQuery(l.db.Dialect, t, maxRowsPerInsert))
		if err != nil {
			return nil, err
		}
		l.chunk[t] = stmt
	}
	return l.chunk[t], nil
}

// insertQuery is the INSERT of n rows. SQLite gets anonymous "?"
// parameters: it looks a numbered one ($7) up by a linear scan of the
// statement's parameters, in preparing and in binding, which made a
// 500-row INSERT of $N parameters slower than 500 single-row ones. And it
// gets OR IGNORE: a multi-row INSERT that may abort undoes its own rows,
// for which SQLite copies every page it changes to a statement journal
// (14 % of the write's CPU), and one that skips a row whose id is already
// there never aborts on it; a failure rolls the whole transaction back
// here anyway. Postgres gets ON CONFLICT (id) DO NOTHING. Either skips
// the rows of a batch whose earlier write committed unseen.
func insertQuery(d sqlstore.Dialect, t table, n int) string {
	cols := len(t.columns())
	var b strings.Builder
	b.Grow(160 + n*cols*6)
	if d == sqlstore.SQLite {
		b.WriteString("INSERT OR IGNORE")
	} else {
		b.WriteString("INSERT")
	}
	b.WriteString(" INTO " + t.name() + " (" + strings.Join(t.columns(), ", ") + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range cols {
			if j > 0 {
				b.WriteString(", ")
			}
			if d == sqlstore.SQLite {
				b.WriteByte('?')
			} else {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(i*cols + j + 1))
			}
		}
		b.WriteByte(')')
	}
	if d != sqlstore.SQLite {
		b.WriteString(" ON CONFLICT (id) DO NOTHING")
	}
	return b.String()
}

// writeRows is the ledger's former write, one INSERT per row in one
// transaction: the "before" of BenchmarkLedgerWrite.
func (l *Ledger) writeRows(ctx context.Context, batch []Call) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO usage_calls
		(id, service, vendor, endpoint, caller, request_id, outcome, latency_ms, cost_fen, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, c := range batch {
		if _, err := stmt.ExecContext(ctx, rand.Text(), l.service, c.Vendor, c.Endpoint, c.Caller, c.RequestID,
			c.Outcome, c.Latency.Milliseconds(), c.CostFen, c.At.UnixMilli()); err != nil {
			return err
		}
	}
	return tx.Commit()
}
