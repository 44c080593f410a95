package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
)

// ListUnresolvedOperations implements DeliveryService: the request_id
// records whose outcome is unknown, from the store, without a vendor call.
func (s *Server) ListUnresolvedOperations(ctx context.Context, req *deliveryv1.ListUnresolvedOperationsRequest) (*deliveryv1.ListUnresolvedOperationsResponse, error) {
	if s.requests == nil {
		return s.UnimplementedDeliveryServiceServer.ListUnresolvedOperations(ctx, req)
	}
	ops, next, err := s.requests.ListUnresolvedPage(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &deliveryv1.ListUnresolvedOperationsResponse{NextPageToken: next}
	for _, op := range ops {
		out.Operations = append(out.Operations, operationProto(op))
	}
	return out, nil
}

// ResolveOperation implements DeliveryService: an operator's finding,
// recorded with the caller's name as resolved_by. A repeat of the
// request_id then answers from it (APPLIED: the response rebuilt without a
// vendor call).
func (s *Server) ResolveOperation(ctx context.Context, req *deliveryv1.ResolveOperationRequest) (*deliveryv1.ResolveOperationResponse, error) {
	if s.requests == nil {
		return s.UnimplementedDeliveryServiceServer.ResolveOperation(ctx, req)
	}
	found := idempotency.NotApplied
	if req.GetOutcome() == deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED {
		found = idempotency.Applied
	}
	op, err := s.requests.Resolve(ctx, req.GetRequestId(), found, nil, auth.CallerFrom(ctx), req.GetNote())
	if err != nil {
		return nil, err
	}
	return &deliveryv1.ResolveOperationResponse{Operation: operationProto(op)}, nil
}

// Checkers are the reconciler's questions to the vendor, per method, asked
// by the use-case (dispatch.Dispatcher's Check methods) of each kept
// request: they ask exactly what a repeat of an interrupted request_id
// asks. A token leaves nothing to read back: it waits for a repeat or an
// operator.
func (s *Server) Checkers() map[string]idempotency.Checker {
	return map[string]idempotency.Checker{
		dispatch.MethodCreateOrder: func(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
			req := &deliveryv1.CreateOrderRequest{}
			if err := proto.Unmarshal(op.Request, req); err != nil {
				return idempotency.Finding{}, fmt.Errorf("the kept request of %s: %w", op.RequestID, err)
			}
			f, err := s.dispatch.CheckCreated(ctx, newOrder(req))
			if err != nil {
				return idempotency.Finding{}, err
			}
			if f.Outcome == idempotency.Applied {
				f.Response = createdProto(s.dispatch.Confirmed(req.GetOriginId()))
			}
			return f, nil
		},
		dispatch.MethodCancelOrder: func(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
			req := &deliveryv1.CancelOrderRequest{}
			if err := proto.Unmarshal(op.Request, req); err != nil {
				return idempotency.Finding{}, fmt.Errorf("the kept request of %s: %w", op.RequestID, err)
			}
			f, err := s.dispatch.CheckCancelled(ctx, req.GetOriginId())
			if err != nil {
				return idempotency.Finding{}, err
			}
			if f.Outcome == idempotency.Applied {
				f.Response = &deliveryv1.CancelOrderResponse{OriginId: req.GetOriginId()}
			}
			return f, nil
		},
		dispatch.MethodUpsertShop: func(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
			req := &deliveryv1.UpsertShopRequest{}
			if err := proto.Unmarshal(op.Request, req); err != nil {
				return idempotency.Finding{}, fmt.Errorf("the kept request of %s: %w", op.RequestID, err)
			}
			f, err := s.dispatch.CheckShopCreated(ctx, shopUpsert(req))
			if err != nil {
				return idempotency.Finding{}, err
			}
			if f.Outcome == idempotency.Applied {
				f.Response = &deliveryv1.UpsertShopResponse{PerUserid: req.GetPerUserid()}
			}
			return f, nil
		},
	}
}

// operationProto is the proto form of a request_id record.
func operationProto(op idempotency.Operation) *deliveryv1.Operation {
	out := &deliveryv1.Operation{
		RequestId: op.RequestID, Method: op.Method, OriginId: originOf(op), State: stateProto(op),
		Note: op.Note, CreateTime: timestamppb.New(op.CreatedAt),
	}
	for _, r := range op.Resolutions {
		out.Resolutions = append(out.Resolutions, &deliveryv1.Resolution{Outcome: outcomeProto(r.Outcome), Note: r.Note,
			ResolveTime: timestamppb.New(r.At), ResolvedBy: r.By})
	}
	return out
}

// originOf is the origin_id of a CreateOrder or CancelOrder, read from its
// kept request; "" for the other methods.
func originOf(op idempotency.Operation) string {
	var req interface {
		proto.Message
		GetOriginId() string
	}
	switch op.Method {
	case dispatch.MethodCreateOrder:
		req = &deliveryv1.CreateOrderRequest{}
	case dispatch.MethodCancelOrder:
		req = &deliveryv1.CancelOrderRequest{}
	default:
		return ""
	}
	if proto.Unmarshal(op.Request, req) != nil {
		return ""
	}
	return req.GetOriginId()
}

func stateProto(op idempotency.Operation) deliveryv1.OperationState {
	switch {
	case op.Unresolved():
		return deliveryv1.OperationState_OPERATION_STATE_UNKNOWN
	case op.Outcome() == idempotency.Applied:
		return deliveryv1.OperationState_OPERATION_STATE_APPLIED
	case op.Outcome() == idempotency.NotApplied:
		return deliveryv1.OperationState_OPERATION_STATE_NOT_APPLIED
	}
	return deliveryv1.OperationState_OPERATION_STATE_UNSPECIFIED
}

func outcomeProto(o idempotency.Outcome) deliveryv1.ResolutionOutcome {
	switch o {
	case idempotency.Applied:
		return deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED
	case idempotency.NotApplied:
		return deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED
	}
	return deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_UNSPECIFIED
}
