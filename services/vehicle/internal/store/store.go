// Package store keeps the vehicle service's report purchases and reports in
// SQL (SQLite or Postgres, through internal/sqlstore), so that fresh reports
// and orders in flight survive a restart and are shared by replicas.
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
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is where goose records the vehicle migrations it ran.
const versionTable = "vehicle_goose_db_version"

// State is where a purchase stands. The states of a purchase whose outcome
// is not known mirror the request_id engine's record of it
// (internal/idempotency, which owns the request_id): StateBuying is its
// IN_FLIGHT, StateUnknown its UNKNOWN, StateNotApplied its NOT_APPLIED, and
// a bought order its DONE. The service keeps them here for what the engine
// cannot answer: which purchases of a VIN have an unknown outcome.
type State string

// The purchase states.
const (
	// StateBuying is a purchase whose vendor call has not answered.
	StateBuying State = "BUYING"
	// StatePending is a bought order whose report is not ready.
	StatePending State = "PENDING"
	// StateReady is an order with its report.
	StateReady State = "READY"
	// StateNoRecords is an order the vendor has no records for.
	StateNoRecords State = "NO_RECORDS"
	// StateUnknown is a purchase whose vendor call got no usable answer
	// (a timeout, a dropped connection, a 5xx): the vendor may have sold
	// it. It is kept so that nothing buys again for it automatically.
	StateUnknown State = "UNKNOWN"
	// StateNotApplied is a purchase of unknown outcome that an operator
	// found the vendor did not sell.
	StateNotApplied State = "NOT_APPLIED"
)

// Finished reports whether the report of an order in state s will not change.
func (s State) Finished() bool { return s == StateReady || s == StateNoRecords }

// Errors of the lookups, of Begin and of Settle.
var (
	// ErrNotFound is a lookup that found no order.
	ErrNotFound = errors.New("store: no such order")
	// ErrDuplicateRequest is Begin with a request id that a purchase of
	// unknown outcome (StateBuying or StateUnknown) holds.
	ErrDuplicateRequest = errors.New("store: request id held by a purchase of unknown outcome")
	// ErrOrderIDTaken is a resolution naming a vendor order id that another
	// purchase holds.
	ErrOrderIDTaken = errors.New("store: vendor order id belongs to another purchase")
)

// Purchase names a report about to be bought.
type Purchase struct {
	// VIN is the normalised VIN.
	VIN string
	// EngineNumber and PlateNumber are the optional vendor parameters.
	EngineNumber, PlateNumber string
	// RequestID is the caller's idempotency key; "" for none.
	RequestID string
}

// Order is one purchase.
type Order struct {
	// ID is the store's id of the purchase.
	ID string
	// OrderID is the vendor's order id; "" while StateBuying.
	OrderID string
	// VIN, EngineNumber, PlateNumber and RequestID are as purchased.
	VIN, EngineNumber, PlateNumber, RequestID string
	// State is where the purchase stands.
	State State
	// Report is the vendor's answer as sent, once the state is finished.
	Report []byte
	// CreatedAt is when the purchase started.
	CreatedAt time.Time
	// BoughtAt is when the vendor confirmed it; zero while StateBuying.
	BoughtAt time.Time
	// ReadyAt is when the report was first seen finished; zero before.
	ReadyAt time.Time
}

// Store is the purchase repository. It is safe for concurrent use.
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

// DB is the database, for the locks that replicas share through it.
func (s *Store) DB() *sqlstore.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Begin records a purchase in state StateBuying before the vendor is
// called, and returns its id. The request_id engine has decided that the
// request id buys anew (it holds the request id's lock, and its record of
// an earlier purchase with it, if any, has expired), so an older purchase
// with a known outcome gives the request id up and stays as an order
// without one. A purchase of unknown outcome keeps it: ErrDuplicateRequest.
func (s *Store) Begin(ctx context.Context, p Purchase, at time.Time) (string, error) {
	id, err := newID()
	if err != nil {
		return "", err
	}
	if p.RequestID != "" {
		if _, err := s.db.ExecContext(ctx, `UPDATE vehicle_orders SET request_id = NULL
			WHERE request_id = $1 AND state NOT IN ($2, $3)`, p.RequestID, StateBuying, StateUnknown); err != nil {
			return "", fmt.Errorf("store: begin purchase: %w", err)
		}
	}
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO vehicle_orders (id, vin, engine_number, plate_number, request_id, state, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (request_id) DO NOTHING`,
		id, p.VIN, p.EngineNumber, p.PlateNumber, nullString(p.RequestID), StateBuying, at.UnixMilli())
	if err != nil {
		return "", fmt.Errorf("store: begin purchase: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("store: begin purchase: %w", err)
	} else if n == 0 {
		return "", ErrDuplicateRequest
	}
	return id, nil
}

// Bought records the vendor's order id for purchase id: the order is
// StatePending. A purchase whose outcome was marked unknown meanwhile is
// settled by it. One with a known outcome (removed, or resolved) is
// ErrNotFound, and the caller must log the order id, since nothing else
// records it.
func (s *Store) Bought(ctx context.Context, id, orderID string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE vehicle_orders SET order_id = $2, state = $3, bought_at = $4
		WHERE id = $1 AND state IN ($5, $6)`,
		id, orderID, StatePending, at.UnixMilli(), StateBuying, StateUnknown)
	if err != nil {
		return fmt.Errorf("store: record purchase of order %s: %w", orderID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: record purchase of order %s: %w", orderID, err)
	} else if n == 0 {
		return fmt.Errorf("store: record purchase of order %s: purchase %s: %w", orderID, id, ErrNotFound)
	}
	return nil
}

// Abandon deletes purchase id if it is still StateBuying: the vendor call
// failed, or the purchase was left behind by a process that died.
func (s *Store) Abandon(ctx context.Context, id string) error {
	return s.exec(ctx, "abandon purchase", `DELETE FROM vehicle_orders WHERE id = $1 AND state = $2`, id, StateBuying)
}

// Unsettled returns vin's purchases whose outcome is not known: those in
// StateUnknown that started at or after since, and those in StateBuying
// (in flight, or left by a process that died), newest first.
func (s *Store) Unsettled(ctx context.Context, vin string, since time.Time) ([]Order, error) {
	return s.many(ctx, `SELECT `+columns+` FROM vehicle_orders
		WHERE vin = $1 AND (state = $2 OR (state = $3 AND created_at >= $4))
		ORDER BY created_at DESC, id`,
		vin, StateBuying, StateUnknown, since.UnixMilli())
}

// Finish records the finished report of a pending order: state is
// StateReady or StateNoRecords, report the vendor's answer as sent. An order
// already finished keeps its first report.
func (s *Store) Finish(ctx context.Context, orderID string, state State, report []byte, at time.Time) error {
	if !state.Finished() {
		return fmt.Errorf("store: finish order %s with state %s", orderID, state)
	}
	return s.exec(ctx, "finish order", `
		UPDATE vehicle_orders SET state = $2, report_json = $3, ready_at = $4
		WHERE order_id = $1 AND state = $5`,
		orderID, state, string(report), at.UnixMilli(), StatePending)
}

// ByOrderID returns the order with the vendor's order id, or ErrNotFound.
func (s *Store) ByOrderID(ctx context.Context, orderID string) (Order, error) {
	return s.one(ctx, `SELECT `+columns+` FROM vehicle_orders WHERE order_id = $1`, orderID)
}

// ByRequestID returns the purchase made for a request id, or ErrNotFound.
func (s *Store) ByRequestID(ctx context.Context, requestID string) (Order, error) {
	return s.one(ctx, `SELECT `+columns+` FROM vehicle_orders WHERE request_id = $1`, requestID)
}

// Reusable returns the order for vin that a lookup can use instead of
// buying: the newest report finished at or after since, or else the newest
// order bought at or after since that is still pending. ErrNotFound when
// there is neither.
func (s *Store) Reusable(ctx context.Context, vin string, since time.Time) (Order, error) {
	return s.one(ctx, `SELECT `+columns+` FROM vehicle_orders
		WHERE vin = $1 AND (
			(state IN ($3, $4) AND ready_at >= $2) OR
			(state = $5 AND bought_at >= $2))
		ORDER BY CASE WHEN state = $5 THEN 1 ELSE 0 END, bought_at DESC
		LIMIT 1`,
		vin, since.UnixMilli(), StateReady, StateNoRecords, StatePending)
}

// columns are the columns scan reads, in its order.
const columns = `id, order_id, vin, engine_number, plate_number, request_id, state, report_json, created_at, bought_at, ready_at`

func (s *Store) one(ctx context.Context, query string, args ...any) (Order, error) {
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

// scanOrder reads one row of columns; no row is ErrNotFound.
func scanOrder(row scanner) (Order, error) {
	var (
		o                  Order
		orderID, requestID sql.NullString
		boughtAt, readyAt  sql.NullInt64
		createdAt          int64
	)
	err := row.Scan(&o.ID, &orderID, &o.VIN, &o.EngineNumber, &o.PlateNumber,
		&requestID, &o.State, &o.Report, &createdAt, &boughtAt, &readyAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	if err != nil {
		return Order{}, fmt.Errorf("store: read order: %w", err)
	}
	o.OrderID, o.RequestID = orderID.String, requestID.String
	o.CreatedAt, o.BoughtAt, o.ReadyAt = millis(sql.NullInt64{Int64: createdAt, Valid: true}), millis(boughtAt), millis(readyAt)
	return o, nil
}
