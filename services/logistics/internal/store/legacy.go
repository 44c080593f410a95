package store

import (
	"context"
	"fmt"
	"time"
)

// LegacyOperation is a money movement recorded before issue 15, by the
// billing package's own bookkeeping (table logistics_legacy_operations).
type LegacyOperation struct {
	// RequestID is the caller's idempotency key.
	RequestID string
	// Kind is "RECHARGE" or "DEDUCTION".
	Kind string
	// Phone, Email, Amount (as sent, 2 decimals) and ExpressNo are the
	// request.
	Phone, Email, Amount, ExpressNo string
	// State is PENDING, SUCCEEDED, FAILED, UNKNOWN, APPLIED or NOT_APPLIED.
	State string
	// VendorMessage is 30post's message, or why the outcome is unknown.
	VendorMessage string
	// CreatedAt is when it was recorded, before it was sent.
	CreatedAt time.Time
}

// The legacy states worth importing.
const (
	LegacyPending   = "PENDING"
	LegacyUnknown   = "UNKNOWN"
	LegacySucceeded = "SUCCEEDED"
	LegacyApplied   = "APPLIED"
)

// LegacyToImport returns the legacy movements a repeat must not re-send:
// the unresolved ones (UNKNOWN, PENDING) whatever their age, and the
// applied ones (SUCCEEDED, APPLIED) created at or after appliedSince.
func (s *Store) LegacyToImport(ctx context.Context, appliedSince time.Time) ([]LegacyOperation, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT request_id, kind, phone, email, amount, express_no, state, vendor_message, created_at
		FROM logistics_legacy_operations
		WHERE state IN ($1, $2) OR (state IN ($3, $4) AND created_at >= $5)
		ORDER BY created_at, request_id`,
		LegacyPending, LegacyUnknown, LegacySucceeded, LegacyApplied, appliedSince.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: legacy operations: %w", err)
	}
	defer rows.Close()
	var out []LegacyOperation
	for rows.Next() {
		var (
			op      LegacyOperation
			created int64
		)
		if err := rows.Scan(&op.RequestID, &op.Kind, &op.Phone, &op.Email, &op.Amount, &op.ExpressNo, &op.State,
			&op.VendorMessage, &created); err != nil {
			return nil, fmt.Errorf("store: legacy operations: %w", err)
		}
		op.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, op)
	}
	return out, rows.Err()
}

// ForgetLegacy deletes an imported legacy movement and its resolutions.
func (s *Store) ForgetLegacy(ctx context.Context, requestID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: forget legacy %s: %w", requestID, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM logistics_legacy_resolutions WHERE request_id = $1`, requestID); err != nil {
		return fmt.Errorf("store: forget legacy %s: %w", requestID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM logistics_legacy_operations WHERE request_id = $1`, requestID); err != nil {
		return fmt.Errorf("store: forget legacy %s: %w", requestID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: forget legacy %s: %w", requestID, err)
	}
	return nil
}
