package dispatch

import (
	"context"
	"strings"

	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// What became of a mutation whose answer never came is found out here, by
// reading the vendor's state back and never by sending the mutation again.
// A repeat of an interrupted request_id and the service's reconciler ask
// the same questions, so they cannot come to different answers.

// reader is what reading back needs from the vendor: reads only.
type reader interface {
	GetOrder(ctx context.Context, originID string) (*Order, error)
	GetShop(ctx context.Context, perUserID, username, headquartersID string) (*Shop, error)
}

// finding is what the vendor's state shows about a mutation.
type finding struct {
	// Outcome is idempotency.Applied or idempotency.NotApplied, or "" when
	// the vendor's state does not tell.
	Outcome idempotency.Outcome
	// Order is the order read back, when the vendor has one under the
	// origin_id.
	Order *Order
	// Note says what the vendor showed, for the operator.
	Note string
}

// created reads back the dispatch of o by its origin_id, the vendor's own
// duplicate guard (orderRecord). The vendor's order under it is o's when its
// receiver is o's (phone and name, where the vendor reports them): Applied.
// No order under it: NotApplied. Another order under it: NotApplied too,
// since the vendor refuses a second order under one origin_id, so o cannot
// have been dispatched (finding.Order is that other order). An error is a
// read that failed: the vendor cannot be asked now.
func created(ctx context.Context, r reader, o NewOrder) (finding, error) {
	got, err := r.GetOrder(ctx, o.OriginID)
	if vendorerr.IsKind(err, vendorerr.KindNotFound) {
		return finding{Outcome: idempotency.NotApplied, Note: "orderRecord has no order with origin_id " + o.OriginID}, nil
	}
	if err != nil {
		return finding{}, err
	}
	if !sameReceiver(got, o) {
		return finding{Outcome: idempotency.NotApplied, Order: got,
			Note: "orderRecord shows another order (another receiver) under origin_id " + o.OriginID}, nil
	}
	return finding{Outcome: idempotency.Applied, Order: got,
		Note: "orderRecord shows the order under origin_id " + o.OriginID + " (vendor order " + got.VendorOrderNumber + ")"}, nil
}

// sameReceiver reports whether the order read back is o's: the receiver's
// phone and name match where the vendor reports them.
func sameReceiver(got *Order, o NewOrder) bool {
	same := func(read, sent string) bool {
		read = strings.TrimSpace(read)
		return read == "" || read == strings.TrimSpace(sent)
	}
	return same(got.ReceiverPhone, o.ReceiverPhone) && same(got.ReceiverName, o.ReceiverName)
}

// cancelled reads back a cancel of the order originID: the order's status
// shows it cancelled, Applied; a status the service knows as another one,
// or no such order, NotApplied; a status it cannot map, "". An error is a
// read that failed.
func cancelled(ctx context.Context, r reader, st Statuses, originID string) (finding, error) {
	got, err := r.GetOrder(ctx, originID)
	if vendorerr.IsKind(err, vendorerr.KindNotFound) {
		return finding{Outcome: idempotency.NotApplied, Note: "orderRecord has no order with origin_id " + originID}, nil
	}
	if err != nil {
		return finding{}, err
	}
	note := "orderRecord shows order_status " + got.RawStatus + " for origin_id " + originID
	switch cancelled, known := st.Cancelled(got.RawStatus); {
	case cancelled:
		return finding{Outcome: idempotency.Applied, Order: got, Note: note + ": cancelled"}, nil
	case known:
		return finding{Outcome: idempotency.NotApplied, Order: got, Note: note + ": not cancelled"}, nil
	default:
		return finding{Order: got, Note: note + ", which the status map does not name"}, nil
	}
}

// shopCreated reads back the creation of the merchant s (getShopInfo by
// per_userid and username): found, Applied; the vendor knows no such
// merchant, NotApplied. An error is a read that failed.
func shopCreated(ctx context.Context, r reader, s ShopUpsert) (finding, error) {
	_, err := r.GetShop(ctx, s.PerUserID, s.Username, "")
	if vendorerr.IsKind(err, vendorerr.KindNotFound) {
		return finding{Outcome: idempotency.NotApplied, Note: "getShopInfo knows no merchant " + s.PerUserID}, nil
	}
	if err != nil {
		return finding{}, err
	}
	return finding{Outcome: idempotency.Applied, Note: "getShopInfo shows the merchant " + s.PerUserID}, nil
}
