package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/billing"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
	"github.com/vendorgate/vendorgate/services/logistics/internal/store"
)

// LegacySource is the money movements recorded before issue 15
// (*store.Store).
type LegacySource interface {
	LegacyToImport(ctx context.Context, appliedSince time.Time) ([]store.LegacyOperation, error)
	ForgetLegacy(ctx context.Context, requestID string) error
}

// ImportLegacy hands the engine what the billing package recorded on its
// own before issue 15, so that no repeat across the upgrade re-sends a
// movement: an unresolved movement (UNKNOWN, or PENDING: its process died
// with the call out) becomes an unknown outcome, listed for the operator;
// an applied one younger than ttl becomes the recorded answer of its
// request_id. Each imported row is then deleted from the legacy table; a
// refused or resolved-not-applied one stays there as history. It returns
// how many it imported; a failing store stops it, and the next start
// resumes.
func (b *Billing) ImportLegacy(ctx context.Context, src LegacySource, ttl time.Duration, log *slog.Logger) (int, error) {
	ops, err := src.LegacyToImport(ctx, time.Now().Add(-ttl))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, op := range ops {
		if err := b.importOne(ctx, op); err != nil {
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
	if n > 0 {
		b.refresh(ctx)
	}
	return n, nil
}

// importOne records op in the engine under its request_id, through Run, so
// that the record's fingerprint and kept request are what a repeat's are.
func (b *Billing) importOne(ctx context.Context, op store.LegacyOperation) error {
	if op.Kind == string(billing.KindDeduction) {
		req := &logisticsv1.DeductRequest{RequestId: op.RequestID, Phone: op.Phone, Email: op.Email, Amount: op.Amount, ExpressNo: op.ExpressNo}
		return importAs(ctx, b, op, billing.KindDeduction, req, func(o *logisticsv1.Operation) *logisticsv1.DeductResponse {
			return &logisticsv1.DeductResponse{Operation: o}
		})
	}
	req := &logisticsv1.RechargeRequest{RequestId: op.RequestID, Phone: op.Phone, Email: op.Email, Amount: op.Amount}
	return importAs(ctx, b, op, billing.KindRecharge, req, func(o *logisticsv1.Operation) *logisticsv1.RechargeResponse {
		return &logisticsv1.RechargeResponse{Operation: o}
	})
}

func importAs[Resp proto.Message](ctx context.Context, b *Billing, op store.LegacyOperation, kind billing.Kind, req proto.Message,
	wrap func(*logisticsv1.Operation) Resp) error {
	applied := op.State == store.LegacySucceeded || op.State == store.LegacyApplied
	_, err := idempotency.Run(ctx, b.ids, kind.Method(), op.RequestID, req,
		func(_ context.Context, a idempotency.Attempt) (Resp, error) {
			var zero Resp
			switch {
			case a.Interrupted || a.Applied:
				// Imported by an earlier start (or another replica).
				return zero, idempotency.ErrCannotTell
			case applied:
				state := logisticsv1.OperationState_OPERATION_STATE_SUCCEEDED
				if op.State == store.LegacyApplied {
					state = logisticsv1.OperationState_OPERATION_STATE_APPLIED
				}
				return wrap(&logisticsv1.Operation{RequestId: op.RequestID, Method: kind.Method(), Kind: kindProto(kind), Phone: op.Phone,
					Email: op.Email, Amount: op.Amount, ExpressNo: op.ExpressNo, State: state, VendorMessage: op.VendorMessage,
					CreateTime: timestamppb.New(op.CreatedAt)}), nil
			}
			return zero, &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: post30.Vendor,
				Message: fmt.Sprintf("recorded %s before the upgrade to the one request_id engine: %s",
					op.CreatedAt.Format(time.RFC3339), op.VendorMessage)}
		})
	if err == nil || idempotency.MayHaveApplied(err) || errors.Is(err, idempotency.ErrCannotTell) {
		return nil
	}
	return err
}
