package reports

import (
	"context"
	"errors"
	"fmt"

	"github.com/vendorgate/vendorgate/internal/domainerr"
)

// Get returns the order with the vendor's order id (GetReport), asking the
// vendor for its report while it is not finished: NOT_FOUND
// ORDER_NOT_FOUND for an order not bought through the service.
func (s *Service) Get(ctx context.Context, orderID string) (Order, error) {
	o, err := s.store.ByOrderID(ctx, orderID)
	if errors.Is(err, ErrNotFound) {
		return Order{}, domainerr.NotFound("ORDER_NOT_FOUND", fmt.Sprintf("order %q was not bought through vendorgate", orderID))
	}
	if err != nil {
		return Order{}, err
	}
	if !o.State.Finished() {
		if o, err = s.refresh(ctx, o, s.vendor.Report); err != nil {
			return Order{}, err
		}
	}
	return o, nil
}

// Stored returns vin's finished report younger than the freshness window
// (GetHistory; vin normalised), or NOT_FOUND REPORT_NOT_STORED. It reads the
// store only: it never buys and never calls the vendor, which is what makes
// it safe behind a GET.
func (s *Service) Stored(ctx context.Context, vin string) (Order, error) {
	o, err := s.store.Reusable(ctx, vin, s.now().Add(-s.opts.Freshness))
	if err == nil && !o.State.Finished() {
		// Reusable prefers a finished report, so there is none; the
		// pending order is Lookup's or Get's to follow.
		err = ErrNotFound
	}
	if errors.Is(err, ErrNotFound) {
		return Order{}, domainerr.NotFound("REPORT_NOT_STORED", fmt.Sprintf(
			"no stored report for VIN %s within %s; LookupHistory (POST /v1/vehicle/vins/%s/history:lookup) buys one", vin, s.opts.Freshness, vin))
	}
	if err != nil {
		return Order{}, err
	}
	return o, nil
}
