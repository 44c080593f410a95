package server

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
)

// TestGetUsageWithoutLedger: without a usage ledger, GetUsage is
// UNIMPLEMENTED, as in every service.
func TestGetUsageWithoutLedger(t *testing.T) {
	t.Parallel()
	_, err := New(nil, nil, Options{}).GetUsage(t.Context(), &esignv1.GetUsageRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("got %v, want UNIMPLEMENTED", err)
	}
}
