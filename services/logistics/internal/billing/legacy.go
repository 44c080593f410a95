package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
	"github.com/vendorgate/vendorgate/services/logistics/internal/store"
)

// Before issue 15 this package kept its own records of the money
// movements (table logistics_operations, renamed
// logistics_legacy_operations by the store's migration 00003). Those
// records are handed to the engine once, at start-up, so that no repeat
// across the upgrade re-sends a movement.

// LegacySource is the money movements recorded before issue 15
// (*store.Store).
type LegacySource interface {
	LegacyToImport(ctx context.Context, appliedSince time.Time) ([]store.LegacyOperation, error)
	ForgetLegacy(ctx context.Context, requestID string) error
}

// Legacy is one movement recorded before issue 15, as the engine is to
// record it under its request_id.
type Legacy struct {
	// Movement is the movement as recorded: its request, request_id,
	// creation time and 30post's message; its State when it was applied.
	Movement
	// applied: 30post applied it (SUCCEEDED), or an operator found it
	// applied (APPLIED); otherwise its outcome is unknown.
	applied bool
}

// Settle is the engine's call for l: its answer when it was applied, and
// an unknown outcome, kept for an operator, when it was unresolved. A
// record already there (imported by an earlier start, or another replica)
// is idempotency.ErrCannotTell: nothing to change.
func (l Legacy) Settle(a idempotency.Attempt) (Movement, error) {
	switch {
	case a.Interrupted || a.Applied:
		return Movement{}, idempotency.ErrCannotTell
	case l.applied:
		return l.Movement, nil
	}
	return Movement{}, &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: post30.Vendor,
		Message: fmt.Sprintf("recorded %s before the upgrade to the one request_id engine: %s",
			l.CreatedAt.Format(time.RFC3339), l.VendorMessage)}
}

// legacyOf is what op means to the engine.
func legacyOf(op store.LegacyOperation) Legacy {
	kind := KindRecharge
	if op.Kind == string(KindDeduction) {
		kind = KindDeduction
	}
	l := Legacy{Movement: Movement{
		Request:   Request{Kind: kind, Phone: op.Phone, Email: op.Email, Amount: op.Amount, ExpressNo: op.ExpressNo},
		RequestID: op.RequestID, VendorMessage: op.VendorMessage, CreatedAt: op.CreatedAt,
	}}
	switch op.State {
	case store.LegacySucceeded:
		l.applied, l.State = true, StateSucceeded
	case store.LegacyApplied:
		l.applied, l.State = true, StateApplied
	}
	return l
}

// ImportLegacy hands the engine what this package recorded on its own
// before issue 15: an unresolved movement (UNKNOWN, or PENDING: its
// process died with the call out) becomes an unknown outcome, listed for
// the operator; an applied one younger than ttl becomes the recorded
// answer of its request_id. record runs the engine for one movement, over
// Legacy.Settle, with the request a repeat would have kept, so that the
// record's fingerprint is a repeat's. Each imported movement is then
// deleted from src; a refused or resolved-not-applied one stays there as
// history. It returns how many it imported; a failing store stops it, and
// the next start resumes.
func (s *Service) ImportLegacy(ctx context.Context, src LegacySource, ttl time.Duration,
	record func(context.Context, Legacy) error, log *slog.Logger) (int, error) {
	ops, err := src.LegacyToImport(ctx, s.opts.Now().Add(-ttl))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, op := range ops {
		err := record(ctx, legacyOf(op))
		// An unknown outcome recorded, or a record already there, is
		// imported.
		if err != nil && !idempotency.MayHaveApplied(err) && !errors.Is(err, idempotency.ErrCannotTell) {
			if d, ok := domainerr.As(err); ok && d.Reason == idempotency.ReasonReused {
				log.Warn("a movement recorded before the upgrade has a request_id the engine knows for another request; not imported",
					"request_id", op.RequestID)
			} else {
				return n, fmt.Errorf("import the movement %s recorded before the upgrade: %w", op.RequestID, err)
			}
		}
		if err := src.ForgetLegacy(ctx, op.RequestID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
