package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
)

// TestSilentStoreFailsFast: a Postgres that accepts connections and then
// answers nothing fails every kind of store call within the timeout, as
// STORE_UNAVAILABLE, on open connections and on new ones.
func TestSilentStoreFailsFast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	proxy := sqlstoretest.NewProxy(t, sqlstoretest.PostgresURL(t, "silent"))
	db, err := sqlstore.Open(ctx, proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
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
