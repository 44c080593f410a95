package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"time"

	"github.com/vendorgate/vendorgate/internal/domainerr"
)

// DefaultTimeout bounds every store call when SetTimeout was not called
// (<SERVICE>_DATABASE_TIMEOUT).
const DefaultTimeout = 5 * time.Second

// SetTimeout bounds every statement, query (rows read included) and
// transaction of db to d from its start, and the wait for a connection:
// a store that accepts connections and never answers fails the call within
// d instead of hanging it. d <= 0 means DefaultTimeout. Call it before use.
func (db *DB) SetTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultTimeout
	}
	db.timeout = d
}

// Timeout is the bound SetTimeout set.
func (db *DB) Timeout() time.Duration {
	if db.timeout <= 0 {
		return DefaultTimeout
	}
	return db.timeout
}

// bound returns ctx cut off after the store timeout, unless its own
// deadline comes first, and a release for a call that is over. A query's
// cut-off stays armed after it returns (not released), so that rows read
// later and a transaction's later statements are bounded too: its timer
// ends it, and releases it, within the timeout.
func (db *DB) bound(ctx context.Context) (context.Context, func()) {
	d := db.Timeout()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, func() {}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, d, errTimedOut)
	return ctx, cancel
}

// errTimedOut is the cause of a store call cut off by the store timeout.
var errTimedOut = errors.New("the store did not answer within its timeout")

// unavailable turns a failure of the store itself (no answer within the
// timeout, a refused or broken connection) into domainerr.StoreUnavailable
// (UNAVAILABLE STORE_UNAVAILABLE, which a caller may retry); any other
// error (a constraint, no rows) is returned as it is.
func unavailable(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var op *net.OpError
	if errors.Is(context.Cause(ctx), errTimedOut) || errors.As(err, &op) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return domainerr.StoreUnavailable(err)
	}
	return err
}

// ExecContext is sql.DB's, bounded by the store timeout.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, span := db.startSpan(ctx, "EXEC", query)
	ctx, release := db.bound(ctx)
	defer release()
	var res sql.Result
	var err error
	if st := db.stmt(ctx, query); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = db.DB.ExecContext(ctx, query, args...)
	}
	err = unavailable(ctx, err)
	endSpan(span, err)
	return res, err
}

// QueryContext is sql.DB's, bounded by the store timeout (reading the rows
// included).
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, span := db.startSpan(ctx, "QUERY", query)
	ctx, release := db.bound(ctx)
	var rows *sql.Rows
	var err error
	if st := db.stmt(ctx, query); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = db.DB.QueryContext(ctx, query, args...)
	}
	if err != nil {
		release()
	}
	err = unavailable(ctx, err)
	endSpan(span, err)
	return rows, err
}

// QueryRowContext is sql.DB's, bounded by the store timeout (Scan
// included).
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx, span := db.startSpan(ctx, "QUERY", query)
	defer endSpan(span, nil)
	ctx, _ = db.bound(ctx)
	if st := db.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.DB.QueryRowContext(ctx, query, args...)
}

// BeginTx is sql.DB's; the whole transaction is bounded by the store
// timeout.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	ctx, span := db.startSpan(ctx, "BEGIN", "BEGIN")
	ctx, release := db.bound(ctx)
	tx, err := db.DB.BeginTx(ctx, opts)
	if err != nil {
		release()
	}
	err = unavailable(ctx, err)
	endSpan(span, err)
	return tx, err
}

// RawConn runs f on the driver connection of one pooled connection (pgx's
// *stdlib.Conn for a COPY, say) as the other store calls run: in a span
// "store <verb>", bounded by the store timeout (taking the connection
// included; f gets the bounded context), with a failure of the store itself
// returned as STORE_UNAVAILABLE.
func (db *DB) RawConn(ctx context.Context, verb string, f func(ctx context.Context, driverConn any) error) error {
	ctx, span := db.startSpan(ctx, verb, verb)
	ctx, release := db.bound(ctx)
	defer release()
	err := func() error {
		conn, err := db.DB.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Raw(func(dc any) error { return f(ctx, dc) })
	}()
	err = unavailable(ctx, err)
	endSpan(span, err)
	return err
}

// PingContext is sql.DB's, bounded by the store timeout: what a readiness
// probe asks.
//
// On SQLite it takes a connection from the pool, which the driver checks
// is usable, and gives it back. The driver's own ping runs "SELECT 1",
// which reads no page of the file: it can fail only where taking the
// connection fails (the handle closed, the pool held by calls that do not
// return, a new connection that does not open). Stepping SQLite's engine
// for every probe, though, kept about 2 MiB of its code resident in an
// idle service (docs/benchmarks.md).
func (db *DB) PingContext(ctx context.Context) error {
	ctx, release := db.bound(ctx)
	defer release()
	if db.Dialect == SQLite {
		conn, err := db.DB.Conn(ctx)
		if err == nil {
			err = conn.Close()
		}
		return unavailable(ctx, err)
	}
	return unavailable(ctx, db.DB.PingContext(ctx))
}
