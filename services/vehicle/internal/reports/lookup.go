package reports

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/sync/singleflight"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
)

// Found is what a lookup found: vin's order, finished unless the caller's
// wait ran out first.
type Found struct {
	// Order is the VIN's order, with its report once finished.
	Order Order
	// Purchased says the order was bought for this call (since it came
	// in), rather than reused.
	Purchased bool
}

// unknownHold is how long a purchase of unknown outcome stops lookups of
// its VIN from buying again: long enough for an operator to reconcile it
// with the vendor, short enough not to block the VIN for good.
const unknownHold = time.Hour

// maxLookupRounds bounds how often a lookup joins others' lookups that
// were refused over their callers' spend caps.
const maxLookupRounds = 4

// overSpendCap reports whether err is a purchase refused over its caller's
// daily spend cap.
func overSpendCap(err error) bool {
	var de *domainerr.Error
	return errors.As(err, &de) && de.Kind == domainerr.KindResourceExhausted && de.Reason == usage.ReasonSpendCap
}

// retryInFlightAfter is the retry advice of a lookup that found others'
// lookups of its VIN refused.
const retryInFlightAfter = time.Second

// errNotReady makes the poll loop try again.
var errNotReady = errors.New("report not ready")

// Lookup returns vin's report (LookupHistory; vin normalised), sharing the work with every concurrent
// lookup of vin in this process: a stored fresh report, or an order in
// flight, or else one purchase. The caller waits until its deadline (less a
// reserve to answer in) or LookupWait, whichever is first; the shared work
// goes on without it, up to LookupWait, so that the report is stored for the
// next caller.
func (s *Service) Lookup(ctx context.Context, vin string) (Found, error) {
	called := s.now()
	wait, cancel := s.waitBudget(ctx)
	defer cancel()
	work := context.WithoutCancel(ctx)
	var (
		res Found
		led bool
		err error
	)
	// A lookup this call joined may be refused over the spend cap of the
	// caller who led it, which says nothing of this caller's: it then
	// looks again, leading its own lookup or joining a newer one.
	for range maxLookupRounds {
		res, led, err = share(wait, &s.lookups, vin, func() (Found, error) {
			ctx, cancel := context.WithTimeout(work, s.opts.LookupWait)
			defer cancel()
			return s.lookupOnce(ctx, vin)
		})
		if led || !overSpendCap(err) {
			break
		}
	}
	if !led && overSpendCap(err) {
		// Never hand one caller another's refusal: it names that caller.
		return Found{}, domainerr.Aborted("LOOKUP_CONTENDED",
			"concurrent lookups of this VIN were refused; retry in a second", retryInFlightAfter)
	}
	if err == nil && !led {
		// A call that joined another's lookup bought only what was
		// bought after it came in.
		res.Purchased = res.Purchased && !res.Order.CreatedAt.Before(called)
	}
	if err == nil || ctx.Err() != nil || wait.Err() == nil {
		return res, err
	}
	// The caller's budget ran out first: answer with the order in flight,
	// for it to fetch later. One begun since this call came in was bought
	// for it.
	o, err := s.store.Reusable(ctx, vin, s.opts.Now().Add(-s.opts.Freshness))
	if errors.Is(err, ErrNotFound) {
		return Found{}, domainerr.DeadlineExceeded("PURCHASE_NOT_COMPLETE",
			"the report purchase did not complete in time; call again to reuse it")
	}
	return Found{Order: o, Purchased: !o.CreatedAt.Before(called)}, err
}

// waitBudget is how long a caller waits for a shared lookup: until its
// deadline less a tenth (at most a second) to answer in, else LookupWait.
func (s *Service) waitBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(ctx, s.opts.LookupWait)
	}
	reserve := min(time.Until(deadline)/10, time.Second)
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// lookupOnce does one lookup's work, bounded by ctx.
func (s *Service) lookupOnce(ctx context.Context, vin string) (Found, error) {
	o, ok, err := s.reusable(ctx, vin)
	if err != nil {
		return Found{}, err
	}
	purchased := false
	if !ok {
		if o, purchased, err = s.buyForLookup(ctx, vin); err != nil {
			return Found{}, err
		}
	}
	switch {
	case o.State.Finished():
		s.metrics.lookups.WithLabelValues(sourceStored).Inc()
		return Found{Order: o}, nil
	case purchased:
		s.metrics.lookups.WithLabelValues(sourcePurchased).Inc()
	default:
		s.metrics.lookups.WithLabelValues(sourceInFlight).Inc()
	}
	o, err = s.poll(ctx, o)
	return Found{Order: o, Purchased: purchased}, err
}

// reusable returns vin's stored report or order in flight (ok), or the
// refusal of a purchase of unknown outcome that holds the VIN back.
func (s *Service) reusable(ctx context.Context, vin string) (Order, bool, error) {
	o, err := s.store.Reusable(ctx, vin, s.opts.Now().Add(-s.opts.Freshness))
	if !errors.Is(err, ErrNotFound) {
		return o, err == nil, err
	}
	return Order{}, false, s.heldBack(ctx, vin)
}

// buyForLookup buys vin's report under the VIN's lock, which every replica
// shares: a replica that waited for the lock finds the order the other
// one bought (purchased false) instead of buying again. A purchase left
// unanswered by a process that died is found too, and holds the VIN back.
// The purchase goes through the request_id engine under a request id made
// for it ("lookup-…"), so that an unknown outcome is listed and resolved
// like any other.
func (s *Service) buyForLookup(ctx context.Context, vin string) (Order, bool, error) {
	unlock, err := s.opts.Locks.Lock(ctx, vinKey(vin))
	if err != nil {
		return Order{}, false, err
	}
	defer unlock()
	o, ok, err := s.reusable(ctx, vin)
	if err != nil || ok {
		return o, false, err
	}
	requestID, err := newRequestID(viaLookupHistory)
	if err != nil {
		return Order{}, false, err
	}
	resp, err := s.purchase(ctx, viaLookupHistory, requestID, lookupRequest(vin), Purchase{VIN: vin})
	if err != nil {
		return Order{}, false, err
	}
	o, err = s.store.ByOrderID(ctx, resp.GetOrderId())
	if err != nil {
		return Order{}, false, err
	}
	return o, true, nil
}

// heldBack is the refusal of a lookup of vin while a purchase for it,
// started within unknownHold, has an unknown outcome: buying again could
// pay twice, and the vendor offers no way to ask. It is the answer the
// purchase's own request_id gets, UNKNOWN OUTCOME_UNKNOWN with that
// request_id, which an operator resolves. A purchase in flight does not
// hold the VIN back; one whose process died does, once the engine says so.
func (s *Service) heldBack(ctx context.Context, vin string) error {
	since := s.opts.Now().Add(-unknownHold)
	unsettled, err := s.store.Unsettled(ctx, vin, since)
	if err != nil {
		return err
	}
	for _, o := range unsettled {
		if o.State == StateBuying {
			dead, err := s.abandoned(ctx, o.RequestID)
			if err != nil {
				return err
			}
			if !dead || o.CreatedAt.Before(since) {
				continue
			}
		}
		return errHeldBack(o)
	}
	return nil
}

// errHeldBack is heldBack's refusal because of purchase o.
func errHeldBack(o Order) error {
	return &domainerr.Error{Kind: domainerr.KindUnknown, Reason: idempotency.ReasonOutcomeUnknown,
		Metadata: map[string]string{"request_id": o.RequestID},
		Message: fmt.Sprintf("an earlier purchase for VIN %s (started %s, request_id %s) got no answer from the vendor and may "+
			"have been sold; lookups of this VIN do not buy again until an operator resolves it "+
			"(ListUnresolvedOperations, ResolveOperation)", o.VIN, o.CreatedAt.Format(time.RFC3339), o.RequestID)}
}

// poll asks the vendor for a pending order's report with growing waits
// until it is finished or ctx ends; then the order is returned as it
// stands, still pending if ctx ended first. Failures the vendor may recover
// from are polled through; others end the poll.
func (s *Service) poll(ctx context.Context, o Order) (Order, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = s.opts.PollInterval
	b.MaxInterval = s.opts.PollMaxInterval
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		next, err := s.refresh(ctx, o, s.vendor.PollReport)
		switch {
		case err != nil && !vendorcall.Retryable(err):
			// A fetch is safe to repeat, so one that found the vendor
			// unavailable (timed out included) is polled through; a
			// refusal is not.
			return struct{}{}, backoff.Permanent(err)
		case err != nil:
			return struct{}{}, err
		case !next.State.Finished():
			return struct{}{}, errNotReady
		}
		o = next
		return struct{}{}, nil
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if err != nil && ctx.Err() != nil {
		return o, nil
	}
	return o, err
}

// refresh asks the vendor for a pending order's report with fetch (one of
// Vendor's two report methods, by who owns the retrying) and records it
// when it is finished.
func (s *Service) refresh(ctx context.Context, o Order, fetch func(context.Context, string) (maintenance.Result, error)) (Order, error) {
	res, err := fetch(ctx, o.OrderID)
	if err != nil {
		return o, err
	}
	var state State
	switch res.State {
	case maintenance.StateReady:
		state = StateReady
	case maintenance.StateNoRecords:
		state = StateNoRecords
	default:
		return o, nil
	}
	ready := s.now()
	if err := s.store.Finish(ctx, o.OrderID, state, res.Body, ready); err != nil {
		return o, err
	}
	o.State, o.Report, o.ReadyAt = state, res.Body, ready
	return o, nil
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
