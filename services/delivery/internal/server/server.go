// Package server implements vendorgate.delivery.v1.DeliveryService on top of
// the Dingdang client: proto ↔ domain mapping. Handlers return the client's
// errors as they are; internal/serve's error interceptor turns them into
// statuses.
package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	"github.com/vendorgate/vendorgate/internal/crashpoint"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdang"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// Domain is the google.rpc.ErrorInfo domain of the delivery service.
const Domain = "delivery.vendorgate.dev"

// ExplicitGrants lists the RPCs a caller may call only when its allow list
// names them, money movements and purchases: none here. A dispatch is paid
// (DINGDANG_DISPATCH_PRICE_YUAN) but it is the service's everyday
// business, capped per caller by daily_spend_cap_yuan rather than granted
// by name.
var ExplicitGrants = []string{}

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

// Tracking is what the server needs from the order tracker.
type Tracking interface {
	CallbackURL(ctx context.Context, originID string) (string, error)
	Observe(ctx context.Context, o *dingdang.Order, source store.Source) (store.Event, error)
	Watch(ctx context.Context, originID string, afterID int64, send func(store.Event) error) error
	Events(ctx context.Context, originID string, afterID int64, limit int) ([]store.Event, error)
}

// Usage is what the server needs from the usage ledger (usage.Ledger).
type Usage interface {
	// Reserve books costFen of the caller's daily spend before a paid
	// call, or refuses it (RESOURCE_EXHAUSTED) over the caller's cap.
	Reserve(ctx context.Context, costFen int64) (release func(applied bool), err error)
	// Report is GetUsage's answer.
	Report(ctx context.Context, start, end *timestamppb.Timestamp) (*usagev1.UsageReport, error)
}

// Options are the server's collaborators beyond the vendor.
type Options struct {
	// Tracking follows orders (callbacks, WatchOrder, ListOrderEvents); nil
	// sends no callback and serves neither RPC.
	Tracking Tracking
	// Requests keeps the request_id records; nil ignores request_id.
	Requests *idempotency.Store
	// Usage books paid dispatches and answers GetUsage; nil books nothing
	// and serves no GetUsage.
	Usage Usage
	// DispatchPriceFen is what one createOrder costs, booked against the
	// caller's daily spend cap before it is sent.
	DispatchPriceFen int64
}

// Server is the DeliveryService implementation. Requests reach it already
// validated by the protovalidate interceptor.
type Server struct {
	deliveryv1.UnimplementedDeliveryServiceServer
	vendor   Vendor
	statuses StatusMap
	tracking Tracking
	requests *idempotency.Store
	usage    Usage
	price    int64
}

// New returns a Server calling vendor, mapping order_status through statuses.
func New(vendor Vendor, statuses StatusMap, opts Options) *Server {
	return &Server{vendor: vendor, statuses: statuses, tracking: opts.Tracking, requests: opts.Requests,
		usage: opts.Usage, price: opts.DispatchPriceFen}
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

// readBackFailed keeps an interrupted request_id interrupted when the
// vendor could not be asked what became of it: the next repeat asks again.
func readBackFailed(what string, err error) error {
	return fmt.Errorf("%w: %w", domainerr.Unknown("OUTCOME_UNKNOWN",
		"an earlier attempt with this request_id may have "+what+", and reading it back from the vendor failed; repeat the request to check again"), err)
}

// CreateOrder implements DeliveryService. The order's callback URL, when
// pushes are configured, carries a token stored before the vendor call. An
// interrupted earlier attempt under the same request_id is resolved by
// reading the order back by origin_id, the vendor's own duplicate guard:
// found (and ours), it is the result; not found, it was never created and
// is sent.
func (s *Server) CreateOrder(ctx context.Context, req *deliveryv1.CreateOrderRequest) (*deliveryv1.CreateOrderResponse, error) {
	return once(ctx, s, "CreateOrder", req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.CreateOrderResponse, error) {
			o := newOrder(req)
			if a.Interrupted {
				got, err := s.vendor.GetOrder(ctx, o.OriginID)
				switch {
				case err == nil && got.ReceiverPhone != "" && got.ReceiverPhone != o.ReceiverPhone:
					return nil, &vendorerr.Error{Kind: vendorerr.KindAlreadyExists, Vendor: dingdang.Vendor,
						Message: "origin_id " + o.OriginID + " is another order's"}
				case err == nil:
					s.observe(ctx, got)
					return &deliveryv1.CreateOrderResponse{OriginId: o.OriginID, VendorMessage: readBackMessage}, nil
				case !vendorerr.IsKind(err, vendorerr.KindNotFound):
					return nil, readBackFailed("created the order", err)
				}
			}
			// The dispatch is paid: book it against the caller's daily cap
			// before anything is sent (an interrupted attempt found above
			// was booked by that attempt).
			release, err := s.reserve(ctx)
			if err != nil {
				return nil, err
			}
			if s.tracking != nil {
				cb, err := s.tracking.CallbackURL(ctx, o.OriginID)
				if err != nil {
					release(false)
					return nil, err
				}
				o.Callback = cb
			}
			msg, err := s.vendor.CreateOrder(ctx, o)
			if err != nil {
				release(!dingdang.NotDispatched(err))
				return nil, err
			}
			release(true)
			crashpoint.Hit("delivery.create-order.after-vendor")
			return &deliveryv1.CreateOrderResponse{OriginId: o.OriginID, VendorMessage: msg}, nil
		})
}

// reserve books one dispatch's price for ctx's caller.
func (s *Server) reserve(ctx context.Context) (func(applied bool), error) {
	if s.usage == nil {
		return func(bool) {}, nil
	}
	return s.usage.Reserve(ctx, s.price)
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

// readBackMessage is the vendor's success message, given when an
// interrupted create is confirmed by reading the order back (the client
// says the same when its own re-send meets the duplicate guard).
const readBackMessage = "成功"

// observe records an order read back, for its watchers; a failure only
// costs them an event they will get from the next push or poll.
func (s *Server) observe(ctx context.Context, o *dingdang.Order) {
	if s.tracking != nil {
		_, _ = s.tracking.Observe(ctx, o, store.SourceRead)
	}
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

// CancelOrder implements DeliveryService. An interrupted earlier attempt
// under the same request_id is resolved by reading the order: already
// cancelled is the result; otherwise the cancel is sent (cancelling is
// safe to repeat: the vendor refuses to cancel twice).
func (s *Server) CancelOrder(ctx context.Context, req *deliveryv1.CancelOrderRequest) (*deliveryv1.CancelOrderResponse, error) {
	return once(ctx, s, "CancelOrder", req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.CancelOrderResponse, error) {
			if a.Interrupted {
				got, err := s.vendor.GetOrder(ctx, req.GetOriginId())
				if err != nil && !vendorerr.IsKind(err, vendorerr.KindNotFound) {
					return nil, readBackFailed("cancelled the order", err)
				}
				if err == nil && s.statuses.status(got.RawStatus) == deliveryv1.OrderStatus_ORDER_STATUS_CANCELLED {
					s.observe(ctx, got)
					return &deliveryv1.CancelOrderResponse{OriginId: req.GetOriginId()}, nil
				}
			}
			msg, err := s.vendor.CancelOrder(ctx, req.GetOriginId(), req.GetReasonId(), req.GetReason())
			if err != nil {
				return nil, err
			}
			return &deliveryv1.CancelOrderResponse{OriginId: req.GetOriginId(), VendorMessage: msg}, nil
		})
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

// UpsertShop implements DeliveryService. An interrupted earlier create
// under the same request_id is resolved by reading the shop: found, it was
// created; not found, it is sent. An update is safe to send again.
func (s *Server) UpsertShop(ctx context.Context, req *deliveryv1.UpsertShopRequest) (*deliveryv1.UpsertShopResponse, error) {
	return once(ctx, s, "UpsertShop", req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.UpsertShopResponse, error) {
			if a.Interrupted && req.GetCreate() {
				_, err := s.vendor.GetShop(ctx, req.GetPerUserid(), req.GetUsername(), "")
				if err == nil {
					return &deliveryv1.UpsertShopResponse{PerUserid: req.GetPerUserid()}, nil
				}
				if !vendorerr.IsKind(err, vendorerr.KindNotFound) {
					return nil, readBackFailed("created the shop", err)
				}
			}
			msg, err := s.vendor.UpsertShop(ctx, shopUpsert(req))
			if err != nil {
				return nil, err
			}
			return &deliveryv1.UpsertShopResponse{PerUserid: req.GetPerUserid(), VendorMessage: msg}, nil
		})
}

// GetShop implements DeliveryService.
func (s *Server) GetShop(ctx context.Context, req *deliveryv1.GetShopRequest) (*deliveryv1.GetShopResponse, error) {
	shop, err := s.vendor.GetShop(ctx, req.GetPerUserid(), req.GetUsername(), req.GetHeadquartersId())
	if err != nil {
		return nil, err
	}
	return &deliveryv1.GetShopResponse{Shop: shopProto(shop)}, nil
}

// IssueMerchantToken implements DeliveryService. The vendor keeps nothing
// to read back about a token, and issuing one again is harmless, so an
// interrupted earlier attempt is simply sent again.
func (s *Server) IssueMerchantToken(ctx context.Context, req *deliveryv1.IssueMerchantTokenRequest) (*deliveryv1.IssueMerchantTokenResponse, error) {
	return once(ctx, s, "IssueMerchantToken", req.GetRequestId(), req,
		func(ctx context.Context, _ idempotency.Attempt) (*deliveryv1.IssueMerchantTokenResponse, error) {
			token, err := s.vendor.IssueToken(ctx, dingdang.TokenRequest{
				PerUserID: req.GetPerUserid(), Username: req.GetUsername(), Mobile: req.GetMobile(), Password: req.GetPassword(),
			})
			if err != nil {
				return nil, err
			}
			return &deliveryv1.IssueMerchantTokenResponse{Token: token}, nil
		})
}
