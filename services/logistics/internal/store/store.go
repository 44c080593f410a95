// Package store opens the logistics service's database (SQLite or
// Postgres, through internal/sqlstore) and keeps damaijia's shared login
// token in it, so that replicas log in once per expiry. Request_id records,
// money movements included, are internal/idempotency's, in the same
// database; this package only reads what the service recorded before it
// moved onto that engine (legacy.go).
package store

import (
	"context"
	"embed"
	"log/slog"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is where goose records the logistics migrations it ran.
const versionTable = "logistics_goose_db_version"

// Store is the service's database. It is safe for concurrent use.
type Store struct {
	db *sqlstore.DB
}

// Open opens the database at url (see sqlstore.Open) and migrates it.
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	db, err := sqlstore.OpenMigrated(ctx, url, migrations, "migrations", versionTable, log)
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// DB is the store's database, for the packages that share it (request_id
// records, cross-replica locks, the usage ledger).
func (s *Store) DB() *sqlstore.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
