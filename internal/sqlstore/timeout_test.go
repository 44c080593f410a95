package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
)

// TestSilentStoreFailsFast: a Postgres that accepts connections and then
// answers nothing fails every kind of store call within the timeout, as
// STORE_UNAVAILABLE, on open connections and on new ones.
func TestSilentStoreFailsFast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	proxy := sqlstoretest.NewProxy(t, sqlstoretest.PostgresURL(t, "silent"))
	db := sqlstoretest.Open(t, proxy.URL)
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (x BIGINT)`); err != nil {
		t.Fatal(err)
	}
	db.SetTimeout(300 * time.Millisecond)
	proxy.Silence()
	calls := map[string]func() error{
		"exec": func() error { _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (1)`); return err },
		"query": func() error {
			rows, err := db.QueryContext(ctx, `SELECT x FROM t`)
			if err == nil {
				err = rows.Close()
			}
			return err
		},
		"row": func() error { var n int; return db.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n) },
		"begin": func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err == nil {
				_ = tx.Rollback()
			}
			return err
		},
		"ping": func() error { return db.PingContext(ctx) },
		"raw": func() error {
			return db.RawConn(ctx, "COPY", func(ctx context.Context, dc any) error {
				_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{"t"}, []string{"x"}, pgx.CopyFromRows([][]any{{int64(1)}}))
				return err
			})
		},
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		if err == nil {
			t.Errorf("%s: got no error from a silent store", name)
			continue
		}
		if took > 2*time.Second {
			t.Errorf("%s: took %v, want about the 300ms timeout", name, took)
		}
		if name != "row" { // *sql.Row's Scan error is the driver's, unwrapped
			if d, ok := domainerr.As(err); !ok || d.Reason != domainerr.ReasonStoreUnavailable {
				t.Errorf("%s: got %v, want STORE_UNAVAILABLE", name, err)
			}
		}
	}
	proxy.Speak()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Errorf("after the store came back: %v", err)
	}
}

// TestSQLitePingTellsWhatAStatementWould: on SQLite the ping takes a
// connection instead of running "SELECT 1", and still fails, as
// STORE_UNAVAILABLE within the timeout, where that statement would while
// the pool is held by a call that does not return. It answers again when
// the pool is given back, and fails once the handle is closed.
func TestSQLitePingTellsWhatAStatementWould(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteURL(t))
	db.SetTimeout(300 * time.Millisecond)
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	wantUnavailable := func(what string, call func() error) {
		t.Helper()
		start := time.Now()
		err := call()
		if d, ok := domainerr.As(err); !ok || d.Reason != domainerr.ReasonStoreUnavailable {
			t.Errorf("%s: got %v, want STORE_UNAVAILABLE", what, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: took %v, want about the 300ms timeout", what, took)
		}
	}

	held, err := db.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantUnavailable("ping with the pool held", func() error { return db.PingContext(ctx) })
	wantUnavailable("SELECT 1 with the pool held", func() error {
		_, err := db.ExecContext(ctx, `SELECT 1`)
		return err
	})
	_ = held.Close()
	if err := db.PingContext(ctx); err != nil {
		t.Errorf("ping with the pool given back: %v", err)
	}

	_ = db.Close()
	if err := db.PingContext(ctx); err == nil {
		t.Error("ping after Close: got no error")
	}
}
