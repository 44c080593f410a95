package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// cached is how many statements db holds prepared.
func cached(db *DB) int {
	db.stmts.mu.Lock()
	defer db.stmts.mu.Unlock()
	return len(db.stmts.stmts)
}

// A SQLite handle prepares each statement's text once and runs it
// prepared from then on (a ping prepares nothing); a text that does not
// prepare fails as it always did; past the cache's bound, texts run
// unprepared and still answer; a schema change under a prepared statement
// is picked up.
func TestSQLiteStatementsArePreparedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE items (id TEXT PRIMARY KEY, n BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := db.ExecContext(ctx, `INSERT INTO items (id, n) VALUES ($1, $2)`, fmt.Sprint(i), i); err != nil {
			t.Fatal(err)
		}
	}
	var sum int
	for range 3 {
		if err := db.QueryRowContext(ctx, `SELECT SUM(n) FROM items WHERE n >= $1`, 0).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, `SELECT id FROM items ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Close(); err != nil || n != 3 {
			t.Fatalf("got %d rows, %v; want 3", n, err)
		}
		if err := db.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if sum != 3 {
		t.Errorf("got sum %d, want 3", sum)
	}
	// CREATE, INSERT, SUM, SELECT id; the ping runs no statement.
	if got := cached(db); got != 4 {
		t.Errorf("%d statements prepared, want 4, one per text", got)
	}

	// Calls that first use a text at once keep one statement, and each
	// gets its answer.
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM items`).Scan(&n); err != nil || n != 3 {
				t.Errorf("got %d, %v; want 3", n, err)
			}
		})
	}
	wg.Wait()
	if got := cached(db); got != 5 {
		t.Errorf("%d statements prepared after concurrent first uses, want 5", got)
	}

	if _, err := db.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Errorf("got %v, want the store's own failure", err)
	}
	if got := cached(db); got != 5 {
		t.Errorf("a text that does not prepare was kept: %d statements", got)
	}

	if _, err := db.ExecContext(ctx, `ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT 'x'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO items (id, n) VALUES ($1, $2)`, "after", 4); err != nil {
		t.Fatalf("a prepared statement after a schema change: %v", err)
	}
	var note string
	if err := db.QueryRowContext(ctx, `SELECT note FROM items WHERE id = $1`, "after").Scan(&note); err != nil || note != "x" {
		t.Fatalf("got %q, %v; want the new column's default", note, err)
	}

	for i := range maxCachedStmts + 10 {
		var got int
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&got); err != nil || got != i {
			t.Fatalf("text %d past the bound: got %d, %v", i, got, err)
		}
	}
	if got := cached(db); got != maxCachedStmts {
		t.Errorf("%d statements prepared, want the bound, %d", got, maxCachedStmts)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := cached(db); got != 0 {
		t.Errorf("%d statements left after Close", got)
	}
}

// BenchmarkSQLitePointQuery is a primary-key SELECT on SQLite through the
// handle, prepared once and then only executed, and through a handle whose
// cache is full (of other texts), as every statement ran before the cache:
// parsed and planned on every call.
//
//	go test -run '^$' -bench SQLitePointQuery -count 6 ./internal/sqlstore/
func BenchmarkSQLitePointQuery(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE items (id TEXT PRIMARY KEY, service TEXT NOT NULL, n BIGINT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := db.ExecContext(ctx, `INSERT INTO items (id, service, n) VALUES ($1, $2, $3)`, fmt.Sprint(i), "vehicle", i); err != nil {
			b.Fatal(err)
		}
	}
	const query = `SELECT n FROM items WHERE service = $1 AND id = $2`
	for _, side := range []struct {
		name  string
		cache bool
	}{{"prepared", true}, {"parsed", false}} {
		b.Run(side.name, func(b *testing.B) {
			db.stmts.close()
			if !side.cache {
				for i := range maxCachedStmts {
					_ = db.stmt(ctx, fmt.Sprintf("SELECT %d", i))
				}
			}
			b.ReportAllocs()
			var n int
			for b.Loop() {
				if err := db.QueryRowContext(ctx, query, "vehicle", "500").Scan(&n); err != nil || n != 500 {
					b.Fatal(n, err)
				}
			}
		})
	}
}
