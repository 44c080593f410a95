// Package store keeps the vehicle service's report purchases and reports in
// SQL (SQLite or Postgres, through internal/sqlstore), so that fresh reports
// and orders in flight survive a restart and are shared by replicas. Store
// is the use-case's reports.Store, in its domain types (reports.Order,
// reports.Purchase, reports.State and the errors it looks for).
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is where goose records the vehicle migrations it ran.
const versionTable = "vehicle_goose_db_version"

// Store is the purchase repository. It is safe for concurrent use.
type Store struct {
	db *sqlstore.DB
}

var _ reports.Store = (*Store)(nil)

// Open opens the database at url (see sqlstore.Open) and brings its schema
// up to date.
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	db, err := sqlstore.OpenMigrated(ctx, url, migrations, "migrations", versionTable, log)
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// DB is the database, for the locks that replicas share through it.
func (s *Store) DB() *sqlstore.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Begin records a purchase in state reports.StateBuying before the vendor is
// called, and returns its id. The request_id engine has decided that the
// request id buys anew (it holds the request id's lock, and its record of
// an earlier purchase with it, if any, has expired), so an older purchase
// with a known outcome gives the request id up and stays as an order
// without one. A purchase of unknown outcome keeps it: reports.ErrDuplicateRequest.
func (s *Store) Begin(ctx context.Context, p reports.Purchase, at time.Time) (string, error) {
	id, err := newID()
	if err != nil {
		return "", err
	}
	if p.RequestID != "" {
		if _, err := s.db.ExecContext(ctx, `UPDATE vehicle_orders SET request_id = NULL
			WHERE request_id = $1 AND state NOT IN ($2, $3)`, p.RequestID, reports.StateBuying, reports.StateUnknown); err != nil {
			return "", fmt.Errorf("store: begin purchase: %w", err)
		}
	}
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO vehicle_orders (id, vin, engine_number, plate_number, request_id, state, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (request_id) DO NOTHING`,
		id, p.VIN, p.EngineNumber, p.PlateNumber, nullString(p.RequestID), reports.StateBuying, at.UnixMilli())
	if err != nil {
		return "", fmt.Errorf("store: begin purchase: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("store: begin purchase: %w", err)
	} else if n == 0 {
		return "", reports.ErrDuplicateRequest
	}
	return id, nil
}

// Bought records the vendor's order id for purchase id: the order is
// reports.StatePending. A purchase whose outcome was marked unknown meanwhile is
// settled by it. One with a known outcome (removed, or resolved) is
// reports.ErrNotFound, and the caller must log the order id, since nothing else
// records it.
func (s *Store) Bought(ctx context.Context, id, orderID string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE vehicle_orders SET order_id = $2, state = $3, bought_at = $4
		WHERE id = $1 AND state IN ($5, $6)`,
		id, orderID, reports.StatePending, at.UnixMilli(), reports.StateBuying, reports.StateUnknown)
	if err != nil {
		return fmt.Errorf("store: record purchase of order %s: %w", orderID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: record purchase of order %s: %w", orderID, err)
	} else if n == 0 {
		return fmt.Errorf("store: record purchase of order %s: purchase %s: %w", orderID, id, reports.ErrNotFound)
	}
	return nil
}

// Abandon deletes purchase id if it is still StateBuying: the vendor call
// failed, or the purchase was left behind by a process that died.
func (s *Store) Abandon(ctx context.Context, id string) error {
	return s.exec(ctx, "abandon purchase", `DELETE FROM vehicle_orders WHERE id = $1 AND state = $2`, id, reports.StateBuying)
}

// Unsettled returns vin's purchases whose outcome is not known: those in
// reports.StateUnknown that started at or after since, and those in reports.StateBuying
// (in flight, or left by a process that died), newest first.
func (s *Store) Unsettled(ctx context.Context, vin string, since time.Time) ([]reports.Order, error) {
	return s.many(ctx, `SELECT `+columns+` FROM vehicle_orders
		WHERE vin = $1 AND (state = $2 OR (state = $3 AND created_at >= $4))
		ORDER BY created_at DESC, id`,
		vin, reports.StateBuying, reports.StateUnknown, since.UnixMilli())
}

// Finish records the finished report of a pending order: state is
// reports.StateReady or reports.StateNoRecords, report the vendor's answer as sent. An order
// already finished keeps its first report.
func (s *Store) Finish(ctx context.Context, orderID string, state reports.State, report []byte, at time.Time) error {
	if !state.Finished() {
		return fmt.Errorf("store: finish order %s with state %s", orderID, state)
	}
	return s.exec(ctx, "finish order", `
		UPDATE vehicle_orders SET state = $2, report_json = $3, ready_at = $4
		WHERE order_id = $1 AND state = $5`,
		orderID, state, string(report), at.UnixMilli(), reports.StatePending)
}

// ByOrderID returns the order with the vendor's order id, or reports.ErrNotFound.
func (s *Store) ByOrderID(ctx context.Context, orderID string) (reports.Order, error) {
	return s.one(ctx, `SELECT `+columns+` FROM vehicle_orders WHERE order_id = $1`, orderID)
}

// ByRequestID returns the purchase made for a request id, or reports.ErrNotFound.
func (s *Store) ByRequestID(ctx context.Context, requestID string) (reports.Order, error) {
	return s.one(ctx, `SELECT `+columns+` FROM vehicle_orders WHERE request_id = $1`, requestID)
}

// Reusable returns the order for vin that a lookup can use instead of
// buying: the newest report finished at or after since, or else the newest
// order bought at or after since that is still pending. reports.ErrNotFound when
// there is neither.
func (s *Store) Reusable(ctx context.Context, vin string, since time.Time) (reports.Order, error) {
	return s.one(ctx, `SELECT `+columns+` FROM vehicle_orders
		WHERE vin = $1 AND (
			(state IN ($3, $4) AND ready_at >= $2) OR
			(state = $5 AND bought_at >= $2))
		ORDER BY CASE WHEN state = $5 THEN 1 ELSE 0 END, bought_at DESC
		LIMIT 1`,
		vin, since.UnixMilli(), reports.StateReady, reports.StateNoRecords, reports.StatePending)
}

// columns are the columns scan reads, in its order.
const columns = `id, order_id, vin, engine_number, plate_number, request_id, state, report_json, created_at, bought_at, ready_at`

func (s *Store) one(ctx context.Context, query string, args ...any) (reports.Order, error) {
	return scanOrder(s.db.QueryRowContext(ctx, query, args...))
}

func (s *Store) exec(ctx context.Context, what, query string, args ...any) error {
	if _, err := s.db.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

func millis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

func newID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: new id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// scanner is a row or rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanOrder reads one row of columns; no row is reports.ErrNotFound.
func scanOrder(row scanner) (reports.Order, error) {
	var (
		o                  reports.Order
		orderID, requestID sql.NullString
		boughtAt, readyAt  sql.NullInt64
		createdAt          int64
	)
	err := row.Scan(&o.ID, &orderID, &o.VIN, &o.EngineNumber, &o.PlateNumber,
		&requestID, &o.State, &o.Report, &createdAt, &boughtAt, &readyAt)
	if errors.Is(err, sql.ErrNoRows) {
		return reports.Order{}, reports.ErrNotFound
	}
	if err != nil {
		return reports.Order{}, fmt.Errorf("store: read order: %w", err)
	}
	o.OrderID, o.RequestID = orderID.String, requestID.String
	o.CreatedAt, o.BoughtAt, o.ReadyAt = millis(sql.NullInt64{Int64: createdAt, Valid: true}), millis(boughtAt), millis(readyAt)
	return o, nil
}
