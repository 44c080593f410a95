// Command logistics serves vendorgate.logistics.v1.ParcelService (damaijia
// gift parcels) and BillingService (30post account money movements) over
// gRPC and REST on one port.
//
// `logistics healthcheck` probes a running instance's /healthz at
// LOGISTICS_ADDR and exits 0 or 1, for container health checks.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc/grpclog"
	_ "time/tzdata" // POST30_TIMEZONE must load in a container without zoneinfo

	"github.com/vendorgate/vendorgate/internal/healthprobe"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/services/logistics/internal/config"
)

func main() {
	// gRPC's and the gateway's own lines are JSON lines of the service's
	// log, set before any gRPC call.
	grpclog.SetLoggerV2(logging.GRPC(logging.New(os.Stderr, os.Getenv("LOG_LEVEL"))))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		err = healthcheck(ctx)
	} else {
		err = run(ctx, os.Environ(), os.Stderr, nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "logistics:", err)
		os.Exit(1)
	}
}

func healthcheck(ctx context.Context) error {
	addr, err := config.LoadAddr(os.Environ())
	if err != nil {
		return err
	}
	return healthprobe.Check(ctx, addr)
}
