package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// engineUnknown is idempotency.Operation.State of an operation whose
// outcome is unknown and whose call is not in flight.
const engineUnknown = "UNKNOWN"

// ListUnresolvedOperations implements VehicleService from the request_id
// engine's records, which mark the purchases left in flight by a process
// that died as unknown first, so that they are listed. Each purchase's row
// follows (StateUnknown), for its VIN's lookups.
func (s *Server) ListUnresolvedOperations(ctx context.Context, req *vehiclev1.ListUnresolvedOperationsRequest) (*vehiclev1.ListUnresolvedOperationsResponse, error) {
	ops, next, err := s.opts.Requests.ListUnresolvedPage(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &vehiclev1.ListUnresolvedOperationsResponse{NextPageToken: next}
	for _, op := range ops {
		if op.State == engineUnknown {
			if err := s.store.MarkUnknownByRequestID(ctx, op.RequestID); err != nil {
				return nil, err
			}
		}
		p, err := s.operationProto(ctx, op)
		if err != nil {
			return nil, err
		}
		out.Operations = append(out.Operations, p)
	}
	return out, nil
}

// ResolveOperation implements VehicleService. The request_id engine records
// the finding (it holds the request_id's lock, refuses a purchase in
// flight, an unknown request_id and a known outcome), with the response a
// repeat then returns, and passes it on to the usage ledger (OnResolve);
// the purchase's row follows. This is the one place an operator's finding
// is written.
func (s *Server) ResolveOperation(ctx context.Context, req *vehiclev1.ResolveOperationRequest) (*vehiclev1.ResolveOperationResponse, error) {
	id := req.GetRequestId()
	op, err := s.opts.Requests.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	row, err := s.store.ByRequestID(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	outcome, settle := idempotency.NotApplied, store.OutcomeNotApplied
	var resp proto.Message
	if req.GetOutcome() == vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED {
		outcome, settle = idempotency.Applied, store.OutcomeApplied
		other, err := s.store.ByOrderID(ctx, req.GetOrderId())
		switch {
		case err == nil && other.RequestID != id:
			return nil, errOrderIDTaken(req.GetOrderId())
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		// Bought when its purchase started, as the row will say.
		boughtAt := row.CreatedAt
		if row.ID == "" {
			boughtAt = op.CreatedAt
		}
		resp = &vehiclev1.OrderReportResponse{OrderId: req.GetOrderId(), Vin: purchaseOf(op, row).VIN, BoughtTime: timestamp(boughtAt)}
	}
	op, err = s.opts.Requests.Resolve(ctx, id, outcome, resp, auth.CallerFrom(ctx), req.GetNote())
	if err != nil {
		return nil, err
	}
	if row.ID != "" {
		if err := s.store.Settle(ctx, id, settle, req.GetOrderId()); err != nil {
			// The engine's record stands, and is what the request_id
			// answers; the row stays unknown to its VIN's lookups until
			// this is fixed by hand.
			s.log.ErrorContext(ctx, "resolution recorded, and the purchase's row not updated", "request_id", id,
				"outcome", string(outcome), "order_id", req.GetOrderId(), "error", err.Error())
		}
	}
	if outcome == idempotency.Applied && !sold(row) {
		// Found sold: the money was spent, though no answer said so. (A
		// sale the service recorded was counted when the vendor answered.)
		s.metrics.bought(viaResolveOperation)
	}
	s.metrics.resolved.WithLabelValues(string(outcome)).Inc()
	s.log.InfoContext(ctx, "report purchase resolved by an operator", "request_id", id, "outcome", string(outcome),
		"order_id", req.GetOrderId(), "resolved_by", auth.CallerFrom(ctx))
	p, err := s.operationProto(ctx, op)
	if err != nil {
		return nil, err
	}
	return &vehiclev1.ResolveOperationResponse{Operation: p}, nil
}

// errOrderIDTaken refuses a resolution naming another purchase's order.
func errOrderIDTaken(orderID string) error {
	return domainerr.InvalidArgument("order_id", "ORDER_ID_TAKEN", fmt.Sprintf("order %q is recorded for another purchase", orderID))
}

// Checkers are the reconciler's checks of the purchases of unknown outcome,
// by method (idempotency.Store.NewReconciler). The vendor cannot be asked,
// so they read the service's own record only: a purchase whose order was
// recorded (its answer came, and recording the outcome failed after it) is
// found applied; one that was never recorded as started was never sent.
// The rest wait for an operator.
func (s *Server) Checkers() map[string]idempotency.Checker {
	return map[string]idempotency.Checker{viaOrderReport: s.check, viaLookupHistory: s.check}
}

func (s *Server) check(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
	o, err := s.store.ByRequestID(ctx, op.RequestID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return idempotency.Finding{Outcome: idempotency.NotApplied,
			Note: "the purchase was never recorded as started, and the service records it before calling the vendor"}, nil
	case err != nil:
		return idempotency.Finding{}, err
	case sold(o):
		return idempotency.Finding{Outcome: idempotency.Applied, Response: orderResponse(o),
			Note: fmt.Sprintf("the service recorded the vendor's order %s before the outcome could be", o.OrderID)}, nil
	}
	return idempotency.Finding{}, nil
}

// abandoned reports whether the purchase under requestID, recorded as
// started (StateBuying), has an unknown outcome in the engine's record,
// and marks its row so: the call is not in flight, and its answer never
// came or its process died. The engine tells a dead process's record from
// one in flight (Reap).
func (s *Server) abandoned(ctx context.Context, requestID string) (bool, error) {
	op, err := s.opts.Requests.Get(ctx, requestID)
	if d, ok := domainerr.As(err); ok && d.Kind == domainerr.KindNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if op.Unresolved() && op.State != engineUnknown {
		if err := s.opts.Requests.Reap(ctx); err != nil {
			return false, err
		}
		if op, err = s.opts.Requests.Get(ctx, requestID); err != nil {
			return false, err
		}
	}
	if op.State != engineUnknown {
		return false, nil
	}
	return true, s.store.MarkUnknownByRequestID(ctx, requestID)
}

// purchaseOf is what was asked to be bought under op: the purchase's row
// when there is one, else the request the engine kept.
func purchaseOf(op idempotency.Operation, row store.Order) store.Purchase {
	if row.ID != "" {
		return store.Purchase{VIN: row.VIN, EngineNumber: row.EngineNumber, PlateNumber: row.PlateNumber, RequestID: row.RequestID}
	}
	p := store.Purchase{RequestID: op.RequestID}
	switch op.Method {
	case viaOrderReport:
		var req vehiclev1.OrderReportRequest
		if proto.Unmarshal(op.Request, &req) == nil {
			p.VIN, p.EngineNumber, p.PlateNumber = req.GetVin(), req.GetEngineNumber(), req.GetPlateNumber()
		}
	case viaLookupHistory:
		var req vehiclev1.LookupHistoryRequest
		if proto.Unmarshal(op.Request, &req) == nil {
			p.VIN = req.GetVin()
		}
	}
	return p
}

// operationProto maps an engine operation with its purchase's row.
func (s *Server) operationProto(ctx context.Context, op idempotency.Operation) (*vehiclev1.Operation, error) {
	row, err := s.store.ByRequestID(ctx, op.RequestID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	p := purchaseOf(op, row)
	out := &vehiclev1.Operation{
		RequestId:    op.RequestID,
		Vin:          p.VIN,
		EngineNumber: p.EngineNumber,
		PlateNumber:  p.PlateNumber,
		OrderId:      row.OrderID,
		CreateTime:   timestamp(op.CreatedAt),
		Method:       op.Method,
		Note:         op.Note,
	}
	switch op.Outcome() {
	case idempotency.Applied:
		out.State = vehiclev1.OperationState_OPERATION_STATE_APPLIED
	case idempotency.NotApplied:
		out.State = vehiclev1.OperationState_OPERATION_STATE_NOT_APPLIED
	default:
		out.State = vehiclev1.OperationState_OPERATION_STATE_UNKNOWN
	}
	for _, r := range op.Resolutions {
		res := &vehiclev1.Resolution{Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED, Note: r.Note,
			ResolveTime: timestamp(r.At), ResolvedBy: r.By}
		if r.Outcome == idempotency.Applied {
			res.Outcome, res.OrderId = vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, row.OrderID
		}
		out.Resolutions = append(out.Resolutions, res)
	}
	return out, nil
}
