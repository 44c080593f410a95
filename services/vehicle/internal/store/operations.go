package store

import (
	"context"
	"fmt"
	"time"

	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
)

// CountUnresolved counts the purchases in reports.StateUnknown, and those in
// reports.StateBuying since before buyingBefore (their process most likely died).
func (s *Store) CountUnresolved(ctx context.Context, buyingBefore time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vehicle_orders
		WHERE state = $1 OR (state = $2 AND created_at < $3)`, reports.StateUnknown, reports.StateBuying, buyingBefore.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count unresolved: %w", err)
	}
	return n, nil
}

// MarkUnknownByRequestID moves the purchase made for requestID from
// reports.StateBuying to reports.StateUnknown: the request_id engine holds its outcome as
// unknown. A purchase in any other state is left as it is.
func (s *Store) MarkUnknownByRequestID(ctx context.Context, requestID string) error {
	return s.exec(ctx, "mark purchase unknown", `UPDATE vehicle_orders SET state = $2 WHERE request_id = $1 AND state = $3`,
		requestID, reports.StateUnknown, reports.StateBuying)
}

// Settle applies a finding about the purchase made for requestID, whose
// outcome was unknown (reports.StateBuying or reports.StateUnknown): reports.OutcomeApplied gives
// it the vendor's orderID and makes it a bought order (reports.StatePending,
// bought when its purchase started), whose report GetReport and lookups
// then fetch; reports.OutcomeNotApplied makes it reports.StateNotApplied. A purchase whose
// outcome is known is left as it is, unless it already holds orderID.
// reports.ErrNotFound is no purchase for requestID; reports.ErrOrderIDTaken an orderID
// that another purchase holds.
func (s *Store) Settle(ctx context.Context, requestID string, outcome reports.Outcome, orderID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: settle: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	o, err := scanOrder(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM vehicle_orders WHERE request_id = $1`, requestID))
	if err != nil {
		return err
	}
	if o.State != reports.StateBuying && o.State != reports.StateUnknown {
		return nil
	}
	switch outcome {
	case reports.OutcomeApplied:
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM vehicle_orders WHERE order_id = $1 AND id <> $2`,
			orderID, o.ID).Scan(&taken); err != nil {
			return fmt.Errorf("store: settle: %w", err)
		}
		if taken > 0 {
			return reports.ErrOrderIDTaken
		}
		_, err = tx.ExecContext(ctx, `UPDATE vehicle_orders
			SET state = $2, order_id = $3, bought_at = created_at, report_json = NULL, ready_at = NULL
			WHERE id = $1`, o.ID, reports.StatePending, orderID)
	case reports.OutcomeNotApplied:
		_, err = tx.ExecContext(ctx, `UPDATE vehicle_orders SET state = $2 WHERE id = $1`, o.ID, reports.StateNotApplied)
	default:
		return fmt.Errorf("store: settle with outcome %q", outcome)
	}
	if err != nil {
		return fmt.Errorf("store: settle: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: settle: %w", err)
	}
	return nil
}

// many runs a query of columns and scans every row.
func (s *Store) many(ctx context.Context, query string, args ...any) ([]reports.Order, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: read orders: %w", err)
	}
	defer rows.Close()
	var out []reports.Order
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

// WithRequestID returns the purchases with a request id that may need the
// request_id engine's record: those of unknown outcome (reports.StateUnknown, and
// reports.StateBuying since before buyingBefore) and the orders bought since
// boughtSince, oldest first.
func (s *Store) WithRequestID(ctx context.Context, buyingBefore, boughtSince time.Time) ([]reports.Order, error) {
	return s.many(ctx, `SELECT `+columns+` FROM vehicle_orders
		WHERE request_id IS NOT NULL AND (state = $1 OR (state = $2 AND created_at < $3)
			OR (order_id IS NOT NULL AND state IN ($4, $5, $6) AND created_at >= $7))
		ORDER BY created_at, id`,
		reports.StateUnknown, reports.StateBuying, buyingBefore.UnixMilli(), reports.StatePending, reports.StateReady, reports.StateNoRecords, boughtSince.UnixMilli())
}
