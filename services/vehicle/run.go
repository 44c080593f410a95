package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/gen/openapiv2"
	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/internal/sandbox"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/config"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/server"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// run wires the service from environ and serves until ctx ends. onListen,
// when not nil, learns the bound address (tests listen on port 0).
func run(ctx context.Context, environ []string, logw io.Writer, onListen func(net.Addr)) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log := logging.New(logw, cfg.LogLevel)
	if cfg.Sandbox {
		sim, err := startSimulator(ctx, cfg)
		if err != nil {
			return err
		}
		log.Warn("SANDBOX: using the in-process maintenance simulator; no real vendor is called",
			"simulator", sim.BaseURL, "ignored_base_url", cfg.Vendor.BaseURL, "known_vin", maintenancesim.SampleVIN,
			"lost_reply_vin", maintenancesim.LostReplyVIN)
		cfg.Vendor.BaseURL, cfg.SecretID, cfg.SecretKey = sim.BaseURL, sim.SecretID, sim.SecretKey
	}

	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return fmt.Errorf("VEHICLE_DATABASE_URL: %w", err)
	}
	defer st.Close()
	st.DB().SetTimeout(cfg.DatabaseTimeout)
	st.DB().WarnOneProcess(log, "vehicle", "VEHICLE_DATABASE_URL", cfg.DatabaseURL)

	reg := prometheus.NewRegistry()
	acc, err := access.Open(ctx, access.Options{
		Service: "vehicle",
		DB:      st.DB(),
		Config:  cfg.Access,
		Sandbox: cfg.Sandbox,
		// A report purchase is the one paid call; a report fetch is free.
		Prices:     map[string]int64{maintenance.Vendor + " " + maintenance.PathOrder: cfg.ReportCostFen()},
		Registerer: reg,
		Logger:     log,
	})
	if err != nil {
		return err
	}
	defer func() {
		// The servers have stopped: write the ledger's queued records.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := acc.Close(ctx); err != nil {
			log.Error("usage ledger not flushed on shutdown; its queued calls are lost", "error", err)
		}
	}()
	go acc.Run(ctx)

	// The vendor's credentials sign every call, on a pooled keep-alive transport.
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: cfg.SecretID, SecretKey: cfg.SecretKey, Base: vendorcall.NewTransport()}}
	client, err := maintenance.New(hc, cfg.Vendor.BaseURL, maintenance.Options{
		Call:       cfg.Vendor,
		Registerer: reg,
		Logger:     log,
		Observe:    acc.Ledger.Observe,
	})
	if err != nil {
		return err
	}
	locks := coord.NewLocks(st.DB())
	requests, err := idempotency.New(ctx, st.DB(), "vehicle", idempotency.Options{TTL: cfg.RequestIDTTL, Locks: locks, Logger: log})
	if err != nil {
		return err
	}
	go requests.SweepEvery(ctx, time.Hour)
	// A resolution settles the cost the ledger booked while it was unknown.
	requests.OnResolve(acc.Ledger.Resolve)
	rep, err := reports.New(client, st, reports.Options{
		Freshness:       cfg.ReportFreshness,
		CostFen:         cfg.ReportCostFen(),
		PollInterval:    cfg.PollInterval,
		PollMaxInterval: cfg.PollMaxInterval,
		LookupWait:      cfg.LookupWait,
		Requests:        requests,
		Ledger:          acc.Ledger,
		Locks:           locks,
		Registry:        reg,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	if _, err := rep.Adopt(ctx, time.Now().Add(-cfg.RequestIDTTL)); err != nil {
		return fmt.Errorf("hand earlier purchases to the request_id engine: %w", err)
	}
	go requests.NewReconciler(rep.Checkers()).Run(ctx, cfg.ReconcileInterval)
	srv := server.New(rep, server.Options{Usage: acc.Ledger})

	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on VEHICLE_ADDR %s: %w", cfg.Addr, err)
	}
	log.Info("vehicle listening", "grpc", lis.Addr().String(), "rest", "http://"+lis.Addr().String()+"/v1/vehicle/orders",
		"vendor", cfg.Vendor.BaseURL, "sandbox", cfg.Sandbox, "database", sqlstore.Redact(cfg.DatabaseURL))
	if onListen != nil {
		onListen(lis.Addr())
	}
	doc, err := openapiv2.Files.ReadFile("vendorgate/vehicle/v1/vehicle_service.swagger.json")
	if err != nil {
		return fmt.Errorf("OpenAPI document: %w", err)
	}
	return serve.Run(ctx, lis, serve.Options{
		// OTEL_TRACES_EXPORTER and the other OTEL_* variables turn traces on.
		Environ: environ,

		Name: "vehicle",
		// /metrics stays off the API port unless METRICS_ADDR says so.
		DefaultMetricsAddr: "127.0.0.1:9094",
		Domain:             server.Domain,
		Logger:             log,
		Registry:           reg,
		ShutdownTimeout:    cfg.ShutdownTimeout,
		REST:               cfg.REST,
		Guard:              acc.Guard,
		TLS:                acc.TLS,
		OpenAPI:            doc,
		Ready:              st.Ping,
		RegisterGRPC:       func(s grpc.ServiceRegistrar) { vehiclev1.RegisterVehicleServiceServer(s, srv) },
		RegisterGateway: func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
			return vehiclev1.RegisterVehicleServiceHandlerClient(ctx, mux, vehiclev1.NewVehicleServiceClient(conn))
		},
	})
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
