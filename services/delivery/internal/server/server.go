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
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
	"github.com/vendorgate/vendorgate/services/delivery/internal/outcome"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// Domain is the google.rpc.ErrorInfo domain of the delivery service.
const Domain = "delivery.vendorgate.dev"

// The methods under which request_id records are kept: the RPCs' names.
const (
	methodCreateOrder        = "CreateOrder"
	methodCancelOrder        = "CancelOrder"
	methodUpsertShop         = "UpsertShop"
	methodIssueMerchantToken = "IssueMerchantToken"
)

// Vendor is what the server needs from the Dingdang client.
type Vendor interface {
	CreateOrder(ctx context.Context, o dispatch.NewOrder) (string, error)
	GetOrder(ctx context.Context, originID string) (*dispatch.Order, error)
	ListOrders(ctx context.Context, types int) ([]dispatch.OrderSummary, error)
	ListCancelReasons(ctx context.Context, originID string) ([]dispatch.CancelReason, error)
	CancelOrder(ctx context.Context, originID string, reasonID uint32, reason string) (string, error)
	UpsertShop(ctx context.Context, s dispatch.ShopUpsert) (string, error)
	GetShop(ctx context.Context, perUserID, username, headquartersID string) (*dispatch.Shop, error)
	IssueToken(ctx context.Context, t dispatch.TokenRequest) (string, error)
}

// Tracking is what the server needs from the order tracker.
type Tracking interface {
	CallbackURL(ctx context.Context, originID string) (string, error)
	Observe(ctx context.Context, o *dispatch.Order, source store.Source) (store.Event, error)
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

// cannotTellNow keeps an interrupted request_id's outcome unknown when the
// vendor could not be asked what became of it (err): the caller gets
// OUTCOME_UNKNOWN again, and the next repeat, or the reconciler, asks again.
func cannotTellNow(err error) error {
	return fmt.Errorf("%w: reading the vendor's state back failed: %w", idempotency.ErrCannotTell, err)
}

// CreateOrder implements DeliveryService. The order's callback URL, when
// pushes are configured, carries a token stored before the vendor call.
// createOrder is sent once. An attempt whose outcome is unknown is resolved
// by reading the order back by origin_id, the vendor's own duplicate guard
// (outcome.Created, which the reconciler asks too): on a repeat of its
// request_id, the order found (and ours) is the result, and an order not
// there is dispatched now, still under that guard.
func (s *Server) CreateOrder(ctx context.Context, req *deliveryv1.CreateOrderRequest) (*deliveryv1.CreateOrderResponse, error) {
	return once(ctx, s, methodCreateOrder, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.CreateOrderResponse, error) {
			o := newOrder(req)
			if a.Applied {
				return createdResponse(o.OriginID), nil
			}
			if !a.Interrupted {
				return s.dispatch(ctx, o)
			}
			resp, found, err := s.readBackCreated(ctx, a, o)
			if found || err != nil {
				return resp, err
			}
			// Not there: dispatched now, under the vendor's duplicate guard.
			resp, err = s.dispatch(ctx, o)
			switch {
			case err == nil:
				// The vendor took a new order under the origin_id, so the
				// interrupted one never landed: its booked cost goes away.
				a.Found(idempotency.NotApplied)
			case vendorerr.IsKind(err, vendorerr.KindAlreadyExists):
				// The interrupted dispatch reached the vendor after our
				// read: the order is there now.
				if resp, found, rerr := s.readBackCreated(ctx, a, o); found || rerr != nil {
					return resp, rerr
				}
			}
			return resp, err
		})
}

// readBackCreated resolves an interrupted dispatch of o under requestID by
// reading it back: found says an order is there under its origin_id (resp
// is the result, or err, settling the record NOT_APPLIED, when the order is
// another's); neither found nor err means no order is there.
func (s *Server) readBackCreated(ctx context.Context, a idempotency.Attempt, o dispatch.NewOrder) (resp *deliveryv1.CreateOrderResponse, found bool, err error) {
	f, err := outcome.Created(ctx, s.vendor, o)
	switch {
	case err != nil:
		return nil, false, cannotTellNow(err)
	case f.Outcome == idempotency.Applied:
		s.observe(ctx, f.Order)
		a.Found(idempotency.Applied)
		return createdResponse(o.OriginID), true, nil
	case f.Order != nil:
		// Settled for good: the vendor refuses a second order under an
		// origin_id, so this one was never dispatched.
		return nil, true, idempotency.FoundNotApplied(&vendorerr.Error{Kind: vendorerr.KindAlreadyExists, Vendor: dingdang.Vendor,
			Endpoint: dingdang.EndpointCreateOrder, Message: "origin_id " + o.OriginID + " is another order's"})
	}
	return nil, false, nil
}

// dispatch books the dispatch against the caller's daily cap and sends
// createOrder, once.
func (s *Server) dispatch(ctx context.Context, o dispatch.NewOrder) (*deliveryv1.CreateOrderResponse, error) {
	// The dispatch is paid: book it against the caller's daily cap before
	// anything is sent.
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
		release(!dispatchRefused(err))
		return nil, err
	}
	release(true)
	crashpoint.Hit("delivery.create-order.after-vendor")
	return &deliveryv1.CreateOrderResponse{OriginId: o.OriginID, VendorMessage: msg}, nil
}

// dispatchRefused reports whether a createOrder failure means this
// dispatch certainly did not happen, so that its booking is released: it
// was never sent, or the vendor refused or throttled it
// (vendorerr.NotApplied), or refused it as a duplicate origin_id (the
// order under that id is an earlier dispatch, booked by whoever made it).
// A dispatch of unknown outcome stays booked.
func dispatchRefused(err error) bool {
	return vendorerr.NotApplied(err) || vendorerr.IsKind(err, vendorerr.KindAlreadyExists)
}

// createdResponse is CreateOrder's answer for an order found dispatched
// without its own answer: read back, or resolved applied.
func createdResponse(originID string) *deliveryv1.CreateOrderResponse {
	return &deliveryv1.CreateOrderResponse{OriginId: originID, VendorMessage: readBackMessage}
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

// readBackMessage is the vendor's success message, given when a dispatch
// is confirmed by reading the order back rather than by its own answer.
const readBackMessage = "成功"

// observe records an order read back, for its watchers; a failure only
// costs them an event they will get from the next push or poll.
func (s *Server) observe(ctx context.Context, o *dispatch.Order) {
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

// CancelOrder implements DeliveryService. An attempt whose outcome is
// unknown is resolved by reading the order (outcome.Cancelled, which the
// reconciler asks too): on a repeat of its request_id, an order already
// cancelled is the result; otherwise the cancel is sent (cancelling is safe
// to repeat: the vendor refuses to cancel twice).
func (s *Server) CancelOrder(ctx context.Context, req *deliveryv1.CancelOrderRequest) (*deliveryv1.CancelOrderResponse, error) {
	return once(ctx, s, methodCancelOrder, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.CancelOrderResponse, error) {
			if a.Applied {
				return &deliveryv1.CancelOrderResponse{OriginId: req.GetOriginId()}, nil
			}
			if a.Interrupted {
				f, err := outcome.Cancelled(ctx, s.vendor, s.statuses, req.GetOriginId())
				if err != nil {
					return nil, cannotTellNow(err)
				}
				if f.Outcome != "" {
					a.Found(f.Outcome)
				}
				if f.Outcome == idempotency.Applied {
					s.observe(ctx, f.Order)
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
// under the same request_id is resolved by reading the shop
// (outcome.ShopCreated, which the reconciler asks too): found, it was
// created; not found, it is sent. An update is safe to send again.
func (s *Server) UpsertShop(ctx context.Context, req *deliveryv1.UpsertShopRequest) (*deliveryv1.UpsertShopResponse, error) {
	return once(ctx, s, methodUpsertShop, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.UpsertShopResponse, error) {
			if a.Applied {
				return &deliveryv1.UpsertShopResponse{PerUserid: req.GetPerUserid()}, nil
			}
			if a.Interrupted && req.GetCreate() {
				f, err := outcome.ShopCreated(ctx, s.vendor, shopUpsert(req))
				if err != nil {
					return nil, cannotTellNow(err)
				}
				if f.Outcome == idempotency.Applied {
					a.Found(idempotency.Applied)
					return &deliveryv1.UpsertShopResponse{PerUserid: req.GetPerUserid()}, nil
				}
				a.Found(idempotency.NotApplied)
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
// interrupted earlier attempt is simply sent again. A token an operator
// found issued cannot be rebuilt: its request_id is FAILED_PRECONDITION.
func (s *Server) IssueMerchantToken(ctx context.Context, req *deliveryv1.IssueMerchantTokenRequest) (*deliveryv1.IssueMerchantTokenResponse, error) {
	return once(ctx, s, methodIssueMerchantToken, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*deliveryv1.IssueMerchantTokenResponse, error) {
			if a.Applied {
				return nil, domainerr.FailedPrecondition(reasonTokenNotRecorded,
					"the token of request_id "+req.GetRequestId()+" was issued and never recorded, and the vendor cannot "+
						"show it again; issue another under a new request_id")
			}
			token, err := s.vendor.IssueToken(ctx, dispatch.TokenRequest{
				PerUserID: req.GetPerUserid(), Username: req.GetUsername(), Mobile: req.GetMobile(), Password: req.GetPassword(),
			})
			if err != nil {
				return nil, err
			}
			return &deliveryv1.IssueMerchantTokenResponse{Token: token}, nil
		})
}

// reasonTokenNotRecorded is the ErrorInfo reason of a request_id whose
// token was resolved issued without being recorded.
const reasonTokenNotRecorded = "TOKEN_NOT_RECORDED"
