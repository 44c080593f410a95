// Package sqlstore opens a service's SQL database, either an embedded SQLite
// file (modernc.org/sqlite, pure Go, no cgo) or Postgres (pgx), and applies
// the service's embedded migrations with github.com/pressly/goose.
//
// Repositories built on it write one dialect of SQL for both: positional
// parameters as $1, $2 (both drivers accept them), INSERT … ON CONFLICT,
// TEXT and BIGINT columns, and times stored as unix milliseconds.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect is the SQL dialect of an open database.
type Dialect string

// The supported dialects.
const (
	// SQLite is an embedded SQLite database file.
	SQLite Dialect = "sqlite"
	// Postgres is a PostgreSQL server.
	Postgres Dialect = "postgres"
)

// sqlitePragmas are added to a SQLite DSN unless it sets them itself: wait
// for a lock instead of failing with SQLITE_BUSY, let readers run beside the
// writer, and take the write lock when a transaction begins so that two
// transactions never deadlock upgrading their read locks.
var sqlitePragmas = map[string]string{
	"_pragma":       "busy_timeout(10000)",
	"_journal_mode": "WAL",
	"_txlock":       "immediate",
}

// DB is an open database.
type DB struct {
	*sql.DB
	// Dialect is the database's SQL dialect.
	Dialect Dialect

	release func() // drops the SQLite file lock
	timeout time.Duration
	stmts   stmtCache

	valuesMu sync.Mutex
	values   map[any]any
}

// Value returns the value stored under key for this handle, storing init()
// on first use: per-database singletons, such as the in-process locks that
// stand in for PostgreSQL's on SQLite, which every user of the handle must
// share.
func (db *DB) Value(key any, init func() any) any {
	db.valuesMu.Lock()
	defer db.valuesMu.Unlock()
	if v, ok := db.values[key]; ok {
		return v
	}
	if db.values == nil {
		db.values = map[any]any{}
	}
	v := init()
	db.values[key] = v
	return v
}

// Close closes the database and, for a SQLite file, lets another process
// open it.
func (db *DB) Close() error {
	db.stmts.close()
	err := db.DB.Close()
	if db.release != nil {
		db.release()
	}
	return err
}

// OneProcessOnly reports whether the database limits the service to one
// process (SQLite), which services say at start-up.
func (db *DB) OneProcessOnly() bool { return db.Dialect == SQLite }

// WarnOneProcess logs, when the database is SQLite, that service must run
// as one process on it and that replicas need urlVar (e.g.
// "VEHICLE_DATABASE_URL") to name PostgreSQL: what every service says at
// start-up. rawURL is logged without its password.
func (db *DB) WarnOneProcess(log *slog.Logger, service, urlVar, rawURL string) {
	if !db.OneProcessOnly() {
		return
	}
	log.Warn(service+" keeps its state in an embedded SQLite file: run ONE process of the "+service+
		" service on it (a second one is refused); replicas need "+urlVar+"=postgres://… (shared by all of them)",
		"database", Redact(rawURL))
}

// Open opens the database that rawURL names and checks that it answers:
//
//   - "postgres://…" or "postgresql://…" is Postgres, through pgx; runtime
//     parameters such as search_path may be given in the query;
//   - "sqlite:///abs/path.db", "sqlite://rel/path.db" or "sqlite:path.db" is
//     a SQLite file, created when missing;
//   - "file:path.db" (SQLite's own URI form) and ":memory:" are SQLite too.
//
// A SQLite file is locked for as long as it is open: a second process
// opening it gets ErrSQLiteInUse, since the services' in-process
// coordination holds within one process only.
//
// The SQLite forms may carry modernc.org/sqlite DSN parameters in the query.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	driver, dsn, dialect, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	release := func() {}
	if dialect == SQLite {
		if release, err = lockSQLiteFile(dsn); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		release()
		return nil, fmt.Errorf("sqlstore: open %s: %w", dialect, err)
	}
	if isMemory(dsn) {
		// Every connection to :memory: is a database of its own.
		db.SetMaxOpenConns(1)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		release()
		return nil, fmt.Errorf("sqlstore: connect to %s database %s: %w", dialect, Redact(rawURL), err)
	}
	return &DB{DB: db, Dialect: dialect, release: release}, nil
}

// parse maps a database URL to a database/sql driver and DSN.
func parse(rawURL string) (driver, dsn string, dialect Dialect, err error) {
	scheme, rest, _ := strings.Cut(rawURL, ":")
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return "pgx", withConnectTimeout(rawURL), Postgres, nil
	case "sqlite", "sqlite3":
		// sqlite:///abs → /abs, sqlite://rel → rel, sqlite:rel → rel.
		path := strings.TrimPrefix(rest, "//")
		if path == "" || strings.HasPrefix(path, "?") {
			return "", "", "", fmt.Errorf("sqlstore: %q names no SQLite file", rawURL)
		}
		dsn, err := sqliteDSN(path)
		return "sqlite", dsn, SQLite, err
	case "file":
		dsn, err := sqliteDSN(rawURL)
		return "sqlite", dsn, SQLite, err
	}
	if rawURL == ":memory:" {
		dsn, err := sqliteDSN(rawURL)
		return "sqlite", dsn, SQLite, err
	}
	return "", "", "", fmt.Errorf("sqlstore: unsupported database URL %q: want postgres://…, sqlite://… or file:…", Redact(rawURL))
}

// withConnectTimeout adds a connect_timeout (seconds) to a Postgres URL
// that sets none, so that a server that accepts TCP and never answers
// fails the connection instead of hanging it.
func withConnectTimeout(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL // pgx reports it
	}
	q := u.Query()
	if q.Has("connect_timeout") {
		return rawURL
	}
	q.Set("connect_timeout", "5")
	u.RawQuery = q.Encode()
	return u.String()
}

// sqliteDSN adds the default pragmas to a SQLite DSN that does not set them.
func sqliteDSN(dsn string) (string, error) {
	path, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("sqlstore: SQLite parameters %q: %w", rawQuery, err)
	}
	for k, v := range sqlitePragmas {
		if k == "_pragma" {
			if !hasPragma(q[k], "busy_timeout") {
				q.Add(k, v)
			}
			continue
		}
		if !q.Has(k) {
			q.Set(k, v)
		}
	}
	if isMemory(path) {
		// WAL needs a file.
		q.Del("_journal_mode")
	}
	return path + "?" + q.Encode(), nil
}

func hasPragma(pragmas []string, name string) bool {
	for _, p := range pragmas {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), name) {
			return true
		}
	}
	return false
}

func isMemory(dsn string) bool {
	return strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory")
}

// Redact returns rawURL without its password, for logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	return u.Redacted()
}

// Migrate applies the goose SQL migrations in fsys (files such as
// "00001_orders.sql" at its root) that db has not run yet. versionTable
// names the table goose records them in; give each service its own, so that
// services sharing a database keep separate histories. On Postgres a
// session-level advisory lock lets only one replica migrate at a time.
func Migrate(ctx context.Context, db *DB, fsys fs.FS, versionTable string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(versionTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(log),
	}
	var dialect goose.Dialect
	switch db.Dialect {
	case SQLite:
		dialect = goose.DialectSQLite3
	case Postgres:
		dialect = goose.DialectPostgres
		locker, err := postgresLocker(ctx, db, versionTable)
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		return fmt.Errorf("sqlstore: migrate: unknown dialect %q", db.Dialect)
	}
	p, err := goose.NewProvider(dialect, db.DB, fsys, opts...)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) && partial.Failed != nil && partial.Failed.Source != nil {
			return fmt.Errorf("sqlstore: migration %s failed: %w", partial.Failed.Source.Path, err)
		}
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "database migration applied", "migration", r.Source.Path, "duration_ms", r.Duration.Milliseconds())
	}
	return nil
}

// postgresLocker is goose's advisory-lock locker with a lock id of its own
// per schema and version table, so that services (or test schemas) sharing
// one server do not wait for each other, probing every second for up to five
// minutes.
func postgresLocker(ctx context.Context, db *DB, versionTable string) (lock.SessionLocker, error) {
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, fmt.Errorf("sqlstore: migrate: read current schema: %w", err)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte("goose:" + schema.String + "." + versionTable))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return locker, nil
}

// OpenMigrated opens the database at rawURL (see Open) and brings its
// schema up to date with the migrations in fsys's folder dir (see Migrate),
// closing it again when that fails: what a service's store does at start.
func OpenMigrated(ctx context.Context, rawURL string, fsys fs.FS, dir, versionTable string, log *slog.Logger) (*DB, error) {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, err
	}
	db, err := Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, db, sub, versionTable, log); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}
