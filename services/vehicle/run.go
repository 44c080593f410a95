package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/vendorgate/vendorgate/gen/openapiv2"
	"github.com/vendorgate/vendorgate/internal/app"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/config"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/server"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// run wires the service from environ and serves until ctx ends. onListen,
// when not nil, learns the bound address (tests listen on port 0). The
// sequence every service shares is internal/app's; wire.go builds this
// one's vendor client, use-case and server.
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
	doc, err := openapiv2.Files.ReadFile("vendorgate/vehicle/v1/vehicle_service.swagger.json")
	if err != nil {
		return fmt.Errorf("OpenAPI document: %w", err)
	}
	return app.Run(ctx, app.Spec{
		Name: "vehicle", Domain: server.Domain, Config: appConfig(cfg),
		Environ: environ, Logger: log, OnListen: onListen,
		MetricsAddr: "127.0.0.1:9094", OpenAPI: doc,
		// A report purchase is the one paid call; a report fetch is free.
		Prices: map[string]int64{maintenance.Vendor + " " + maintenance.PathOrder: cfg.ReportCostFen()},
		Open:   app.Opener(store.Open),
		Wire:   func(ctx context.Context, d *app.Deps) (*app.Wired, error) { return wire(ctx, cfg, d) },
	})
}
