// Package store keeps the esign service's state in SQL (SQLite or Postgres,
// through internal/sqlstore), so that it survives a restart and is shared
// by replicas: the template ids the service has sent to Fadada. The same
// database holds the request_id records (internal/idempotency).
package store

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is where goose records the esign migrations it ran.
const versionTable = "esign_goose_db_version"

// Store is the esign repository. It is safe for concurrent use.
type Store struct {
	db *sqlstore.DB
}

// Open opens the database at url (see sqlstore.Open) and brings its schema
// up to date.
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	db, err := sqlstore.OpenMigrated(ctx, url, migrations, "migrations", versionTable, log)
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// DB is the open database, for the request_id records.
func (s *Store) DB() *sqlstore.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// MarkTemplateSent records that templateID is about to be sent, and reports
// whether it had been recorded before (by this or any other process). Of
// two concurrent calls exactly one sees before == false.
func (s *Store) MarkTemplateSent(ctx context.Context, templateID string, at time.Time) (before bool, err error) {
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO esign_templates_sent (template_id, sent_at) VALUES ($1, $2)
		ON CONFLICT (template_id) DO NOTHING`, templateID, at.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("store: mark template %s sent: %w", templateID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: mark template %s sent: %w", templateID, err)
	}
	return n == 0, nil
}

// TemplateSent reports whether templateID is recorded as sent.
func (s *Store) TemplateSent(ctx context.Context, templateID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM esign_templates_sent WHERE template_id = $1`, templateID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: read template %s: %w", templateID, err)
	}
	return n > 0, nil
}

// ForgetTemplate removes templateID, for a first send known not to have
// reached the vendor: the id is then not ours there.
func (s *Store) ForgetTemplate(ctx context.Context, templateID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM esign_templates_sent WHERE template_id = $1`, templateID); err != nil {
		return fmt.Errorf("store: forget template %s: %w", templateID, err)
	}
	return nil
}
