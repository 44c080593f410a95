// Package outcome finds out from Dingdang what became of a delivery
// mutation whose answer never came, by reading the vendor's state back and
// never by sending the mutation again. A repeat of an interrupted
// request_id and the service's reconciler ask the same questions here, so
// they cannot come to different answers.
package outcome

import (
	"context"
	"strings"

	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
)

// Reader is what reading back needs from the Dingdang client: reads only.
type Reader interface {
	GetOrder(ctx context.Context, originID string) (*dispatch.Order, error)
	GetShop(ctx context.Context, perUserID, username, headquartersID string) (*dispatch.Shop, error)
}

// Statuses says what the vendor's raw order_status means, as far as the
// service knows it (its status map).
type Statuses interface {
	// Cancelled reports whether raw is a cancelled order's status; known
	// is false for a status the service cannot map.
	Cancelled(raw string) (cancelled, known bool)
}

// Finding is what the vendor's state shows about a mutation.
type Finding struct {
	// Outcome is idempotency.Applied or idempotency.NotApplied, or "" when
	// the vendor's state does not tell.
	Outcome idempotency.Outcome
	// Order is the order read back, when the vendor has one under the
	// origin_id.
	Order *dispatch.Order
	// Note says what the vendor showed, for the operator.
	Note string
}

// Created reads back the dispatch of o by its origin_id, the vendor's own
// duplicate guard (orderRecord). The vendor's order under it is o's when its
// receiver is o's (phone and name, where the vendor reports them): Applied.
// No order under it: NotApplied. Another order under it: NotApplied too,
// since the vendor refuses a second order under one origin_id, so o cannot
// have been dispatched (Finding.Order is that other order). An error is a
// read that failed: the vendor cannot be asked now.
func Created(ctx context.Context, r Reader, o dispatch.NewOrder) (Finding, error) {
	got, err := r.GetOrder(ctx, o.OriginID)
	if vendorerr.IsKind(err, vendorerr.KindNotFound) {
		return Finding{Outcome: idempotency.NotApplied, Note: "orderRecord has no order with origin_id " + o.OriginID}, nil
	}
	if err != nil {
		return Finding{}, err
	}
	if !sameReceiver(got, o) {
		return Finding{Outcome: idempotency.NotApplied, Order: got,
			Note: "orderRecord shows another order (another receiver) under origin_id " + o.OriginID}, nil
	}
	return Finding{Outcome: idempotency.Applied, Order: got,
		Note: "orderRecord shows the order under origin_id " + o.OriginID + " (vendor order " + got.VendorOrderNumber + ")"}, nil
}

// sameReceiver reports whether the order read back is o's: the receiver's
// phone and name match where the vendor reports them.
func sameReceiver(got *dispatch.Order, o dispatch.NewOrder) bool {
	same := func(read, sent string) bool {
		read = strings.TrimSpace(read)
		return read == "" || read == strings.TrimSpace(sent)
	}
	return same(got.ReceiverPhone, o.ReceiverPhone) && same(got.ReceiverName, o.ReceiverName)
}

// Cancelled reads back a cancel of the order originID: the order's status
// shows it cancelled, Applied; a status the service knows as another one,
// or no such order, NotApplied; a status it cannot map, "". An error is a
// read that failed.
func Cancelled(ctx context.Context, r Reader, st Statuses, originID string) (Finding, error) {
	got, err := r.GetOrder(ctx, originID)
	if vendorerr.IsKind(err, vendorerr.KindNotFound) {
		return Finding{Outcome: idempotency.NotApplied, Note: "orderRecord has no order with origin_id " + originID}, nil
	}
	if err != nil {
		return Finding{}, err
	}
	note := "orderRecord shows order_status " + got.RawStatus + " for origin_id " + originID
	switch cancelled, known := st.Cancelled(got.RawStatus); {
	case cancelled:
		return Finding{Outcome: idempotency.Applied, Order: got, Note: note + ": cancelled"}, nil
	case known:
		return Finding{Outcome: idempotency.NotApplied, Order: got, Note: note + ": not cancelled"}, nil
	default:
		return Finding{Order: got, Note: note + ", which the status map does not name"}, nil
	}
}

// ShopCreated reads back the creation of the merchant s (getShopInfo by
// per_userid and username): found, Applied; the vendor knows no such
// merchant, NotApplied. An error is a read that failed.
func ShopCreated(ctx context.Context, r Reader, s dispatch.ShopUpsert) (Finding, error) {
	_, err := r.GetShop(ctx, s.PerUserID, s.Username, "")
	if vendorerr.IsKind(err, vendorerr.KindNotFound) {
		return Finding{Outcome: idempotency.NotApplied, Note: "getShopInfo knows no merchant " + s.PerUserID}, nil
	}
	if err != nil {
		return Finding{}, err
	}
	return Finding{Outcome: idempotency.Applied, Note: "getShopInfo shows the merchant " + s.PerUserID}, nil
}
