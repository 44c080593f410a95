// Command esign serves vendorgate.esign.v1.EsignService over gRPC and REST
// on one port, in front of Fadada's e-contract API v2.
//
// `esign healthcheck` probes a running instance's /healthz at ESIGN_ADDR
// and exits 0 or 1, for container health checks.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc/grpclog"

	// Fadada's timestamps are China time whatever the host's zone, and a
	// container may have no zoneinfo.
	_ "time/tzdata"

	"github.com/vendorgate/vendorgate/internal/healthprobe"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/services/esign/internal/config"
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
		fmt.Fprintln(os.Stderr, "esign:", err)
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
