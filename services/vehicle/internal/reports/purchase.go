package reports

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vendorgate/vendorgate/internal/crashpoint"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
)

// Receipt is what a purchase answers: the order bought, or the one an
// earlier request with its request_id bought.
type Receipt struct {
	// OrderID is the vendor's order id.
	OrderID string
	// VIN is the VIN bought for.
	VIN string
	// BoughtAt is when the vendor confirmed the purchase; zero when not
	// known.
	BoughtAt time.Time
	// Replayed says the order was not bought by this call: an earlier
	// request with the request_id bought it, or a resolution found it sold.
	Replayed bool
}

// Order buys the report p names (OrderReport) at most once under
// requestID; "" makes one ("order-…"), so that an unknown outcome can be
// listed and resolved. asked is the request as the caller sent it, which
// the request_id engine fingerprints (a repeat must ask the same) and keeps
// for the operator.
func (s *Service) Order(ctx context.Context, requestID string, asked proto.Message, p Purchase) (Receipt, error) {
	if requestID == "" {
		var err error
		if requestID, err = newRequestID(viaOrderReport); err != nil {
			return Receipt{}, err
		}
	}
	resp, err := s.purchase(ctx, viaOrderReport, requestID, asked, p)
	if err != nil {
		return Receipt{}, err
	}
	return receiptOf(resp), nil
}

// purchase buys a report under requestID at most once, through the
// request_id engine (internal/idempotency), which owns the request id: its
// lock across replicas, the fingerprint of req (the RPC's request, or the
// lookup's own), an unknown outcome and its resolution. via is the RPC,
// which is the engine's method. Every purchase has a request id, the
// caller's or one made here (newRequestID), so that an unknown outcome can
// be listed and resolved. The response is replayed when the order was not
// bought by this call: an earlier request with requestID bought it, or a
// resolution found it sold.
//
// The purchase runs detached from the caller's cancellation, so that an
// order the vendor sold is always recorded; the vendor call's own timeout
// bounds it. The usage ledger's rows of the vendor call carry requestID,
// for a resolution to settle.
func (s *Service) purchase(ctx context.Context, via, requestID string, req proto.Message, p Purchase) (*orderReply, error) {
	ctx = usage.WithRequestID(context.WithoutCancel(ctx), requestID)
	p.RequestID = requestID
	bought := false
	resp, err := idempotency.Run(ctx, s.opts.Requests, via, requestID, req,
		func(ctx context.Context, a idempotency.Attempt) (*orderReply, error) {
			var (
				o   Order
				err error
			)
			if a.Interrupted || a.Applied {
				o, bought, err = s.settled(ctx, p, via, a)
			} else {
				o, err = s.buy(ctx, p, via)
				bought = err == nil
			}
			if err != nil {
				return nil, err
			}
			return orderResponse(o), nil
		})
	if err != nil {
		return nil, err
	}
	resp.Replayed = !bought
	return resp, nil
}

// settled answers an attempt under a request id whose earlier attempt may
// have reached the vendor without its outcome being recorded
// (a.Interrupted), or that an operator found sold without naming the
// response (a.Applied). The vendor offers no way to ask, so only the
// service's own record can tell: an order recorded for the request id was
// bought; a purchase recorded as started may have been sold
// (idempotency.ErrCannotTell, and the purchase is marked unknown for the
// VIN's lookups); none recorded was never sent, since the record is
// written before the vendor is called, and an interrupted attempt buys now
// (bought).
func (s *Service) settled(ctx context.Context, p Purchase, via string, a idempotency.Attempt) (o Order, bought bool, err error) {
	o, err = s.store.ByRequestID(ctx, p.RequestID)
	switch {
	case errors.Is(err, ErrNotFound) && a.Interrupted:
		o, err = s.buy(ctx, p, via)
		return o, err == nil, err
	case errors.Is(err, ErrNotFound):
		return Order{}, false, idempotency.ErrCannotTell
	case err != nil:
		return Order{}, false, domainerr.StoreUnavailable(err)
	case sold(o):
		return o, false, nil
	case a.Applied:
		// Found sold by a resolution that named no order.
		return Order{}, false, idempotency.ErrCannotTell
	}
	if err := s.store.MarkUnknownByRequestID(ctx, p.RequestID); err != nil {
		s.log.ErrorContext(ctx, "purchase of unknown outcome not marked for its VIN's lookups", "request_id", p.RequestID, "error", err.Error())
	}
	return Order{}, false, idempotency.ErrCannotTell
}

// buy books the report's price against the caller's spend cap, records the
// purchase, buys the report and records the vendor's order. The purchase
// is recorded before the vendor is called, so that an interrupted attempt
// finds it. A purchase the vendor surely did not make (never sent, or
// refused) is removed again and its booking released: the engine then
// frees its request id for a retry. One that may have been sold keeps both,
// and is marked unknown: neither its request id nor a lookup of its VIN
// buys again on its own.
func (s *Service) buy(ctx context.Context, p Purchase, via string) (Order, error) {
	release, err := s.reserve(ctx)
	if err != nil {
		return Order{}, err
	}
	started := s.now()
	id, err := s.store.Begin(ctx, p, started)
	if errors.Is(err, ErrDuplicateRequest) {
		// A purchase of unknown outcome holds the request id that the
		// engine no longer records (e.g. one made before it kept them).
		release(false)
		return Order{}, idempotency.ErrCannotTell
	}
	if err != nil {
		release(false)
		return Order{}, domainerr.StoreUnavailable(err)
	}
	vo, err := s.vendor.Order(ctx, maintenance.OrderRequest{VIN: p.VIN, EngineNumber: p.EngineNumber, PlateNumber: p.PlateNumber})
	// A purchase the vendor may have made keeps its booking: the cap
	// errs on the side of the money.
	release(err == nil || idempotency.MayHaveApplied(err))
	if err != nil && idempotency.MayHaveApplied(err) {
		s.log.ErrorContext(ctx, "report purchase outcome unknown: the vendor may have sold it; not buying again automatically",
			"purchase", id, "vin", p.VIN, "request_id", p.RequestID, "error", err.Error())
		if merr := s.store.MarkUnknownByRequestID(ctx, p.RequestID); merr != nil {
			s.log.ErrorContext(ctx, "purchase of unknown outcome not marked for its VIN's lookups", "purchase", id, "error", merr.Error())
		}
		return Order{}, err
	}
	if err != nil {
		if aerr := s.store.Abandon(ctx, id); aerr != nil {
			s.log.ErrorContext(ctx, "failed purchase not removed", "purchase", id, "error", aerr.Error())
		}
		return Order{}, err
	}
	s.metrics.bought(via)
	// Tests kill the process here: sold, and not yet recorded.
	crashpoint.Hit("vehicle.purchase.after-vendor")
	bought := s.now()
	if err := s.store.Bought(ctx, id, vo.ID, bought); err != nil {
		// Sold, and not recorded: the caller is told the outcome is
		// unknown (never INTERNAL, which invites a new request_id and a
		// second purchase). The sale is recorded once the store is back,
		// and the reconciler then resolves the purchase from it; until
		// then the order id is in the log and the operation's note.
		s.log.ErrorContext(ctx, "bought report order not recorded: recording it once the store is back", "order_id", vo.ID,
			"vin", p.VIN, "request_id", p.RequestID, "error", err.Error())
		go s.recordWhenBack(id, vo.ID, bought)
		return Order{}, domainerr.Unknown(idempotency.ReasonOutcomeUnknown, fmt.Sprintf(
			"the vendor sold order %s for VIN %s, and the purchase could not be recorded (%v): resolve it APPLIED with that order_id",
			vo.ID, p.VIN, err)).WithCause(err)
	}
	s.log.InfoContext(ctx, "report bought", "order_id", vo.ID, "vin", p.VIN, "via", via, "request_id", p.RequestID)
	return Order{
		ID: id, OrderID: vo.ID, VIN: p.VIN, EngineNumber: p.EngineNumber, PlateNumber: p.PlateNumber,
		RequestID: p.RequestID, State: StatePending, CreatedAt: started, BoughtAt: bought,
	}, nil
}

// Bounds of recordWhenBack.
const (
	recordRetryFor     = time.Hour
	recordRetryTimeout = 5 * time.Second
)

// recordWhenBack records purchase id's sold order, which the store failed
// to take, with growing waits for up to recordRetryFor: once recorded, the
// reconciler resolves the purchase's unknown outcome APPLIED from it.
func (s *Service) recordWhenBack(id, orderID string, at time.Time) {
	wait := time.Second
	for deadline := time.Now().Add(recordRetryFor); time.Now().Before(deadline); wait = min(2*wait, time.Minute) {
		s.opts.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), recordRetryTimeout)
		err := s.store.Bought(ctx, id, orderID, at)
		cancel()
		switch {
		case err == nil:
			s.log.Warn("bought report order recorded now that the store is back", "purchase", id, "order_id", orderID)
			return
		case errors.Is(err, ErrNotFound):
			s.log.Error("bought report order not recorded: its purchase was resolved meanwhile", "purchase", id,
				"order_id", orderID, "error", err.Error())
			return
		}
	}
	s.log.Error("bought report order never recorded: the store stayed away", "purchase", id, "order_id", orderID)
}

// reserve books one report's price against the caller's daily spend cap,
// refusing the purchase (RESOURCE_EXHAUSTED, DAILY_SPEND_CAP_REACHED)
// before any vendor call when it would go over. Only buy calls it: a
// report served from the store, or a lookup or request_id that joined
// another's purchase, costs the caller nothing.
func (s *Service) reserve(ctx context.Context) (release func(applied bool), err error) {
	if s.opts.Ledger == nil {
		return func(bool) {}, nil
	}
	return s.opts.Ledger.Reserve(ctx, s.costFen)
}

// now is the time of Options.Now as the store keeps it (milliseconds,
// UTC), so that an order reads the same fresh from a purchase as from the
// store.
func (s *Service) now() time.Time {
	return s.opts.Now().UTC().Truncate(time.Millisecond)
}

// newRequestID makes the request id of a purchase whose caller gave none:
// "lookup-…" for LookupHistory, "order-…" for OrderReport.
func newRequestID(via string) (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("request id: %w", err)
	}
	prefix := "order-"
	if via == viaLookupHistory {
		prefix = "lookup-"
	}
	return prefix + hex.EncodeToString(b), nil
}
