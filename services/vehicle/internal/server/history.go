package server

import (
	"context"
	"errors"
	"fmt"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// GetHistory implements VehicleService. It reads the store only: a finished
// report younger than the freshness window, or NOT_FOUND. It never buys and
// never calls the vendor, which is what makes it safe behind a GET.
func (s *Server) GetHistory(ctx context.Context, req *vehiclev1.GetHistoryRequest) (*vehiclev1.GetHistoryResponse, error) {
	vin, err := normalizeVIN(req.GetVin())
	if err != nil {
		return nil, err
	}
	o, err := s.store.Reusable(ctx, vin, now().Add(-s.opts.Freshness))
	if err == nil && !o.State.Finished() {
		// Reusable prefers a finished report, so there is none; the
		// pending order is LookupHistory's or GetReport's to follow.
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, domainerr.NotFound("REPORT_NOT_STORED", fmt.Sprintf(
			"no stored report for VIN %s within %s; LookupHistory (POST /v1/vehicle/vins/%s/history:lookup) buys one", vin, s.opts.Freshness, vin))
	}
	if err != nil {
		return nil, err
	}
	v, err := view(o)
	if err != nil {
		return nil, err
	}
	return &vehiclev1.GetHistoryResponse{
		Vin:        vin,
		OrderId:    o.OrderID,
		State:      v.state,
		Report:     v.report,
		BoughtTime: timestamp(o.BoughtAt),
		ReadyTime:  timestamp(o.ReadyAt),
	}, nil
}
