package server

import (
	"context"
	"log/slog"
	"time"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/logistics/internal/billing"
)

// ImportLegacy hands the engine the money movements recorded before
// issue 15 (billing.Service.ImportLegacy reads them from src and decides
// what each means), each under its request_id with the request a repeat
// of its Recharge or Deduct keeps, so that the repeat finds it. It returns
// how many it imported.
func (b *Billing) ImportLegacy(ctx context.Context, src billing.LegacySource, ttl time.Duration, log *slog.Logger) (int, error) {
	n, err := b.mover.ImportLegacy(ctx, src, ttl, b.recordLegacy, log)
	if err == nil && n > 0 {
		b.refresh(ctx)
	}
	return n, err
}

// recordLegacy records l in the engine as its Recharge or Deduct would
// have been.
func (b *Billing) recordLegacy(ctx context.Context, l billing.Legacy) error {
	settle := func(_ context.Context, a idempotency.Attempt) (billing.Movement, error) { return l.Settle(a) }
	var err error
	if l.Kind == billing.KindDeduction {
		kept := &logisticsv1.DeductRequest{RequestId: l.RequestID, Phone: l.Phone, Email: l.Email, Amount: l.Amount, ExpressNo: l.ExpressNo}
		_, err = record(ctx, b, l.Kind.Method(), l.RequestID, kept, settle, func(o *logisticsv1.Operation) *logisticsv1.DeductResponse {
			return &logisticsv1.DeductResponse{Operation: o}
		})
		return err
	}
	kept := &logisticsv1.RechargeRequest{RequestId: l.RequestID, Phone: l.Phone, Email: l.Email, Amount: l.Amount}
	_, err = record(ctx, b, l.Kind.Method(), l.RequestID, kept, settle, func(o *logisticsv1.Operation) *logisticsv1.RechargeResponse {
		return &logisticsv1.RechargeResponse{Operation: o}
	})
	return err
}
