package parcels

import (
	"context"
	"errors"
	"fmt"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
)

// ReasonOrderNotFound: a CreateParcelOrder resolved applied whose order
// damaijia does not have (FAILED_PRECONDITION).
const ReasonOrderNotFound = "ORDER_NOT_FOUND"

// CreateOrder is the engine's call for the order o under requestID: it
// books and sends o once on a fresh attempt; reads its number back,
// sending nothing, when an operator resolved it applied; and reads it back
// first when an earlier attempt was interrupted, telling a what it found.
// It returns damaijia's order number.
func (s *Service) CreateOrder(ctx context.Context, requestID string, a idempotency.Attempt, o Order) (string, error) {
	if a.Applied {
		// An operator found it applied: read its number back, never
		// order again.
		return s.readBackApplied(ctx, requestID, o.SiteOrderID)
	}
	if !a.Interrupted {
		sn, err := s.create(ctx, o)
		return sn, domainError(err)
	}
	// An earlier attempt may have ordered: damaijia's site_order_id
	// tells, so read it back, never re-send blindly.
	sn, landed, err := s.resumeCreate(ctx, o)
	if err != nil {
		return "", domainError(err)
	}
	if landed {
		a.Found(idempotency.Applied)
	} else {
		a.Found(idempotency.NotApplied) // ordered now: the earlier one never landed
	}
	return sn, nil
}

// create books o against the caller's daily spending cap and sends it
// once. A lost reply is vendorerr.KindOutcomeUnknown and is never re-sent
// here: whether it was applied is for FindOrder to tell, by site_order_id
// (the next attempt under the request_id, or the reconciler).
func (s *Service) create(ctx context.Context, o Order) (string, error) {
	release, err := s.ledger.Reserve(ctx, s.opts.OrderPriceFen)
	if err != nil {
		return "", err
	}
	sn, err := s.vendor.CreateOrder(ctx, o)
	// A refusal, or a failure before sending, created nothing and undoes
	// the booking; an unknown outcome keeps it: the safe side of a
	// spending cap.
	release(err == nil || vendorerr.IsKind(err, vendorerr.KindOutcomeUnknown))
	return sn, err
}

// resumeCreate finishes an order whose earlier attempt may have reached
// damaijia without its answer being recorded (its process died): it reads
// the order back by site_order_id and returns its number; only when
// damaijia has no such order does it send it, still under the
// site_order_id guard (a duplicate then means the earlier attempt landed:
// read back again). landed reports whether the earlier attempt had placed
// the order. The order is booked only when it is sent, never when it is
// found: the earlier attempt booked it.
func (s *Service) resumeCreate(ctx context.Context, o Order) (sn string, landed bool, err error) {
	sn, err = s.vendor.FindOrder(ctx, o.SiteOrderID)
	if err != nil {
		return "", false, interruptedErr(damaijia.PathCreate, o.SiteOrderID, err)
	}
	if sn != "" {
		s.opts.Logger.InfoContext(ctx, "an interrupted order_create had been applied; read back", "vendor", vendorName, "site_order_id", o.SiteOrderID)
		return sn, true, nil
	}
	sn, err = s.create(ctx, o)
	if vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		sn, err = s.readBack(ctx, o.SiteOrderID)
		return sn, err == nil, err
	}
	return sn, false, err
}

// readBack returns the order number of an order damaijia says exists.
func (s *Service) readBack(ctx context.Context, siteOrderID string) (string, error) {
	sn, err := s.vendor.FindOrder(ctx, siteOrderID)
	if err != nil {
		return "", fmt.Errorf("read back order %s: %w", siteOrderID, err)
	}
	if sn == "" {
		return "", &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: vendorName, Endpoint: damaijia.PathCreate,
			Message: "the order exists but could not be read back", Err: errors.New("no package for site_order_id " + siteOrderID)}
	}
	return sn, nil
}

// readBackApplied is the number of an order an operator resolved applied,
// from damaijia's own record of it.
func (s *Service) readBackApplied(ctx context.Context, requestID, siteOrderID string) (string, error) {
	sn, err := s.vendor.FindOrder(ctx, siteOrderID)
	if err != nil {
		return "", domainError(err)
	}
	if sn == "" {
		return "", &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Reason: ReasonOrderNotFound,
			Message:  fmt.Sprintf("request_id %s was resolved applied, and damaijia has no order with site_order_id %s", requestID, siteOrderID),
			Metadata: map[string]string{"request_id": requestID, "site_order_id": siteOrderID}}
	}
	return sn, nil
}

// interruptedErr keeps an interrupted call's outcome unknown when
// damaijia's state could not be read: a repeat reads it again, never sends
// blindly.
func interruptedErr(endpoint, siteOrderID string, err error) error {
	return &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: vendorName, Endpoint: endpoint,
		Message: "an earlier attempt may have reached damaijia and its state could not be read; retry with the same request_id",
		Err:     fmt.Errorf("read order %s: %w", siteOrderID, err)}
}

// CheckCreateOrder is the reconciler's question about an order_create of
// unknown outcome: it finds the order by site_order_id. An order found is
// applied, and sn is what a repeat returns; none is not applied (damaijia
// refuses a second order with the same site_order_id, so a late one cannot
// be doubled by a new request_id). The finding has no Response: the
// caller adds its own answer.
func (s *Service) CheckCreateOrder(ctx context.Context, siteOrderID string) (sn string, f idempotency.Finding, err error) {
	sn, err = s.vendor.FindOrder(ctx, siteOrderID)
	if err != nil {
		return "", idempotency.Finding{}, err
	}
	if sn == "" {
		return "", idempotency.Finding{Outcome: idempotency.NotApplied,
			Note: "damaijia has no package for site_order_id " + siteOrderID + " (package_get_list)"}, nil
	}
	return sn, idempotency.Finding{Outcome: idempotency.Applied,
		Note: "damaijia has order " + sn + " for site_order_id " + siteOrderID + " (package_get_list)"}, nil
}

// CancelOrder is the engine's call for cancelling the order siteOrderID:
// nothing is sent when an operator resolved it applied; after an
// interrupted attempt it succeeds without a call when every package of
// the order is cancelled already, and sends the cancel otherwise.
func (s *Service) CancelOrder(ctx context.Context, a idempotency.Attempt, siteOrderID string) error {
	switch {
	case a.Applied:
		return nil
	case a.Interrupted:
		return domainError(s.resumeCancel(ctx, siteOrderID))
	}
	return domainError(s.vendor.CancelOrder(ctx, siteOrderID))
}

// resumeCancel finishes a cancellation whose earlier attempt may have
// reached damaijia, by reading the order's packages first.
func (s *Service) resumeCancel(ctx context.Context, siteOrderID string) error {
	pkgs, _, err := s.vendor.ListPackages(ctx, PackageFilter{SiteOrderID: siteOrderID, Page: 1, Size: 100})
	if err != nil {
		return interruptedErr(s.vendor.CancelPath(), siteOrderID, err)
	}
	cancelled := len(pkgs) > 0
	for _, p := range pkgs {
		cancelled = cancelled && p.Status == PackageCancelled
	}
	if cancelled {
		s.opts.Logger.InfoContext(ctx, "an interrupted cancel had been applied; read back", "vendor", vendorName, "site_order_id", siteOrderID)
		return nil
	}
	return s.vendor.CancelOrder(ctx, siteOrderID)
}
