package server_test

import (
	"context"
	"testing"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency/contracttest"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

// TestRequestIDContract runs the one request_id wire contract of every
// service against OrderReport over gRPC, with the simulator behind it. The
// vendor cannot be asked about a purchase whose reply was lost, so every
// repeat stays UNKNOWN until ResolveOperation.
func TestRequestIDContract(t *testing.T) {
	t.Parallel()
	svc := start(t, setup{})
	plates := []string{"沪A12345", "沪B54321"}
	contracttest.Run(t, contracttest.Service{
		Call: func(ctx context.Context, requestID string, variant int) error {
			_, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{
				Vin: maintenancesim.SampleVIN, PlateNumber: plates[variant], RequestId: requestID})
			return err
		},
		Hold: func(t *testing.T) (<-chan struct{}, func()) {
			entered, release := svc.sim.Hold(maintenancesim.PathOrder)
			t.Cleanup(release)
			return entered, release
		},
		LoseNextReply: func(*testing.T) { lose(svc) },
		ReadsBack:     false,
		Resolve: func(ctx context.Context, requestID string, applied bool) error {
			req := &vehiclev1.ResolveOperationRequest{RequestId: requestID, Note: "contract",
				Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED}
			if applied {
				req.Outcome, req.OrderId = vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, "contract-order-"+requestID
			}
			_, err := svc.grpc.ResolveOperation(ctx, req)
			return err
		},
	})
}
