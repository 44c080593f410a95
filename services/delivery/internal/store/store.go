// Package store keeps what the delivery service must remember across
// restarts and share between replicas, in SQL (SQLite or Postgres, through
// internal/sqlstore): the orders it follows with their callback tokens, each
// order's status changes (events), and the raw status pushes the vendor sent.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is where goose records the delivery migrations it ran.
const versionTable = "delivery_goose_db_version"

// ErrNotFound is a lookup that found nothing.
var ErrNotFound = errors.New("store: not found")

// Source says how the service learnt of a status change.
type Source string

// The event sources.
const (
	// SourcePush is a vendor push, confirmed by reading the order back.
	SourcePush Source = "PUSH"
	// SourcePoll is a periodic read of the order.
	SourcePoll Source = "POLL"
	// SourceRead is a read by the service itself, e.g. when a watch starts.
	SourceRead Source = "READ"
)

// Event is one recorded status change of an order.
type Event struct {
	// OriginID is the order.
	OriginID string
	// ID numbers the order's events from 1.
	ID int64
	// RawStatus is the vendor's order_status after the change.
	RawStatus string
	// Snapshot is the order as read from the vendor, as the caller encoded it.
	Snapshot []byte
	// Source is how the change was learnt.
	Source Source
	// CreatedAt is when it was recorded.
	CreatedAt time.Time
}

// Push is one status push as the vendor sent it.
type Push struct {
	// OriginID is the order whose callback token the push carried.
	OriginID string
	// ContentType is the push's Content-Type as sent.
	ContentType string
	// Payload is the body as sent.
	Payload []byte
	// ReceivedAt is when it arrived.
	ReceivedAt time.Time
}

// Store is the delivery repository. It is safe for concurrent use, by
// several processes too when the database is Postgres.
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

// DB returns the open database, for the packages that share it (request
// ids, cross-replica locks and notifications).
func (s *Store) DB() *sqlstore.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Track records that the service follows originID and returns the order's
// callback token: token when the order is new or had none, the stored one
// otherwise (so that a repeated create sends the URL the vendor may
// already have).
func (s *Store) Track(ctx context.Context, originID, token string, at time.Time) (string, error) {
	if _, err := s.db.ExecContext(ctx, `
		INSERT INTO delivery_orders (origin_id, callback_token, created_at, updated_at)
		VALUES ($1, $2, $3, $3)
		ON CONFLICT (origin_id) DO UPDATE SET callback_token = excluded.callback_token
		WHERE delivery_orders.callback_token IS NULL`,
		originID, token, at.UnixMilli()); err != nil {
		return "", fmt.Errorf("store: track order %s: %w", originID, err)
	}
	var got sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT callback_token FROM delivery_orders WHERE origin_id = $1`,
		originID).Scan(&got); err != nil {
		return "", fmt.Errorf("store: read order %s: %w", originID, err)
	}
	return got.String, nil
}

// OrderByToken returns the order whose callback token is token, or
// ErrNotFound.
func (s *Store) OrderByToken(ctx context.Context, token string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT origin_id FROM delivery_orders WHERE callback_token = $1`, token).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: find order by token: %w", err)
	}
	return id, nil
}

// SavePush stores a push as it came.
func (s *Store) SavePush(ctx context.Context, p Push) error {
	id, err := newID()
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `
		INSERT INTO delivery_pushes (id, origin_id, content_type, payload, received_at)
		VALUES ($1, $2, $3, $4, $5)`,
		id, p.OriginID, p.ContentType, base64.StdEncoding.EncodeToString(p.Payload), p.ReceivedAt.UnixMilli()); err != nil {
		return fmt.Errorf("store: save push for %s: %w", p.OriginID, err)
	}
	return nil
}

// Pushes returns the pushes stored for originID, oldest first.
func (s *Store) Pushes(ctx context.Context, originID string) ([]Push, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT content_type, payload, received_at FROM delivery_pushes
		WHERE origin_id = $1 ORDER BY received_at, id`, originID)
	if err != nil {
		return nil, fmt.Errorf("store: pushes of %s: %w", originID, err)
	}
	defer rows.Close()
	var out []Push
	for rows.Next() {
		var p Push
		var payload string
		var at int64
		if err := rows.Scan(&p.ContentType, &payload, &at); err != nil {
			return nil, fmt.Errorf("store: pushes of %s: %w", originID, err)
		}
		if p.Payload, err = base64.StdEncoding.DecodeString(payload); err != nil {
			return nil, fmt.Errorf("store: push payload of %s: %w", originID, err)
		}
		p.OriginID, p.ReceivedAt = originID, time.UnixMilli(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Record records e (its OriginID, RawStatus, Snapshot, Source and
// CreatedAt) as the order's next event when its status differs from the
// last one recorded, and reports whether it did. It returns the event
// recorded, or the last one when the status did not change. Two replicas
// recording the same change at once record it once: the conditional
// update decides.
func (s *Store) Record(ctx context.Context, e Event) (Event, bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Event{}, false, fmt.Errorf("store: record %s: %w", e.OriginID, err)
	}
	defer func() { _ = tx.Rollback() }()
	at := e.CreatedAt.UnixMilli()
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO delivery_orders (origin_id, created_at, updated_at) VALUES ($1, $2, $2)
		ON CONFLICT (origin_id) DO NOTHING`, e.OriginID, at); err != nil {
		return Event{}, false, fmt.Errorf("store: record %s: %w", e.OriginID, err)
	}
	var id int64
	err = tx.QueryRowContext(ctx, `
		UPDATE delivery_orders SET raw_status = $2, last_event = last_event + 1, updated_at = $3
		WHERE origin_id = $1 AND raw_status <> $2
		RETURNING last_event`, e.OriginID, e.RawStatus, at).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		_ = tx.Rollback()
		last, err := s.Latest(ctx, e.OriginID)
		return last, false, err
	}
	if err != nil {
		return Event{}, false, fmt.Errorf("store: record %s: %w", e.OriginID, err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO delivery_order_events (origin_id, event_id, raw_status, snapshot, source, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		e.OriginID, id, e.RawStatus, string(e.Snapshot), string(e.Source), at); err != nil {
		return Event{}, false, fmt.Errorf("store: record %s: %w", e.OriginID, err)
	}
	if err := tx.Commit(); err != nil {
		return Event{}, false, fmt.Errorf("store: record %s: %w", e.OriginID, err)
	}
	e.ID = id
	e.CreatedAt = time.UnixMilli(at)
	return e, true, nil
}

// Events returns up to limit events of originID after the event afterID,
// oldest first.
func (s *Store) Events(ctx context.Context, originID string, afterID int64, limit int) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT event_id, raw_status, snapshot, source, created_at FROM delivery_order_events
		WHERE origin_id = $1 AND event_id > $2 ORDER BY event_id LIMIT $3`, originID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: events of %s: %w", originID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows, originID)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Latest returns originID's last event, or ErrNotFound when none is recorded.
func (s *Store) Latest(ctx context.Context, originID string) (Event, error) {
	row := s.db.QueryRowContext(ctx, `
		SELECT event_id, raw_status, snapshot, source, created_at FROM delivery_order_events
		WHERE origin_id = $1 ORDER BY event_id DESC LIMIT 1`, originID)
	e, err := scanEvent(row, originID)
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, ErrNotFound
	}
	return e, err
}

type scanner interface{ Scan(dest ...any) error }

func scanEvent(row scanner, originID string) (Event, error) {
	e := Event{OriginID: originID}
	var snapshot, source string
	var at int64
	if err := row.Scan(&e.ID, &e.RawStatus, &snapshot, &source, &at); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Event{}, err
		}
		return Event{}, fmt.Errorf("store: events of %s: %w", originID, err)
	}
	e.Snapshot, e.Source, e.CreatedAt = []byte(snapshot), Source(source), time.UnixMilli(at)
	return e, nil
}

func newID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: new id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
