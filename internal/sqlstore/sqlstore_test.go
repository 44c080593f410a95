package sqlstore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
)

// migrations is a two-step history written once for both dialects.
var migrations = fstest.MapFS{
	"00001_items.sql": {Data: []byte(`-- +goose Up
CREATE TABLE items (
    id         TEXT PRIMARY KEY,
    note       TEXT,
    created_at BIGINT NOT NULL
);
-- +goose Down
DROP TABLE items;
`)},
	"00002_items_owner.sql": {Data: []byte(`-- +goose Up
ALTER TABLE items ADD COLUMN owner TEXT NOT NULL DEFAULT '';
-- +goose Down
ALTER TABLE items DROP COLUMN owner;
`)},
}

func TestOpenAndMigrate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     func(t *testing.T) string
		dialect sqlstore.Dialect
	}{
		{"sqlite url", func(t *testing.T) string { return sqlstoretest.SQLiteURL(t) }, sqlstore.SQLite},
		{"sqlite file uri", func(t *testing.T) string {
			return "file:" + filepath.Join(t.TempDir(), "f.db") + "?_pragma=foreign_keys(1)"
		}, sqlstore.SQLite},
		{"sqlite memory", func(*testing.T) string { return ":memory:" }, sqlstore.SQLite},
		{"postgres", func(t *testing.T) string { return sqlstoretest.PostgresURL(t, "sqlstore_test") }, sqlstore.Postgres},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, err := sqlstore.Open(ctx, tt.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if db.Dialect != tt.dialect {
				t.Errorf("got dialect %q, want %q", db.Dialect, tt.dialect)
			}
			// Twice: the second run finds nothing to do.
			for range 2 {
				if err := sqlstore.Migrate(ctx, db, migrations, "test_goose_version", nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO items (id, note, created_at, owner) VALUES ($1, $2, $3, $4)
				ON CONFLICT (id) DO NOTHING`, "a", nil, 1, "me"); err != nil {
				t.Fatal(err)
			}
			var owner string
			if err := db.QueryRowContext(ctx, `SELECT owner FROM items WHERE id = $1`, "a").Scan(&owner); err != nil {
				t.Fatal(err)
			}
			if owner != "me" {
				t.Errorf("got owner %q, want %q", owner, "me")
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, want string
	}{
		{"unknown scheme", "mysql://u:pw@host/db", "unsupported database URL"},
		{"password redacted", "mysql://u:hunter2@host/db", "u:xxxxx@host"},
		{"sqlite without path", "sqlite://", "names no SQLite file"},
		{"empty", "", "unsupported database URL"},
		{"postgres unreachable", "postgres://nobody:pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "connect to postgres database postgres://nobody:xxxxx@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, err := sqlstore.Open(context.Background(), tt.url)
			if err == nil {
				_ = db.Close()
				t.Fatalf("got no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("got %q, want it to contain %q and no password", err, tt.want)
			}
		})
	}
}

func TestMigrateReportsFailingFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstoretest.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bad := fstest.MapFS{"00001_bad.sql": {Data: []byte("-- +goose Up\nCREATE TABLEX nope;\n")}}
	err = sqlstore.Migrate(ctx, db, bad, "test_goose_version", nil)
	if err == nil || !strings.Contains(err.Error(), "00001_bad.sql") {
		t.Errorf("got %v, want an error naming 00001_bad.sql", err)
	}
}

// PostgreSQL's statements are pgx's to cache: the handle keeps none.
func TestPostgresStatementsAreLeftToPgx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqlstoretest.Open(t, sqlstoretest.PostgresURL(t, "stmtcache"))
	var one int
	if err := db.QueryRowContext(ctx, `SELECT $1::int`, 1).Scan(&one); err != nil || one != 1 {
		t.Fatalf("got %d, %v", one, err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sqlstore.CachedStatements(db); got != 0 {
		t.Errorf("%d statements prepared on PostgreSQL, want none", got)
	}
}
