package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/vendorgate/vendorgate/internal/crashpoint"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// order buys a report for OrderReport. With a request id it buys at most
// once per id: concurrent requests in this process share one purchase, the
// request id's lock refuses a repeat in flight on another replica, and a
// request id already bought returns that order with replayed set.
//
// The purchase runs detached from the caller's cancellation, so that an
// order the vendor sold is always recorded; the vendor call's own timeout
// bounds it.
func (s *Server) order(ctx context.Context, p store.Purchase) (o store.Order, replayed bool, err error) {
	work := context.WithoutCancel(ctx)
	if p.RequestID == "" {
		o, err = s.buy(work, p, viaOrderReport)
		return o, false, err
	}
	type result struct {
		order    store.Order
		replayed bool
	}
	res, led, err := share(ctx, &s.requests, p.RequestID, func() (result, error) {
		o, replayed, err := s.orderOnce(work, p)
		return result{o, replayed}, err
	})
	if err != nil {
		return store.Order{}, false, err
	}
	if res.order.VIN != p.VIN {
		// It joined a concurrent request with the same id and another VIN.
		return store.Order{}, false, errRequestIDReused()
	}
	// A request that joined another one with its id bought nothing itself.
	return res.order, res.replayed || !led, nil
}

// errRequestIDReused is the invalid argument of a request id that bought a
// report for another VIN.
func errRequestIDReused() error {
	return domainerr.InvalidArgument("request_id", "REQUEST_ID_REUSED", "was used before to buy a report for another VIN")
}

// retryInFlightAfter is the retry advice for a request id in flight.
const retryInFlightAfter = time.Second

// errInFlight is the refusal of a request id whose purchase is in flight,
// on this replica or another.
func errInFlight() error {
	return domainerr.Aborted("REQUEST_ID_IN_FLIGHT",
		"a purchase with this request_id is in progress; retry in a second", retryInFlightAfter)
}

// orderOnce buys for a request id unless the store knows it already. It
// holds the request id's lock throughout, so that a purchase found in
// StateBuying is one whose process died.
func (s *Server) orderOnce(ctx context.Context, p store.Purchase) (store.Order, bool, error) {
	unlock, ok, err := s.opts.Locks.TryLock(ctx, requestKey(p.RequestID))
	if err != nil {
		return store.Order{}, false, err
	}
	if !ok {
		return store.Order{}, false, errInFlight()
	}
	defer unlock()
	// Two rounds: an expired request id released in the first is bought
	// for in the second.
	for range 2 {
		prior, err := s.store.ByRequestID(ctx, p.RequestID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			o, err := s.buy(ctx, p, viaOrderReport)
			if errors.Is(err, store.ErrDuplicateRequest) {
				// Another replica's process that did not take the lock
				// (an older version) got there first.
				return store.Order{}, false, errInFlight()
			}
			return o, false, err
		case err != nil:
			return store.Order{}, false, err
		case prior.State != store.StateBuying && prior.State != store.StateUnknown &&
			prior.CreatedAt.Before(time.Now().Add(-s.opts.RequestIDTTL)):
			if err := s.store.ReleaseRequestID(ctx, prior.ID); err != nil {
				return store.Order{}, false, err
			}
			continue
		case prior.VIN != p.VIN:
			return store.Order{}, false, errRequestIDReused()
		case prior.State == store.StateBuying:
			// Its lock was free: the process buying it died between the
			// vendor call and its record. The vendor may have sold it.
			if err := s.markDead(ctx, prior); err != nil {
				return store.Order{}, false, err
			}
			return store.Order{}, false, errOutcomeUnknown(prior)
		case prior.State == store.StateUnknown:
			return store.Order{}, false, errOutcomeUnknown(prior)
		case prior.State == store.StateNotApplied:
			return store.Order{}, false, errNotApplied(prior)
		default:
			return prior, true, nil
		}
	}
	return store.Order{}, false, errInFlight()
}

// markDead records a purchase left in StateBuying by a process that died
// as StateUnknown, for an operator; its request id's lock must be held.
func (s *Server) markDead(ctx context.Context, o store.Order) error {
	s.log.ErrorContext(ctx, "report purchase left unanswered by a process that died: the vendor may have sold it; "+
		"listed for an operator (ListUnresolvedOperations), not bought again automatically",
		"purchase", o.ID, "vin", o.VIN, "request_id", o.RequestID, "started", o.CreatedAt)
	return s.store.MarkUnknown(ctx, o.ID)
}

// reapDead marks the purchases in StateBuying for vin (every VIN when
// "") whose request id's lock is free as StateUnknown: their process died.
func (s *Server) reapDead(ctx context.Context, vin string) error {
	buying, err := s.store.Buying(ctx, vin)
	if err != nil {
		return err
	}
	for _, o := range buying {
		unlock, ok, err := s.opts.Locks.TryLock(ctx, requestKey(o.RequestID))
		if err != nil {
			return err
		}
		if !ok {
			continue // in flight
		}
		err = s.markDead(ctx, o)
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// buy records a purchase, buys the report and records the vendor's order.
// The purchase is recorded before the vendor is called, so that the store's
// unique request id decides between concurrent requests; a failed purchase
// is removed again, leaving the caller free to retry.
//
// Every purchase gets a request id, the caller's or one made here, so that
// an operator can name it; with one made here, buy takes its lock (the
// caller holds the lock of its own).
func (s *Server) buy(ctx context.Context, p store.Purchase, via string) (store.Order, error) {
	if p.RequestID == "" {
		id, err := newRequestID(via)
		if err != nil {
			return store.Order{}, err
		}
		unlock, ok, err := s.opts.Locks.TryLock(ctx, requestKey(id))
		if err != nil {
			return store.Order{}, err
		}
		if !ok {
			return store.Order{}, fmt.Errorf("request id %s made for a purchase is taken", id)
		}
		defer unlock()
		p.RequestID = id
	}
	release, err := s.reserve(ctx)
	if err != nil {
		return store.Order{}, err
	}
	started := now()
	id, err := s.store.Begin(ctx, p, started)
	if err != nil {
		release(false)
		return store.Order{}, err
	}
	vo, err := s.vendor.Order(ctx, maintenance.OrderRequest{VIN: p.VIN, EngineNumber: p.EngineNumber, PlateNumber: p.PlateNumber})
	// A purchase the vendor may have made keeps its booking: the cap
	// errs on the side of the money.
	release(err == nil || unknownOutcome(err))
	// Whatever the vendor answered is recorded, even when ctx has just ended.
	record := context.WithoutCancel(ctx)
	if err != nil && unknownOutcome(err) {
		// The vendor may have sold it: keep the purchase, so that neither
		// its request id nor a lookup of its VIN buys again on its own.
		s.log.ErrorContext(ctx, "report purchase outcome unknown: the vendor may have sold it; not buying again automatically",
			"purchase", id, "vin", p.VIN, "request_id", p.RequestID, "error", err.Error())
		if merr := s.store.MarkUnknown(record, id); merr != nil {
			s.log.ErrorContext(ctx, "purchase of unknown outcome not recorded", "purchase", id, "error", merr.Error())
		}
		return store.Order{}, err
	}
	if err != nil {
		if aerr := s.store.Abandon(record, id); aerr != nil {
			s.log.ErrorContext(ctx, "failed purchase not removed", "purchase", id, "error", aerr.Error())
		}
		return store.Order{}, err
	}
	s.metrics.bought(via)
	// Tests kill the process here: sold, and not yet recorded.
	crashpoint.Hit("vehicle.purchase.after-vendor")
	bought := now()
	if err := s.store.Bought(record, id, vo.ID, bought); err != nil {
		// The caller paid for the order: hand it out, and leave the order
		// id in the log, the one place it is now kept.
		s.log.ErrorContext(ctx, "bought report order not recorded", "order_id", vo.ID, "vin", p.VIN,
			"request_id", p.RequestID, "error", err.Error())
	}
	s.log.InfoContext(ctx, "report bought", "order_id", vo.ID, "vin", p.VIN, "via", via)
	return store.Order{
		ID: id, OrderID: vo.ID, VIN: p.VIN, EngineNumber: p.EngineNumber, PlateNumber: p.PlateNumber,
		RequestID: p.RequestID, State: store.StatePending, CreatedAt: started, BoughtAt: bought,
	}, nil
}

// reserve books one report's price against the caller's daily spend cap,
// refusing the purchase (RESOURCE_EXHAUSTED, DAILY_SPEND_CAP_REACHED)
// before any vendor call when it would go over. Only buy calls it: a
// report served from the store, or a lookup or request_id that joined
// another's purchase, costs the caller nothing.
func (s *Server) reserve(ctx context.Context) (release func(applied bool), err error) {
	if s.opts.Ledger == nil {
		return func(bool) {}, nil
	}
	return s.opts.Ledger.Reserve(ctx, s.costFen)
}

// now is the time as the store keeps it (milliseconds, UTC), so that an
// order reads the same fresh from a purchase as from the store.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Millisecond)
}

// unknownOutcome reports whether a failed purchase may have been sold all
// the same: the request left and no usable answer came back (a timeout, a
// dropped connection, a gateway 5xx, an unreadable body). A throttle or a
// signature rejection comes from the gateway before the vendor sees the
// call, and a business refusal is an answer.
func unknownOutcome(err error) bool {
	ve, ok := vendorerr.As(err)
	if !ok {
		return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	}
	// A KindUnavailable with a vendor code (-1) is the vendor's own answer
	// that it failed; one without is no answer at all.
	return ve.Kind == vendorerr.KindOutcomeUnknown ||
		(ve.Kind == vendorerr.KindUnavailable && (ve.Code == "" || ve.HTTPStatus >= http.StatusInternalServerError))
}

// errOutcomeUnknown is the failed precondition of a purchase that may have
// been sold without an answer: buying again could pay twice, and the vendor
// offers no way to ask. An operator resolves it.
func errOutcomeUnknown(o store.Order) error {
	return &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Reason: "PURCHASE_OUTCOME_UNKNOWN",
		Message: fmt.Sprintf("an earlier purchase for VIN %s (started %s, request_id %s) got no answer from the vendor and may "+
			"have been sold; vendorgate does not buy again for it automatically: an operator resolves it "+
			"(ListUnresolvedOperations, ResolveOperation), or use a new request_id",
			o.VIN, o.CreatedAt.Format(time.RFC3339), o.RequestID),
		Metadata: map[string]string{"request_id": o.RequestID}}
}

// errNotApplied is the failed precondition of a request id whose purchase
// an operator found the vendor did not sell.
func errNotApplied(o store.Order) error {
	return domainerr.FailedPrecondition("PURCHASE_NOT_APPLIED", fmt.Sprintf(
		"the purchase for VIN %s with this request_id got no answer from the vendor, and an operator found it "+
			"was not sold; use a new request_id to buy", o.VIN))
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

// share runs fn once for all concurrent callers with the same key, each
// waiting until fn ends or until its own ctx does; fn runs on either way.
// led reports whether this caller's fn was the one that ran.
func share[T any](ctx context.Context, g *singleflight.Group, key string, fn func() (T, error)) (v T, led bool, err error) {
	ran := false // written by fn before DoChan's result is sent, read after it arrives
	ch := g.DoChan(key, func() (any, error) {
		ran = true
		return fn()
	})
	select {
	case r := <-ch:
		v, _ = r.Val.(T)
		return v, ran, r.Err
	case <-ctx.Done():
		return v, false, ctx.Err()
	}
}
