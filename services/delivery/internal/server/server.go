// Package server implements vendorgate.delivery.v1.DeliveryService on top of
// the dispatch use-case and order tracking: gRPC handlers and proto ↔
// domain mapping, nothing else. Mutations run under the request_id engine
// (internal/idempotency), which keeps protos. Handlers return the use-case's
// errors as they are; internal/serve's error interceptor turns them into
// statuses.
package server

import (
	"context"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
)

// Domain is the google.rpc.ErrorInfo domain of the delivery service.
const Domain = "delivery.vendorgate.dev"

// Tracking is what the server needs from order tracking
// (*tracking.Tracker): WatchOrder and ListOrderEvents.
type Tracking interface {
	Watch(ctx context.Context, originID string, afterID int64, send func(dispatch.Event) error) error
	Events(ctx context.Context, originID string, afterID int64, limit int) ([]dispatch.Event, error)
}

// Usage is what the server needs from the usage ledger (usage.Ledger).
type Usage interface {
	// Report is GetUsage's answer.
	Report(ctx context.Context, start, end *timestamppb.Timestamp) (*usagev1.UsageReport, error)
}

// Options are the server's collaborators beyond the use-case.
type Options struct {
	// Tracking follows orders (WatchOrder, ListOrderEvents); nil serves
	// neither RPC.
	Tracking Tracking
	// Requests keeps the request_id records; nil ignores request_id.
	Requests *idempotency.Store
	// Usage answers GetUsage; nil serves no GetUsage.
	Usage Usage
}

// Server is the DeliveryService implementation. Requests reach it already
// validated by the protovalidate interceptor.
type Server struct {
	deliveryv1.UnimplementedDeliveryServiceServer
	dispatch *dispatch.Dispatcher
	statuses StatusMap
	tracking Tracking
	requests *idempotency.Store
	usage    Usage
}

// New returns a Server carrying out calls with d, mapping order_status
// through statuses.
func New(d *dispatch.Dispatcher, statuses StatusMap, opts Options) *Server {
	return &Server{dispatch: d, statuses: statuses, tracking: opts.Tracking, requests: opts.Requests, usage: opts.Usage}
}

// once runs call under requestID (see idempotency.Run), or plainly when the
// server keeps no records.
func once[Resp proto.Message](ctx context.Context, s *Server, method, requestID string, req proto.Message,
	call func(context.Context, idempotency.Attempt) (Resp, error)) (Resp, error) {
	if s.requests == nil {
		return call(ctx, idempotency.Attempt{})
	}
	return idempotency.Run(ctx, s.requests, method, requestID, req, call)
}

// CreateOrder implements DeliveryService (see dispatch.Dispatcher.Create).
func (s *Server) CreateOrder(ctx context.Context, req *deliveryv1.CreateOrderRequest) (*deliveryv1.CreateOrderResponse, error) {
	return once(ctx, s, dispatch.MethodCreateOrder, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.CreateOrderResponse, error) {
			c, err := s.dispatch.Create(ctx, a, newOrder(req))
			if err != nil {
				return nil, err
			}
			return createdProto(c), nil
		})
}

// GetUsage implements DeliveryService.
func (s *Server) GetUsage(ctx context.Context, req *deliveryv1.GetUsageRequest) (*deliveryv1.GetUsageResponse, error) {
	if s.usage == nil {
		return s.UnimplementedDeliveryServiceServer.GetUsage(ctx, req)
	}
	r, err := s.usage.Report(ctx, req.GetStartTime(), req.GetEndTime())
	if err != nil {
		return nil, err
	}
	return &deliveryv1.GetUsageResponse{Report: r}, nil
}

// GetOrder implements DeliveryService.
func (s *Server) GetOrder(ctx context.Context, req *deliveryv1.GetOrderRequest) (*deliveryv1.GetOrderResponse, error) {
	o, err := s.dispatch.GetOrder(ctx, req.GetOriginId())
	if err != nil {
		return nil, err
	}
	return &deliveryv1.GetOrderResponse{Order: s.order(o)}, nil
}

// ListOrders implements DeliveryService.
func (s *Server) ListOrders(ctx context.Context, req *deliveryv1.ListOrdersRequest) (*deliveryv1.ListOrdersResponse, error) {
	rows, err := s.dispatch.ListOrders(ctx, int(req.GetFilter()))
	if err != nil {
		return nil, err
	}
	resp := &deliveryv1.ListOrdersResponse{Orders: make([]*deliveryv1.OrderSummary, 0, len(rows))}
	for i := range rows {
		resp.Orders = append(resp.Orders, s.orderSummary(&rows[i]))
	}
	return resp, nil
}

// CancelOrder implements DeliveryService (see dispatch.Dispatcher.Cancel).
func (s *Server) CancelOrder(ctx context.Context, req *deliveryv1.CancelOrderRequest) (*deliveryv1.CancelOrderResponse, error) {
	return once(ctx, s, dispatch.MethodCancelOrder, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.CancelOrderResponse, error) {
			msg, err := s.dispatch.Cancel(ctx, a, req.GetOriginId(), req.GetReasonId(), req.GetReason())
			if err != nil {
				return nil, err
			}
			return &deliveryv1.CancelOrderResponse{OriginId: req.GetOriginId(), VendorMessage: msg}, nil
		})
}

// ListCancelReasons implements DeliveryService.
func (s *Server) ListCancelReasons(ctx context.Context, req *deliveryv1.ListCancelReasonsRequest) (*deliveryv1.ListCancelReasonsResponse, error) {
	reasons, err := s.dispatch.ListCancelReasons(ctx, req.GetOriginId())
	if err != nil {
		return nil, err
	}
	resp := &deliveryv1.ListCancelReasonsResponse{Reasons: make([]*deliveryv1.CancelReason, 0, len(reasons))}
	for _, r := range reasons {
		resp.Reasons = append(resp.Reasons, &deliveryv1.CancelReason{Id: r.ID, Text: r.Text})
	}
	return resp, nil
}

// UpsertShop implements DeliveryService (see dispatch.Dispatcher.UpsertShop).
func (s *Server) UpsertShop(ctx context.Context, req *deliveryv1.UpsertShopRequest) (*deliveryv1.UpsertShopResponse, error) {
	return once(ctx, s, dispatch.MethodUpsertShop, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.UpsertShopResponse, error) {
			msg, err := s.dispatch.UpsertShop(ctx, a, shopUpsert(req))
			if err != nil {
				return nil, err
			}
			return &deliveryv1.UpsertShopResponse{PerUserid: req.GetPerUserid(), VendorMessage: msg}, nil
		})
}

// GetShop implements DeliveryService.
func (s *Server) GetShop(ctx context.Context, req *deliveryv1.GetShopRequest) (*deliveryv1.GetShopResponse, error) {
	shop, err := s.dispatch.GetShop(ctx, req.GetPerUserid(), req.GetUsername(), req.GetHeadquartersId())
	if err != nil {
		return nil, err
	}
	return &deliveryv1.GetShopResponse{Shop: shopProto(shop)}, nil
}

// IssueMerchantToken implements DeliveryService (see
// dispatch.Dispatcher.IssueToken).
func (s *Server) IssueMerchantToken(ctx context.Context, req *deliveryv1.IssueMerchantTokenRequest) (*deliveryv1.IssueMerchantTokenResponse, error) {
	return once(ctx, s, dispatch.MethodIssueMerchantToken, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.IssueMerchantTokenResponse, error) {
			token, err := s.dispatch.IssueToken(ctx, req.GetRequestId(), a, dispatch.TokenRequest{
				PerUserID: req.GetPerUserid(), Username: req.GetUsername(), Mobile: req.GetMobile(), Password: req.GetPassword(),
			})
			if err != nil {
				return nil, err
			}
			return &deliveryv1.IssueMerchantTokenResponse{Token: token}, nil
		})
}
