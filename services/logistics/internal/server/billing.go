package server

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/pagetoken"
	"github.com/vendorgate/vendorgate/services/logistics/internal/billing"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
	"github.com/vendorgate/vendorgate/services/logistics/internal/store"
)

// Mover is what BillingService needs of the billing use case.
type Mover interface {
	Move(ctx context.Context, r billing.Request) (store.Operation, error)
	Resolve(ctx context.Context, requestID string, applied bool, note string) (store.Operation, error)
	ListUnresolved(ctx context.Context, after store.Cursor, limit int) ([]store.Operation, error)
}

// BatchCloser is what CloseBatch needs of 30post.
type BatchCloser interface {
	CloseBatch(ctx context.Context, batchName string) (post30.Reply, error)
}

// Billing implements BillingService.
type Billing struct {
	logisticsv1.UnimplementedBillingServiceServer
	mover  Mover
	closer BatchCloser
}

// NewBilling returns the BillingService handlers.
func NewBilling(mover Mover, closer BatchCloser) *Billing {
	return &Billing{mover: mover, closer: closer}
}

// Recharge implements BillingService.
func (b *Billing) Recharge(ctx context.Context, req *logisticsv1.RechargeRequest) (*logisticsv1.RechargeResponse, error) {
	op, err := b.mover.Move(ctx, billing.Request{RequestID: req.GetRequestId(), Kind: store.KindRecharge,
		Phone: req.GetPhone(), Email: req.GetEmail(), Amount: req.GetAmount()})
	if err != nil {
		return nil, err
	}
	return &logisticsv1.RechargeResponse{Operation: operationProto(op)}, nil
}

// Deduct implements BillingService.
func (b *Billing) Deduct(ctx context.Context, req *logisticsv1.DeductRequest) (*logisticsv1.DeductResponse, error) {
	op, err := b.mover.Move(ctx, billing.Request{RequestID: req.GetRequestId(), Kind: store.KindDeduction,
		Phone: req.GetPhone(), Email: req.GetEmail(), Amount: req.GetAmount(), ExpressNo: req.GetExpressNo()})
	if err != nil {
		return nil, err
	}
	return &logisticsv1.DeductResponse{Operation: operationProto(op)}, nil
}

// CloseBatch implements BillingService.
func (b *Billing) CloseBatch(ctx context.Context, req *logisticsv1.CloseBatchRequest) (*logisticsv1.CloseBatchResponse, error) {
	r, err := b.closer.CloseBatch(ctx, req.GetBatchName())
	if err != nil {
		return nil, err
	}
	return &logisticsv1.CloseBatchResponse{BatchName: req.GetBatchName(), Message: r.Message}, nil
}

// operationCursor is the page token of ListUnresolvedOperations.
type operationCursor struct {
	CreatedAt int64  `json:"t"`
	RequestID string `json:"r"`
	Size      int    `json:"s"`
}

// ListUnresolvedOperations implements BillingService.
func (b *Billing) ListUnresolvedOperations(ctx context.Context, req *logisticsv1.ListUnresolvedOperationsRequest) (*logisticsv1.ListUnresolvedOperationsResponse, error) {
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultOperationPageSize
	}
	var cur operationCursor
	if err := pagetoken.Decode(req.GetPageToken(), &cur); err != nil {
		return nil, err
	}
	if req.GetPageToken() != "" && (cur.Size != size || cur.RequestID == "") {
		return nil, pagetoken.Invalid("belongs to another request")
	}
	after := store.Cursor{RequestID: cur.RequestID}
	if cur.RequestID != "" {
		after.CreatedAt = time.UnixMilli(cur.CreatedAt)
	}
	ops, err := b.mover.ListUnresolved(ctx, after, size+1)
	if err != nil {
		return nil, err
	}
	out := &logisticsv1.ListUnresolvedOperationsResponse{}
	if len(ops) > size {
		ops = ops[:size]
		last := ops[size-1]
		out.NextPageToken = pagetoken.Encode(operationCursor{CreatedAt: last.CreatedAt.UnixMilli(), RequestID: last.RequestID, Size: size})
	}
	for _, op := range ops {
		out.Operations = append(out.Operations, operationProto(op))
	}
	return out, nil
}

// ResolveOperation implements BillingService.
func (b *Billing) ResolveOperation(ctx context.Context, req *logisticsv1.ResolveOperationRequest) (*logisticsv1.ResolveOperationResponse, error) {
	op, err := b.mover.Resolve(ctx, req.GetRequestId(), req.GetOutcome() == logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, req.GetNote())
	if err != nil {
		return nil, err
	}
	return &logisticsv1.ResolveOperationResponse{Operation: operationProto(op)}, nil
}

// stateProto is the proto form of a store state.
func stateProto(s store.State) logisticsv1.OperationState {
	switch s {
	case store.StatePending:
		return logisticsv1.OperationState_OPERATION_STATE_PENDING
	case store.StateSucceeded:
		return logisticsv1.OperationState_OPERATION_STATE_SUCCEEDED
	case store.StateFailed:
		return logisticsv1.OperationState_OPERATION_STATE_FAILED
	case store.StateUnknown:
		return logisticsv1.OperationState_OPERATION_STATE_UNKNOWN
	case store.StateApplied:
		return logisticsv1.OperationState_OPERATION_STATE_APPLIED
	case store.StateNotApplied:
		return logisticsv1.OperationState_OPERATION_STATE_NOT_APPLIED
	}
	return logisticsv1.OperationState_OPERATION_STATE_UNSPECIFIED
}

// kindProto is the proto form of a store kind.
func kindProto(k store.Kind) logisticsv1.OperationKind {
	switch k {
	case store.KindRecharge:
		return logisticsv1.OperationKind_OPERATION_KIND_RECHARGE
	case store.KindDeduction:
		return logisticsv1.OperationKind_OPERATION_KIND_DEDUCTION
	}
	return logisticsv1.OperationKind_OPERATION_KIND_UNSPECIFIED
}

func operationProto(op store.Operation) *logisticsv1.Operation {
	out := &logisticsv1.Operation{
		RequestId: op.RequestID, Kind: kindProto(op.Kind), Phone: op.Phone, Email: op.Email, Amount: op.Amount,
		ExpressNo: op.ExpressNo, State: stateProto(op.State), VendorMessage: op.VendorMessage, CreateTime: timestamppb.New(op.CreatedAt),
	}
	for _, r := range op.Resolutions {
		o := logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED
		if r.Outcome == store.StateApplied {
			o = logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED
		}
		out.Resolutions = append(out.Resolutions, &logisticsv1.Resolution{Outcome: o, Note: r.Note, ResolveTime: timestamppb.New(r.ResolvedAt)})
	}
	return out
}
