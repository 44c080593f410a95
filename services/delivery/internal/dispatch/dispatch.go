// Package dispatch is the delivery service's use-case: dispatching orders
// through the vendor, cancelling them, creating merchants' shops and
// issuing their tokens, with the rules around those calls. A dispatch is
// paid: it is booked against the caller's daily cap before it is sent, and
// sent at most once. A dispatch, cancel or shop creation whose answer never
// came is resolved by reading the vendor's state back, never by sending it
// again, in one place (resolve.go) that a repeat of the request_id and the
// reconciler both ask.
//
// internal/idempotency, the one at-most-once engine, keeps the request_id
// records: the server runs each mutation under it and hands its
// idempotency.Attempt in here. This package works on the domain types
// (types.go); proto types never reach it, and it declares what it needs
// from the vendor client, order tracking and the usage ledger.
package dispatch

import (
	"context"
	"fmt"

	"github.com/vendorgate/vendorgate/internal/crashpoint"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// The methods under which the engine keeps request_id records
// (idempotency.Operation.Method): the RPCs' names.
const (
	MethodCreateOrder        = "CreateOrder"
	MethodCancelOrder        = "CancelOrder"
	MethodUpsertShop         = "UpsertShop"
	MethodIssueMerchantToken = "IssueMerchantToken"
)

// reasonTokenNotRecorded is the ErrorInfo reason of a request_id whose
// token was resolved issued without being recorded.
const reasonTokenNotRecorded = "TOKEN_NOT_RECORDED"

// Vendor is what dispatch needs from the vendor client (*dingdang.Client).
type Vendor interface {
	CreateOrder(ctx context.Context, o NewOrder) (string, error)
	GetOrder(ctx context.Context, originID string) (*Order, error)
	ListOrders(ctx context.Context, filter int) ([]OrderSummary, error)
	ListCancelReasons(ctx context.Context, originID string) ([]CancelReason, error)
	CancelOrder(ctx context.Context, originID string, reasonID uint32, reason string) (string, error)
	UpsertShop(ctx context.Context, s ShopUpsert) (string, error)
	GetShop(ctx context.Context, perUserID, username, headquartersID string) (*Shop, error)
	IssueToken(ctx context.Context, t TokenRequest) (string, error)
	// DuplicateOrigin is the vendor's refusal of a second order under
	// originID, as CreateOrder returns it (vendorerr.KindAlreadyExists).
	DuplicateOrigin(originID string) error
	// SuccessMessage is the vendor's message for a call that succeeded,
	// given for a dispatch confirmed by reading it back rather than by its
	// own answer.
	SuccessMessage() string
}

// Tracker is what dispatch needs from order tracking (*tracking.Tracker).
type Tracker interface {
	// CallbackURL is the status push URL to send with originID's dispatch.
	CallbackURL(ctx context.Context, originID string) (string, error)
	// Observe records an order read back, for its watchers.
	Observe(ctx context.Context, o *Order, source store.Source) (store.Event, error)
}

// Statuses says what the vendor's raw order_status means, as far as the
// service knows it (its status map).
type Statuses interface {
	// Cancelled reports whether raw is a cancelled order's status; known
	// is false for a status the service cannot map.
	Cancelled(raw string) (cancelled, known bool)
}

// Usage is what dispatch needs from the usage ledger (usage.Ledger).
type Usage interface {
	// Reserve books costFen of the caller's daily spend before a paid
	// call, or refuses it (RESOURCE_EXHAUSTED) over the caller's cap.
	Reserve(ctx context.Context, costFen int64) (release func(applied bool), err error)
}

// Options are the Dispatcher's collaborators beyond the vendor.
type Options struct {
	// Tracker follows orders; nil sends no callback and records no order
	// read back.
	Tracker Tracker
	// Usage books paid dispatches; nil books nothing.
	Usage Usage
	// DispatchPriceFen is what one createOrder costs, booked against the
	// caller's daily spend cap before it is sent.
	DispatchPriceFen int64
}

// Dispatcher carries out the delivery calls and their rules.
type Dispatcher struct {
	vendor   Vendor
	statuses Statuses
	tracker  Tracker
	usage    Usage
	price    int64
}

// New returns a Dispatcher calling vendor, judging order statuses by
// statuses.
func New(vendor Vendor, statuses Statuses, opts Options) *Dispatcher {
	return &Dispatcher{vendor: vendor, statuses: statuses, tracker: opts.Tracker, usage: opts.Usage,
		price: opts.DispatchPriceFen}
}

// Created is a dispatch's result.
type Created struct {
	// OriginID is the dispatched order's origin_id.
	OriginID string
	// VendorMessage is the vendor's message about it.
	VendorMessage string
}

// cannotTellNow keeps an interrupted request_id's outcome unknown when the
// vendor could not be asked what became of it (err): the caller gets
// OUTCOME_UNKNOWN again, and the next repeat, or the reconciler, asks again.
func cannotTellNow(err error) error {
	return fmt.Errorf("%w: reading the vendor's state back failed: %w", idempotency.ErrCannotTell, err)
}

// Create dispatches o under the attempt a of its request_id. The order's
// callback URL, when pushes are configured, carries a token stored before
// the vendor call. createOrder is sent once. An attempt whose outcome is
// unknown is resolved by reading the order back by origin_id, the vendor's
// own duplicate guard (the question CheckCreated asks too): on a repeat of
// its request_id, the order found (and ours) is the result, and an order
// not there is dispatched now, still under that guard.
func (d *Dispatcher) Create(ctx context.Context, a idempotency.Attempt, o NewOrder) (Created, error) {
	if a.Applied {
		return d.Confirmed(o.OriginID), nil
	}
	if !a.Interrupted {
		return d.dispatch(ctx, o)
	}
	res, found, err := d.readBackCreated(ctx, a, o)
	if found || err != nil {
		return res, err
	}
	// Not there: dispatched now, under the vendor's duplicate guard.
	res, err = d.dispatch(ctx, o)
	switch {
	case err == nil:
		// The vendor took a new order under the origin_id, so the
		// interrupted one never landed: its booked cost goes away.
		a.Found(idempotency.NotApplied)
	case vendorerr.IsKind(err, vendorerr.KindAlreadyExists):
		// The interrupted dispatch reached the vendor after our read: the
		// order is there now.
		if res, found, rerr := d.readBackCreated(ctx, a, o); found || rerr != nil {
			return res, rerr
		}
	}
	return res, err
}

// readBackCreated resolves an interrupted dispatch of o by reading it back:
// found says an order is there under its origin_id (res is the result, or
// err, settling the record NOT_APPLIED, when the order is another's);
// neither found nor err means no order is there.
func (d *Dispatcher) readBackCreated(ctx context.Context, a idempotency.Attempt, o NewOrder) (res Created, found bool, err error) {
	f, err := created(ctx, d.vendor, o)
	switch {
	case err != nil:
		return Created{}, false, cannotTellNow(err)
	case f.Outcome == idempotency.Applied:
		d.observe(ctx, f.Order)
		a.Found(idempotency.Applied)
		return d.Confirmed(o.OriginID), true, nil
	case f.Order != nil:
		// Settled for good: the vendor refuses a second order under an
		// origin_id, so this one was never dispatched.
		return Created{}, true, idempotency.FoundNotApplied(d.vendor.DuplicateOrigin(o.OriginID))
	}
	return Created{}, false, nil
}

// dispatch books the dispatch against the caller's daily cap and sends
// createOrder, once.
func (d *Dispatcher) dispatch(ctx context.Context, o NewOrder) (Created, error) {
	// The dispatch is paid: book it against the caller's daily cap before
	// anything is sent.
	release, err := d.reserve(ctx)
	if err != nil {
		return Created{}, err
	}
	if d.tracker != nil {
		cb, err := d.tracker.CallbackURL(ctx, o.OriginID)
		if err != nil {
			release(false)
			return Created{}, err
		}
		o.Callback = cb
	}
	msg, err := d.vendor.CreateOrder(ctx, o)
	if err != nil {
		release(!dispatchRefused(err))
		return Created{}, err
	}
	release(true)
	crashpoint.Hit("delivery.create-order.after-vendor")
	return Created{OriginID: o.OriginID, VendorMessage: msg}, nil
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

// Confirmed is the result of a dispatch found done without its own
// answer: read back, or resolved applied.
func (d *Dispatcher) Confirmed(originID string) Created {
	return Created{OriginID: originID, VendorMessage: d.vendor.SuccessMessage()}
}

// reserve books one dispatch's price for ctx's caller.
func (d *Dispatcher) reserve(ctx context.Context) (func(applied bool), error) {
	if d.usage == nil {
		return func(bool) {}, nil
	}
	return d.usage.Reserve(ctx, d.price)
}

// observe records an order read back, for its watchers; a failure only
// costs them an event they will get from the next push or poll.
func (d *Dispatcher) observe(ctx context.Context, o *Order) {
	if d.tracker != nil {
		_, _ = d.tracker.Observe(ctx, o, store.SourceRead)
	}
}

// Cancel cancels the order originID with a reason under the attempt a of
// its request_id and returns the vendor's message ("" when the cancel was
// found done rather than answered). An attempt whose outcome is unknown is
// resolved by reading the order (the question CheckCancelled asks too): an
// order already cancelled is the result; otherwise the cancel is sent
// (cancelling is safe to repeat: the vendor refuses to cancel twice).
func (d *Dispatcher) Cancel(ctx context.Context, a idempotency.Attempt, originID string, reasonID uint32, reason string) (string, error) {
	if a.Applied {
		return "", nil
	}
	if a.Interrupted {
		f, err := cancelled(ctx, d.vendor, d.statuses, originID)
		if err != nil {
			return "", cannotTellNow(err)
		}
		if f.Outcome != "" {
			a.Found(f.Outcome)
		}
		if f.Outcome == idempotency.Applied {
			d.observe(ctx, f.Order)
			return "", nil
		}
	}
	return d.vendor.CancelOrder(ctx, originID, reasonID, reason)
}

// UpsertShop creates or updates a shop under the attempt a of its
// request_id and returns the vendor's message ("" when the creation was
// found done rather than answered). An interrupted earlier create is
// resolved by reading the shop (the question CheckShopCreated asks too):
// found, it was created; not found, it is sent. An update is safe to send
// again.
func (d *Dispatcher) UpsertShop(ctx context.Context, a idempotency.Attempt, s ShopUpsert) (string, error) {
	if a.Applied {
		return "", nil
	}
	if a.Interrupted && s.Create {
		f, err := shopCreated(ctx, d.vendor, s)
		if err != nil {
			return "", cannotTellNow(err)
		}
		if f.Outcome == idempotency.Applied {
			a.Found(idempotency.Applied)
			return "", nil
		}
		a.Found(idempotency.NotApplied)
	}
	return d.vendor.UpsertShop(ctx, s)
}

// IssueToken issues a merchant's console token under the attempt a of
// requestID. The vendor keeps nothing to read back about a token, and
// issuing one again is harmless, so an interrupted earlier attempt is
// simply sent again. A token an operator found issued cannot be rebuilt:
// its request_id is FAILED_PRECONDITION.
func (d *Dispatcher) IssueToken(ctx context.Context, requestID string, a idempotency.Attempt, t TokenRequest) (string, error) {
	if a.Applied {
		return "", domainerr.FailedPrecondition(reasonTokenNotRecorded,
			"the token of request_id "+requestID+" was issued and never recorded, and the vendor cannot "+
				"show it again; issue another under a new request_id")
	}
	return d.vendor.IssueToken(ctx, t)
}

// GetOrder reads one order.
func (d *Dispatcher) GetOrder(ctx context.Context, originID string) (*Order, error) {
	return d.vendor.GetOrder(ctx, originID)
}

// ListOrders lists orders; filter is the vendor's (1 waiting, 2 accepted,
// 3 done, 4 cancelled, 0 all).
func (d *Dispatcher) ListOrders(ctx context.Context, filter int) ([]OrderSummary, error) {
	return d.vendor.ListOrders(ctx, filter)
}

// ListCancelReasons lists the reasons originID can be cancelled with.
func (d *Dispatcher) ListCancelReasons(ctx context.Context, originID string) ([]CancelReason, error) {
	return d.vendor.ListCancelReasons(ctx, originID)
}

// GetShop reads a merchant's shop.
func (d *Dispatcher) GetShop(ctx context.Context, perUserID, username, headquartersID string) (*Shop, error) {
	return d.vendor.GetShop(ctx, perUserID, username, headquartersID)
}

// CheckCreated is the reconciler's question about an unresolved dispatch
// of o: the order read back by its origin_id (see Create).
func (d *Dispatcher) CheckCreated(ctx context.Context, o NewOrder) (idempotency.Finding, error) {
	f, err := created(ctx, d.vendor, o)
	if err != nil {
		return idempotency.Finding{}, err
	}
	if f.Outcome == idempotency.Applied {
		d.observe(ctx, f.Order)
	}
	return idempotency.Finding{Outcome: f.Outcome, Note: f.Note}, nil
}

// CheckCancelled is the reconciler's question about an unresolved cancel
// of originID: the order's status (see Cancel).
func (d *Dispatcher) CheckCancelled(ctx context.Context, originID string) (idempotency.Finding, error) {
	f, err := cancelled(ctx, d.vendor, d.statuses, originID)
	if err != nil {
		return idempotency.Finding{}, err
	}
	if f.Outcome == idempotency.Applied {
		d.observe(ctx, f.Order)
	}
	return idempotency.Finding{Outcome: f.Outcome, Note: f.Note}, nil
}

// CheckShopCreated is the reconciler's question about an unresolved upsert
// of s: the shop read back when s creates one (see UpsertShop). An update
// leaves nothing to read back: it waits for a repeat or an operator.
func (d *Dispatcher) CheckShopCreated(ctx context.Context, s ShopUpsert) (idempotency.Finding, error) {
	if !s.Create {
		return idempotency.Finding{}, nil
	}
	f, err := shopCreated(ctx, d.vendor, s)
	if err != nil {
		return idempotency.Finding{}, err
	}
	return idempotency.Finding{Outcome: f.Outcome, Note: f.Note}, nil
}
