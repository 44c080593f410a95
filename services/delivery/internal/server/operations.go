package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/delivery/internal/outcome"
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

// Checkers are the reconciler's questions to the vendor, per method: a
// dispatch by its origin_id, a cancel by its order's status, a shop's
// creation by the shop; they ask exactly what a repeat of an interrupted
// request_id asks (package outcome). An update of a shop and a token leave
// nothing to read back: they wait for a repeat or an operator.
func (s *Server) Checkers() map[string]idempotency.Checker {
	return map[string]idempotency.Checker{
		methodCreateOrder: func(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
			req := &deliveryv1.CreateOrderRequest{}
			if err := proto.Unmarshal(op.Request, req); err != nil {
				return idempotency.Finding{}, fmt.Errorf("the kept request of %s: %w", op.RequestID, err)
			}
			f, err := outcome.Created(ctx, s.vendor, newOrder(req))
			if err != nil {
				return idempotency.Finding{}, err
			}
			var resp proto.Message
			if f.Outcome == idempotency.Applied {
				s.observe(ctx, f.Order)
				resp = createdResponse(req.GetOriginId())
			}
			return idempotency.Finding{Outcome: f.Outcome, Response: resp, Note: f.Note}, nil
		},
		methodCancelOrder: func(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
			req := &deliveryv1.CancelOrderRequest{}
			if err := proto.Unmarshal(op.Request, req); err != nil {
				return idempotency.Finding{}, fmt.Errorf("the kept request of %s: %w", op.RequestID, err)
			}
			f, err := outcome.Cancelled(ctx, s.vendor, s.statuses, req.GetOriginId())
			if err != nil {
				return idempotency.Finding{}, err
			}
			var resp proto.Message
			if f.Outcome == idempotency.Applied {
				s.observe(ctx, f.Order)
				resp = &deliveryv1.CancelOrderResponse{OriginId: req.GetOriginId()}
			}
			return idempotency.Finding{Outcome: f.Outcome, Response: resp, Note: f.Note}, nil
		},
		methodUpsertShop: func(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
			req := &deliveryv1.UpsertShopRequest{}
			if err := proto.Unmarshal(op.Request, req); err != nil {
				return idempotency.Finding{}, fmt.Errorf("the kept request of %s: %w", op.RequestID, err)
			}
			if !req.GetCreate() {
				return idempotency.Finding{}, nil
			}
			f, err := outcome.ShopCreated(ctx, s.vendor, shopUpsert(req))
			if err != nil {
				return idempotency.Finding{}, err
			}
			var resp proto.Message
			if f.Outcome == idempotency.Applied {
				resp = &deliveryv1.UpsertShopResponse{PerUserid: req.GetPerUserid()}
			}
			return idempotency.Finding{Outcome: f.Outcome, Response: resp, Note: f.Note}, nil
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
	case methodCreateOrder:
		req = &deliveryv1.CreateOrderRequest{}
	case methodCancelOrder:
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
