// Package server implements vendorgate.delivery.v1.DeliveryService on top of
// the Dingdang client: proto ↔ domain mapping. Handlers return the client's
// errors as they are; internal/serve's error interceptor turns them into
// statuses.
package server

import (
	"context"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdang"
)

// Domain is the google.rpc.ErrorInfo domain of the delivery service.
const Domain = "delivery.vendorgate.dev"

// Vendor is what the server needs from the Dingdang client.
type Vendor interface {
	CreateOrder(ctx context.Context, o dingdang.NewOrder) (string, error)
	GetOrder(ctx context.Context, originID string) (*dingdang.Order, error)
	ListOrders(ctx context.Context, types int) ([]dingdang.OrderSummary, error)
	ListCancelReasons(ctx context.Context, originID string) ([]dingdang.CancelReason, error)
	CancelOrder(ctx context.Context, originID string, reasonID uint32, reason string) (string, error)
	UpsertShop(ctx context.Context, s dingdang.ShopUpsert) (string, error)
	GetShop(ctx context.Context, perUserID, username, headquartersID string) (*dingdang.Shop, error)
	IssueToken(ctx context.Context, t dingdang.TokenRequest) (string, error)
}

// Server is the DeliveryService implementation. Requests reach it already
// validated by the protovalidate interceptor.
type Server struct {
	deliveryv1.UnimplementedDeliveryServiceServer
	vendor   Vendor
	statuses StatusMap
}

// New returns a Server calling vendor, mapping order_status through statuses.
func New(vendor Vendor, statuses StatusMap) *Server {
	return &Server{vendor: vendor, statuses: statuses}
}

// CreateOrder implements DeliveryService.
func (s *Server) CreateOrder(ctx context.Context, req *deliveryv1.CreateOrderRequest) (*deliveryv1.CreateOrderResponse, error) {
	msg, err := s.vendor.CreateOrder(ctx, newOrder(req))
	if err != nil {
		return nil, err
	}
	return &deliveryv1.CreateOrderResponse{OriginId: req.GetOriginId(), VendorMessage: msg}, nil
}

// GetOrder implements DeliveryService.
func (s *Server) GetOrder(ctx context.Context, req *deliveryv1.GetOrderRequest) (*deliveryv1.GetOrderResponse, error) {
	o, err := s.vendor.GetOrder(ctx, req.GetOriginId())
	if err != nil {
		return nil, err
	}
	return &deliveryv1.GetOrderResponse{Order: s.order(o)}, nil
}

// ListOrders implements DeliveryService.
func (s *Server) ListOrders(ctx context.Context, req *deliveryv1.ListOrdersRequest) (*deliveryv1.ListOrdersResponse, error) {
	rows, err := s.vendor.ListOrders(ctx, int(req.GetFilter()))
	if err != nil {
		return nil, err
	}
	resp := &deliveryv1.ListOrdersResponse{Orders: make([]*deliveryv1.OrderSummary, 0, len(rows))}
	for i := range rows {
		resp.Orders = append(resp.Orders, s.orderSummary(&rows[i]))
	}
	return resp, nil
}

// CancelOrder implements DeliveryService.
func (s *Server) CancelOrder(ctx context.Context, req *deliveryv1.CancelOrderRequest) (*deliveryv1.CancelOrderResponse, error) {
	msg, err := s.vendor.CancelOrder(ctx, req.GetOriginId(), req.GetReasonId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	return &deliveryv1.CancelOrderResponse{OriginId: req.GetOriginId(), VendorMessage: msg}, nil
}

// ListCancelReasons implements DeliveryService.
func (s *Server) ListCancelReasons(ctx context.Context, req *deliveryv1.ListCancelReasonsRequest) (*deliveryv1.ListCancelReasonsResponse, error) {
	reasons, err := s.vendor.ListCancelReasons(ctx, req.GetOriginId())
	if err != nil {
		return nil, err
	}
	resp := &deliveryv1.ListCancelReasonsResponse{Reasons: make([]*deliveryv1.CancelReason, 0, len(reasons))}
	for _, r := range reasons {
		resp.Reasons = append(resp.Reasons, &deliveryv1.CancelReason{Id: r.ID, Text: r.Text})
	}
	return resp, nil
}

// UpsertShop implements DeliveryService.
func (s *Server) UpsertShop(ctx context.Context, req *deliveryv1.UpsertShopRequest) (*deliveryv1.UpsertShopResponse, error) {
	msg, err := s.vendor.UpsertShop(ctx, shopUpsert(req))
	if err != nil {
		return nil, err
	}
	return &deliveryv1.UpsertShopResponse{PerUserid: req.GetPerUserid(), VendorMessage: msg}, nil
}

// GetShop implements DeliveryService.
func (s *Server) GetShop(ctx context.Context, req *deliveryv1.GetShopRequest) (*deliveryv1.GetShopResponse, error) {
	shop, err := s.vendor.GetShop(ctx, req.GetPerUserid(), req.GetUsername(), req.GetHeadquartersId())
	if err != nil {
		return nil, err
	}
	return &deliveryv1.GetShopResponse{Shop: shopProto(shop)}, nil
}

// IssueMerchantToken implements DeliveryService.
func (s *Server) IssueMerchantToken(ctx context.Context, req *deliveryv1.IssueMerchantTokenRequest) (*deliveryv1.IssueMerchantTokenResponse, error) {
	token, err := s.vendor.IssueToken(ctx, dingdang.TokenRequest{
		PerUserID: req.GetPerUserid(), Username: req.GetUsername(), Mobile: req.GetMobile(), Password: req.GetPassword(),
	})
	if err != nil {
		return nil, err
	}
	return &deliveryv1.IssueMerchantTokenResponse{Token: token}, nil
}
