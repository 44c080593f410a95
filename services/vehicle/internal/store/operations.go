package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Outcome is an operator's finding about a purchase of unknown outcome.
type Outcome string

// The outcomes.
const (
	// OutcomeApplied: the vendor sold the report.
	OutcomeApplied Outcome = "APPLIED"
	// OutcomeNotApplied: the vendor did not sell it.
	OutcomeNotApplied Outcome = "NOT_APPLIED"
)

// Resolution is one operator's finding.
type Resolution struct {
	// Outcome is what the operator found.
	Outcome Outcome
	// OrderID is the vendor's order id the operator gave, for OutcomeApplied.
	OrderID string
	// Note is how the operator knows.
	Note string
	// ResolvedAt is when it was recorded.
	ResolvedAt time.Time
}

// Operation is a purchase with the operators' resolutions, oldest first.
type Operation struct {
	Order
	// Resolutions are the operators' findings, oldest first; the last one
	// decides the purchase's state.
	Resolutions []Resolution
}

// Cursor is a position in the list of unresolved purchases.
type Cursor struct {
	// CreatedAt and ID are the last purchase listed; zero for the start.
	CreatedAt time.Time
	ID        string
}

// Buying returns the purchases in StateBuying, for vin or, when vin is
// "", for every VIN, oldest first. Each is either in flight or was left
// behind by a process that died; only the caller can tell which.
func (s *Store) Buying(ctx context.Context, vin string) ([]Order, error) {
	return s.many(ctx, `SELECT `+columns+` FROM vehicle_orders
		WHERE state = $1 AND ($2 = '' OR vin = $2) ORDER BY created_at, id`, StateBuying, vin)
}

// ReleaseRequestID frees the request id of purchase id once it has
// expired, so that the id may buy again: the purchase stays as an order
// without one. A purchase in StateBuying or StateUnknown keeps its id: its
// outcome is not known.
func (s *Store) ReleaseRequestID(ctx context.Context, id string) error {
	return s.exec(ctx, "release request id", `UPDATE vehicle_orders SET request_id = NULL
		WHERE id = $1 AND state NOT IN ($2, $3)`, id, StateBuying, StateUnknown)
}

// ListUnresolved returns up to limit purchases in StateUnknown after
// cursor, oldest first, with their resolutions.
func (s *Store) ListUnresolved(ctx context.Context, after Cursor, limit int) ([]Operation, error) {
	orders, err := s.many(ctx, `SELECT `+columns+` FROM vehicle_orders
		WHERE state = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3))
		ORDER BY created_at, id LIMIT $4`,
		StateUnknown, after.CreatedAt.UnixMilli(), after.ID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Operation, len(orders))
	for i, o := range orders {
		out[i].Order = o
		if out[i].Resolutions, err = s.resolutions(ctx, s.db, o.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CountUnresolved counts the purchases in StateUnknown, and those in
// StateBuying since before buyingBefore (their process most likely died).
func (s *Store) CountUnresolved(ctx context.Context, buyingBefore time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vehicle_orders
		WHERE state = $1 OR (state = $2 AND created_at < $3)`, StateUnknown, StateBuying, buyingBefore.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count unresolved: %w", err)
	}
	return n, nil
}

// OperationByRequestID returns the purchase made for requestID with its
// resolutions, or ErrNotFound.
func (s *Store) OperationByRequestID(ctx context.Context, requestID string) (Operation, error) {
	o, err := s.ByRequestID(ctx, requestID)
	if err != nil {
		return Operation{}, err
	}
	rs, err := s.resolutions(ctx, s.db, o.ID)
	return Operation{Order: o, Resolutions: rs}, err
}

// querier is what reads need: the database or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) resolutions(ctx context.Context, q querier, purchaseID string) ([]Resolution, error) {
	rows, err := q.QueryContext(ctx, `SELECT outcome, order_id, note, resolved_at FROM vehicle_resolutions
		WHERE purchase_id = $1 ORDER BY resolved_at, id`, purchaseID)
	if err != nil {
		return nil, fmt.Errorf("store: resolutions: %w", err)
	}
	defer rows.Close()
	var out []Resolution
	for rows.Next() {
		var (
			r  Resolution
			at int64
		)
		if err := rows.Scan(&r.Outcome, &r.OrderID, &r.Note, &at); err != nil {
			return nil, fmt.Errorf("store: resolutions: %w", err)
		}
		r.ResolvedAt = time.UnixMilli(at).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: resolutions: %w", err)
	}
	return out, nil
}

// Resolve records an operator's finding about the purchase made for
// requestID: it must be StateUnknown, or resolved before (a correction).
// OutcomeApplied gives it the vendor's orderID and makes it a bought order
// (StatePending, bought when its purchase started), whose report GetReport
// and lookups then fetch; OutcomeNotApplied makes it StateNotApplied. Every
// resolution is kept. ErrNotFound, ErrNotResolvable and ErrOrderIDTaken are
// the refusals.
func (s *Store) Resolve(ctx context.Context, requestID string, outcome Outcome, orderID, note string, at time.Time) (Operation, error) {
	rid, err := newID()
	if err != nil {
		return Operation{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Operation{}, fmt.Errorf("store: resolve: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	o, err := scanOrder(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM vehicle_orders WHERE request_id = $1`, requestID))
	if err != nil {
		return Operation{}, err
	}
	prior, err := s.resolutions(ctx, tx, o.ID)
	if err != nil {
		return Operation{}, err
	}
	if o.State != StateUnknown && len(prior) == 0 {
		return Operation{}, ErrNotResolvable
	}
	switch outcome {
	case OutcomeApplied:
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM vehicle_orders WHERE order_id = $1 AND id <> $2`,
			orderID, o.ID).Scan(&taken); err != nil {
			return Operation{}, fmt.Errorf("store: resolve: %w", err)
		}
		if taken > 0 {
			return Operation{}, ErrOrderIDTaken
		}
		if o.OrderID != orderID || !(o.State == StatePending || o.State.Finished()) {
			// A new or corrected order: its report is fetched afresh.
			_, err = tx.ExecContext(ctx, `UPDATE vehicle_orders
				SET state = $2, order_id = $3, bought_at = created_at, report_json = NULL, ready_at = NULL
				WHERE id = $1`, o.ID, StatePending, orderID)
		}
	case OutcomeNotApplied:
		_, err = tx.ExecContext(ctx, `UPDATE vehicle_orders
			SET state = $2, order_id = NULL, bought_at = NULL, report_json = NULL, ready_at = NULL
			WHERE id = $1`, o.ID, StateNotApplied)
	default:
		return Operation{}, fmt.Errorf("store: resolve with outcome %q", outcome)
	}
	if err != nil {
		return Operation{}, fmt.Errorf("store: resolve: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO vehicle_resolutions (id, purchase_id, outcome, order_id, note, resolved_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, rid, o.ID, outcome, orderID, note, at.UnixMilli()); err != nil {
		return Operation{}, fmt.Errorf("store: resolve: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Operation{}, fmt.Errorf("store: resolve: %w", err)
	}
	return s.OperationByRequestID(ctx, requestID)
}

// many runs a query of columns and scans every row.
func (s *Store) many(ctx context.Context, query string, args ...any) ([]Order, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: read orders: %w", err)
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read orders: %w", err)
	}
	return out, nil
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
