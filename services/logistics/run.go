package main

import (
	"context"
	"io"
	"net"

	"github.com/vendorgate/vendorgate/internal/app"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/services/logistics/internal/config"
	"github.com/vendorgate/vendorgate/services/logistics/internal/server"
	"github.com/vendorgate/vendorgate/services/logistics/internal/store"
)

// run wires the service from environ and serves until ctx ends. onListen,
// when not nil, learns the bound address (tests listen on port 0). The
// sequence every service shares is internal/app's; wire.go builds this
// one's two vendor clients, use-cases and servers.
func run(ctx context.Context, environ []string, logw io.Writer, onListen func(net.Addr)) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log := logging.New(logw, cfg.LogLevel)
	if cfg.Sandbox {
		if err := useSimulators(ctx, &cfg, log); err != nil {
			return err
		}
	}
	doc, err := openAPI()
	if err != nil {
		return err
	}
	return app.Run(ctx, app.Spec{
		Name: "logistics", Domain: server.Domain, Config: appConfig(cfg),
		Environ: environ, Logger: log, OnListen: onListen,
		MetricsAddr: "127.0.0.1:9093", OpenAPI: doc,
		// The callers and the usage ledger live in the service's database,
		// shared by its replicas: spending caps hold across them.
		Prices: prices(cfg),
		Open:   app.Opener(store.Open),
		Wire:   func(ctx context.Context, d *app.Deps) (*app.Wired, error) { return wire(ctx, cfg, d) },
	})
}
