package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/app"
	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/sandbox"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/config"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/server"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// appConfig is the part of cfg the shared bootstrap runs on.
func appConfig(cfg config.Config) app.Config {
	return app.Config{
		Addr: cfg.Addr, AddrVar: "VEHICLE_ADDR", DatabaseURL: cfg.DatabaseURL, DatabaseVar: "VEHICLE_DATABASE_URL",
		DatabaseTimeout: cfg.DatabaseTimeout, RequestIDTTL: cfg.RequestIDTTL, ReconcileInterval: cfg.ReconcileInterval,
		ShutdownTimeout: cfg.ShutdownTimeout, Sandbox: cfg.Sandbox, Access: cfg.Access, REST: cfg.REST,
	}
}

// wire builds the maintenance-record client, the reports use-case and the
// server on the shared parts.
func wire(ctx context.Context, cfg config.Config, d *app.Deps) (*app.Wired, error) {
	// The vendor's credentials sign every call, on a pooled keep-alive transport.
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: cfg.SecretID, SecretKey: cfg.SecretKey, Base: vendorcall.NewTransport()}}
	client, err := maintenance.New(hc, cfg.Vendor.BaseURL, maintenance.Options{
		Call: cfg.Vendor, Registerer: d.Registry, Logger: d.Log, Observe: d.Access.Ledger.Observe,
	})
	if err != nil {
		return nil, err
	}
	rep, err := reports.New(client, d.Store.(*store.Store), reports.Options{
		Freshness:       cfg.ReportFreshness,
		CostFen:         cfg.ReportCostFen(),
		PollInterval:    cfg.PollInterval,
		PollMaxInterval: cfg.PollMaxInterval,
		LookupWait:      cfg.LookupWait,
		Requests:        d.Requests,
		Ledger:          d.Access.Ledger,
		Locks:           d.Locks,
		Registry:        d.Registry,
		Logger:          d.Log,
	})
	if err != nil {
		return nil, err
	}
	if _, err := rep.Adopt(ctx, time.Now().Add(-cfg.RequestIDTTL)); err != nil {
		return nil, fmt.Errorf("hand earlier purchases to the request_id engine: %w", err)
	}
	srv := server.New(rep, server.Options{Usage: d.Access.Ledger})
	return &app.Wired{
		Register: func(s grpc.ServiceRegistrar) { vehiclev1.RegisterVehicleServiceServer(s, srv) },
		Gateway: func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
			return vehiclev1.RegisterVehicleServiceHandlerClient(ctx, mux, vehiclev1.NewVehicleServiceClient(conn))
		},
		Checkers:  rep.Checkers(),
		Listening: []any{"rest", "http://" + d.Addr.String() + "/v1/vehicle/orders", "vendor", cfg.Vendor.BaseURL},
	}, nil
}

// startSimulator runs the maintenance-record simulator on loopback with
// fresh keys.
func startSimulator(ctx context.Context, cfg config.Config) (*sandbox.Vendor, error) {
	id, key, err := sandbox.NewCredentials()
	if err != nil {
		return nil, err
	}
	sim := maintenancesim.New(maintenancesim.Options{Keys: map[string]string{id: key}, ReadyAfter: cfg.SandboxReportDelay})
	return sandbox.Start(ctx, sim.Handler(), id, key)
}
