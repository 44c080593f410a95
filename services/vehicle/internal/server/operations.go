package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/pagetoken"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// defaultOperationPageSize is ListUnresolvedOperations' page size when
// the caller gives none.
const defaultOperationPageSize = 50

// operationCursor is the page token of ListUnresolvedOperations.
type operationCursor struct {
	CreatedAt int64  `json:"t"`
	ID        string `json:"i"`
	Size      int    `json:"s"`
}

// ListUnresolvedOperations implements VehicleService. Purchases left in
// StateBuying by a process that died (their request id's lock is free on
// every replica) are marked UNKNOWN first, so that they are listed.
func (s *Server) ListUnresolvedOperations(ctx context.Context, req *vehiclev1.ListUnresolvedOperationsRequest) (*vehiclev1.ListUnresolvedOperationsResponse, error) {
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultOperationPageSize
	}
	var cur operationCursor
	if tok := req.GetPageToken(); tok != "" {
		if err := pagetoken.Decode(tok, &cur); err != nil {
			return nil, err
		}
		if cur.ID == "" {
			return nil, pagetoken.Invalid("is not a token this service issued")
		}
		if cur.Size != size {
			return nil, pagetoken.Invalid("belongs to a request with another page_size")
		}
	}
	if err := s.reapDead(ctx, ""); err != nil {
		return nil, err
	}
	after := store.Cursor{ID: cur.ID}
	if cur.ID != "" {
		after.CreatedAt = time.UnixMilli(cur.CreatedAt)
	}
	ops, err := s.store.ListUnresolved(ctx, after, size+1)
	if err != nil {
		return nil, err
	}
	out := &vehiclev1.ListUnresolvedOperationsResponse{}
	if len(ops) > size {
		ops = ops[:size]
		last := ops[size-1]
		out.NextPageToken = pagetoken.Encode(operationCursor{CreatedAt: last.CreatedAt.UnixMilli(), ID: last.ID, Size: size})
	}
	for _, op := range ops {
		out.Operations = append(out.Operations, operationProto(op))
	}
	return out, nil
}

// ResolveOperation implements VehicleService. It holds the request id's
// lock, so that it never races the purchase it resolves; a purchase still
// in StateBuying whose lock is free is marked UNKNOWN first (its process
// died), and one in flight is ABORTED.
func (s *Server) ResolveOperation(ctx context.Context, req *vehiclev1.ResolveOperationRequest) (*vehiclev1.ResolveOperationResponse, error) {
	id := req.GetRequestId()
	unlock, ok, err := s.opts.Locks.TryLock(ctx, requestKey(id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errInFlight()
	}
	defer unlock()
	prior, err := s.store.ByRequestID(ctx, id)
	if err == nil && prior.State == store.StateBuying {
		if err := s.markDead(ctx, prior); err != nil {
			return nil, err
		}
		prior.State = store.StateUnknown
	}
	outcome := store.OutcomeNotApplied
	if req.GetOutcome() == vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED {
		outcome = store.OutcomeApplied
	}
	op, err := s.store.Resolve(ctx, id, outcome, req.GetOrderId(), req.GetNote(), now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, domainerr.NotFound("OPERATION_NOT_FOUND", fmt.Sprintf("no purchase has request_id %q", id))
	case errors.Is(err, store.ErrNotResolvable):
		return nil, domainerr.FailedPrecondition("OPERATION_OUTCOME_KNOWN",
			fmt.Sprintf("the purchase with request_id %q has a known outcome; only UNKNOWN purchases are resolved", id))
	case errors.Is(err, store.ErrOrderIDTaken):
		return nil, domainerr.InvalidArgument("order_id", "ORDER_ID_TAKEN",
			fmt.Sprintf("order %q is recorded for another purchase", req.GetOrderId()))
	case err != nil:
		return nil, err
	}
	if outcome == store.OutcomeApplied && (prior.State == store.StateUnknown || prior.State == store.StateNotApplied) {
		// Found sold: the money was spent, though no answer said so.
		s.metrics.bought(viaResolveOperation)
	}
	s.log.InfoContext(ctx, "report purchase resolved by an operator", "request_id", id, "outcome", string(outcome),
		"order_id", req.GetOrderId(), "vin", op.VIN)
	return &vehiclev1.ResolveOperationResponse{Operation: operationProto(op)}, nil
}

// operationProto maps a purchase with its resolutions.
func operationProto(op store.Operation) *vehiclev1.Operation {
	out := &vehiclev1.Operation{
		RequestId:    op.RequestID,
		Vin:          op.VIN,
		EngineNumber: op.EngineNumber,
		PlateNumber:  op.PlateNumber,
		OrderId:      op.OrderID,
		CreateTime:   timestamp(op.CreatedAt),
	}
	switch {
	case op.State == store.StateUnknown:
		out.State = vehiclev1.OperationState_OPERATION_STATE_UNKNOWN
	case op.State == store.StateNotApplied:
		out.State = vehiclev1.OperationState_OPERATION_STATE_NOT_APPLIED
	case len(op.Resolutions) > 0:
		out.State = vehiclev1.OperationState_OPERATION_STATE_APPLIED
	}
	for _, r := range op.Resolutions {
		o := vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED
		if r.Outcome == store.OutcomeApplied {
			o = vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED
		}
		out.Resolutions = append(out.Resolutions, &vehiclev1.Resolution{
			Outcome: o, OrderId: r.OrderID, Note: r.Note, ResolveTime: timestamp(r.ResolvedAt),
		})
	}
	return out
}
