package server

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
)

// Register registers both of the service's gRPC services on s.
func Register(s grpc.ServiceRegistrar, parcels *Parcels, billing *Billing) {
	logisticsv1.RegisterParcelServiceServer(s, parcels)
	logisticsv1.RegisterBillingServiceServer(s, billing)
}

// RegisterGateway registers both services' REST routes on mux; the gateway
// calls them through conn (the in-process channel).
func RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
	if err := logisticsv1.RegisterParcelServiceHandlerClient(ctx, mux, logisticsv1.NewParcelServiceClient(conn)); err != nil {
		return err
	}
	return logisticsv1.RegisterBillingServiceHandlerClient(ctx, mux, logisticsv1.NewBillingServiceClient(conn))
}
