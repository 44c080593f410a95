package server

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/logistics/internal/billing"
)

// Mover is what BillingService needs of the billing use case.
type Mover interface {
	// Check applies the amount rules and returns the request as sent.
	Check(r billing.Request) (billing.Request, error)
	// Move is the engine's call for a checked movement.
	Move(ctx context.Context, requestID string, a idempotency.Attempt, r billing.Request) (billing.Movement, error)
	// CloseBatch closes a batch and returns 30post's message.
	CloseBatch(ctx context.Context, batchName string) (string, error)
	// ImportLegacy hands record the movements recorded before issue 15.
	ImportLegacy(ctx context.Context, src billing.LegacySource, ttl time.Duration,
		record func(context.Context, billing.Legacy) error, log *slog.Logger) (int, error)
}

// Refresher is the unresolved movements' gauge (*billing.Gauge): told when
// a movement's outcome became unknown or was resolved here.
type Refresher interface {
	Refresh(ctx context.Context)
}

// Billing implements BillingService.
type Billing struct {
	logisticsv1.UnimplementedBillingServiceServer
	mover Mover
	ids   *idempotency.Store
	gauge Refresher
}

// NewBilling returns the BillingService handlers: movements through mover
// under the request_id records of ids (the service's one engine, shared
// with ParcelService), the unresolved count in gauge (nil: none).
func NewBilling(mover Mover, ids *idempotency.Store, gauge Refresher) *Billing {
	return &Billing{mover: mover, ids: ids, gauge: gauge}
}

// refresh tells the gauge that the unresolved movements may have changed.
func (b *Billing) refresh(ctx context.Context) {
	if b.gauge != nil {
		b.gauge.Refresh(context.WithoutCancel(ctx))
	}
}

// move runs r under requestID at most once; kept is the request the
// engine fingerprints and keeps, with its amount as sent.
func move[Resp proto.Message](ctx context.Context, b *Billing, requestID string, kept proto.Message, r billing.Request,
	wrap func(*logisticsv1.Operation) Resp) (Resp, error) {
	resp, err := record(ctx, b, r.Kind.Method(), requestID, kept, func(ctx context.Context, a idempotency.Attempt) (billing.Movement, error) {
		return b.mover.Move(ctx, requestID, a, r)
	}, wrap)
	if d, ok := domainerr.As(err); ok && d.Reason == idempotency.ReasonOutcomeUnknown {
		b.refresh(ctx)
	}
	return resp, err
}

// record runs call under requestID in the engine, keeping kept (the
// request a repeat is compared with) and the movement's answer.
func record[Resp proto.Message](ctx context.Context, b *Billing, method, requestID string, kept proto.Message,
	call func(context.Context, idempotency.Attempt) (billing.Movement, error), wrap func(*logisticsv1.Operation) Resp) (Resp, error) {
	return idempotency.Run(ctx, b.ids, method, requestID, kept,
		func(ctx context.Context, a idempotency.Attempt) (Resp, error) {
			m, err := call(ctx, a)
			if err != nil {
				var zero Resp
				return zero, err
			}
			return wrap(movementProto(m)), nil
		})
}

// Recharge implements BillingService.
func (b *Billing) Recharge(ctx context.Context, req *logisticsv1.RechargeRequest) (*logisticsv1.RechargeResponse, error) {
	r, err := b.mover.Check(billing.Request{Kind: billing.KindRecharge, Phone: req.GetPhone(), Email: req.GetEmail(), Amount: req.GetAmount()})
	if err != nil {
		return nil, err
	}
	kept := proto.Clone(req).(*logisticsv1.RechargeRequest)
	kept.Amount = r.Amount
	return move(ctx, b, req.GetRequestId(), kept, r, func(op *logisticsv1.Operation) *logisticsv1.RechargeResponse {
		return &logisticsv1.RechargeResponse{Operation: op}
	})
}

// Deduct implements BillingService.
func (b *Billing) Deduct(ctx context.Context, req *logisticsv1.DeductRequest) (*logisticsv1.DeductResponse, error) {
	r, err := b.mover.Check(billing.Request{Kind: billing.KindDeduction, Phone: req.GetPhone(), Email: req.GetEmail(),
		Amount: req.GetAmount(), ExpressNo: req.GetExpressNo()})
	if err != nil {
		return nil, err
	}
	kept := proto.Clone(req).(*logisticsv1.DeductRequest)
	kept.Amount = r.Amount
	return move(ctx, b, req.GetRequestId(), kept, r, func(op *logisticsv1.Operation) *logisticsv1.DeductResponse {
		return &logisticsv1.DeductResponse{Operation: op}
	})
}

// CloseBatch implements BillingService.
func (b *Billing) CloseBatch(ctx context.Context, req *logisticsv1.CloseBatchRequest) (*logisticsv1.CloseBatchResponse, error) {
	msg, err := b.mover.CloseBatch(ctx, req.GetBatchName())
	if err != nil {
		return nil, err
	}
	return &logisticsv1.CloseBatchResponse{BatchName: req.GetBatchName(), Message: msg}, nil
}

// ListUnresolvedOperations implements BillingService: every operation of
// the service whose outcome is unknown, money movements and parcel
// operations alike.
func (b *Billing) ListUnresolvedOperations(ctx context.Context, req *logisticsv1.ListUnresolvedOperationsRequest) (*logisticsv1.ListUnresolvedOperationsResponse, error) {
	ops, next, err := b.ids.ListUnresolvedPage(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &logisticsv1.ListUnresolvedOperationsResponse{NextPageToken: next}
	for _, op := range ops {
		out.Operations = append(out.Operations, operationProto(op))
	}
	return out, nil
}

// ResolveOperation implements BillingService: the operator's finding,
// recorded with the caller's name.
func (b *Billing) ResolveOperation(ctx context.Context, req *logisticsv1.ResolveOperationRequest) (*logisticsv1.ResolveOperationResponse, error) {
	outcome := idempotency.NotApplied
	if req.GetOutcome() == logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED {
		outcome = idempotency.Applied
	}
	op, err := b.ids.Resolve(ctx, req.GetRequestId(), outcome, nil, cmp.Or(auth.CallerFrom(ctx), "operator"), req.GetNote())
	if err != nil {
		return nil, err
	}
	b.refresh(ctx)
	return &logisticsv1.ResolveOperationResponse{Operation: operationProto(op)}, nil
}

// kindProto is the proto form of a movement's kind.
func kindProto(k billing.Kind) logisticsv1.OperationKind {
	switch k {
	case billing.KindRecharge:
		return logisticsv1.OperationKind_OPERATION_KIND_RECHARGE
	case billing.KindDeduction:
		return logisticsv1.OperationKind_OPERATION_KIND_DEDUCTION
	}
	return logisticsv1.OperationKind_OPERATION_KIND_UNSPECIFIED
}

// movementProto is a movement's answer.
func movementProto(m billing.Movement) *logisticsv1.Operation {
	state := logisticsv1.OperationState_OPERATION_STATE_SUCCEEDED
	if m.State == billing.StateApplied {
		state = logisticsv1.OperationState_OPERATION_STATE_APPLIED
	}
	return &logisticsv1.Operation{
		RequestId: m.RequestID, Method: m.Kind.Method(), Kind: kindProto(m.Kind), Phone: m.Phone, Email: m.Email, Amount: m.Amount,
		ExpressNo: m.ExpressNo, State: state, VendorMessage: m.VendorMessage, CreateTime: timestamppb.New(m.CreatedAt),
		Resolutions: resolutionsProto(m.Resolutions),
	}
}

// operationProto is an engine record as the operator sees it: the money
// fields come from the kept request of a Recharge or Deduct.
func operationProto(op idempotency.Operation) *logisticsv1.Operation {
	out := &logisticsv1.Operation{
		RequestId: op.RequestID, Method: op.Method, Note: clean(op.Note, 2000), CreateTime: timestamppb.New(op.CreatedAt),
		Resolutions: resolutionsProto(op.Resolutions),
	}
	switch op.Method {
	case billing.MethodRecharge:
		var r logisticsv1.RechargeRequest
		if proto.Unmarshal(op.Request, &r) == nil {
			out.Kind, out.Phone, out.Email, out.Amount = logisticsv1.OperationKind_OPERATION_KIND_RECHARGE, r.GetPhone(), r.GetEmail(), r.GetAmount()
		}
	case billing.MethodDeduct:
		var r logisticsv1.DeductRequest
		if proto.Unmarshal(op.Request, &r) == nil {
			out.Kind, out.Phone, out.Email, out.Amount, out.ExpressNo = logisticsv1.OperationKind_OPERATION_KIND_DEDUCTION,
				r.GetPhone(), r.GetEmail(), r.GetAmount(), r.GetExpressNo()
		}
	}
	switch {
	case op.Unresolved():
		out.State = logisticsv1.OperationState_OPERATION_STATE_UNKNOWN
	case op.Outcome() == idempotency.NotApplied:
		out.State = logisticsv1.OperationState_OPERATION_STATE_NOT_APPLIED
	case len(op.Resolutions) > 0:
		out.State = logisticsv1.OperationState_OPERATION_STATE_APPLIED
	default:
		out.State = logisticsv1.OperationState_OPERATION_STATE_SUCCEEDED
	}
	return out
}

func resolutionsProto(rs []idempotency.Resolution) []*logisticsv1.Resolution {
	var out []*logisticsv1.Resolution
	for _, r := range rs {
		o := logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED
		if r.Outcome == idempotency.Applied {
			o = logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED
		}
		out = append(out, &logisticsv1.Resolution{Outcome: o, Note: r.Note, ResolveTime: timestamppb.New(r.At),
			ResolvedBy: clean(r.By, 128)})
	}
	return out
}

// clean keeps an output field within its contract: no control characters,
// at most limit characters.
func clean(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit-1]) + "…"
	}
	return s
}
