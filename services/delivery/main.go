// Command delivery serves vendorgate.delivery.v1.DeliveryService over gRPC
// and REST on one port, in front of the Dingdang delivery API.
//
// `delivery healthcheck` probes a running instance's /healthz at
// DELIVERY_ADDR and exits 0 or 1, for container health checks.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc/grpclog"

	"github.com/vendorgate/vendorgate/internal/healthprobe"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/services/delivery/internal/config"
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
		fmt.Fprintln(os.Stderr, "delivery:", err)
		os.Exit(1)
	}
}

func healthcheck(ctx context.Context) error {
	cfg, err := config.LoadAddr(os.Environ())
	if err != nil {
		return err
	}
	return healthprobe.Check(ctx, cfg)
}
