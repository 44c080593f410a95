// Package sqlstoretest gives tests a throw-away database of each dialect:
// a SQLite file in t.TempDir(), and a schema of its own on the Postgres
// server at 127.0.0.1:5432 that is dropped when the test ends.
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

// DefaultPostgresURL is the Postgres server tests use (CI starts it when it
// is down); VENDORGATE_TEST_POSTGRES_URL overrides it.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SQLiteURL returns the URL of a new SQLite database file in t.TempDir().
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "test.db")
}

// Open opens the database at rawURL (sqlstore.Open), failing the test when
// it does not open, and closes it when the test ends.
func Open(t testing.TB, rawURL string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// RequiredEnv, set to "required" (as .ci/run does), makes an unreachable
// test Postgres fail the tests that need it instead of skipping them.
const RequiredEnv = "VENDORGATE_TEST_POSTGRES"

// skipNotice is printed once per test binary when Postgres tests skip.
var skipNotice sync.Once

// PostgresURL creates a schema named prefix_<random> on the test server and
// returns a URL whose connections use it (search_path); the schema and all
// in it are dropped when the test ends. An unreachable server skips the
// test with one loud line naming VENDORGATE_TEST_POSTGRES_URL, or fails it
// when VENDORGATE_TEST_POSTGRES=required (CI): there a skipped database
// test would hide a broken repository.
func PostgresURL(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv("VENDORGATE_TEST_POSTGRES_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open test Postgres %s: %v", base, err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		msg := fmt.Sprintf("test Postgres at %s is unreachable (start it, or point VENDORGATE_TEST_POSTGRES_URL at one): %v", base, err)
		if os.Getenv(RequiredEnv) == "required" {
			t.Fatal(msg)
		}
		skipNotice.Do(func() {
			fmt.Fprintf(os.Stderr, "\n*** SKIPPING POSTGRES TESTS: %s; set %s=required to fail instead ***\n\n", msg, RequiredEnv)
		})
		t.Skip("Postgres tests skipped: " + msg)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := prefix + "_" + hex.EncodeToString(b)
	// schema is made of a caller's identifier and hex digits: safe to quote.
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA "`+schema+`"`); err != nil {
		_ = db.Close()
		t.Fatalf("create test schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA "`+schema+`" CASCADE`); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
		_ = db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
