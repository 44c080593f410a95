package server

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
)

// TestGetUsageWithoutLedger: without a usage ledger, GetUsage is
// UNIMPLEMENTED, as in every service.
func TestGetUsageWithoutLedger(t *testing.T) {
	t.Parallel()
	_, err := NewParcels(nil, nil, nil).GetUsage(t.Context(), &logisticsv1.GetUsageRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("got %v, want UNIMPLEMENTED", err)
	}
}
