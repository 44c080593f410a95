package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/vendorgate/vendorgate/gen/openapiv2"
	"github.com/vendorgate/vendorgate/internal/app"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/services/delivery/internal/config"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdang"
	"github.com/vendorgate/vendorgate/services/delivery/internal/server"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// run wires the service from environ and serves until ctx ends. onListen,
// when not nil, learns the bound address (tests listen on port 0). The
// sequence every service shares is internal/app's; wire.go builds this
// one's vendor client, tracking, use-case, server and callback listener.
func run(ctx context.Context, environ []string, logw io.Writer, onListen func(net.Addr)) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log := logging.New(logw, cfg.LogLevel)
	statuses, err := server.ParseStatusMap(cfg.StatusMap)
	if err != nil {
		return fmt.Errorf("config: DINGDANG_STATUS_MAP: %w", err)
	}
	if cfg.Sandbox {
		if statuses, err = useSimulator(ctx, &cfg, log); err != nil {
			return err
		}
	}
	doc, err := openapiv2.Files.ReadFile("vendorgate/delivery/v1/delivery_service.swagger.json")
	if err != nil {
		return fmt.Errorf("OpenAPI document: %w", err)
	}
	return app.Run(ctx, app.Spec{
		Name: "delivery", Domain: server.Domain, Config: appConfig(cfg),
		Environ: environ, Logger: log, OnListen: onListen,
		MetricsAddr: "127.0.0.1:9091", OpenAPI: doc,
		Prices: map[string]int64{dingdang.Vendor + " " + dingdang.EndpointCreateOrder: cfg.DispatchPriceFen()},
		Open:   app.Opener(store.Open),
		Wire:   func(ctx context.Context, d *app.Deps) (*app.Wired, error) { return wire(ctx, cfg, statuses, d) },
	})
}
