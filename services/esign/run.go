package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/vendorgate/vendorgate/gen/openapiv2"
	"github.com/vendorgate/vendorgate/internal/app"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/services/esign/internal/config"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
	"github.com/vendorgate/vendorgate/services/esign/internal/server"
	"github.com/vendorgate/vendorgate/services/esign/internal/store"
)

// run wires the service from environ and serves until ctx ends. onListen,
// when not nil, learns the bound address (tests listen on port 0). The
// sequence every service shares is internal/app's; wire.go builds this
// one's vendor client, use-case, links and servers.
func run(ctx context.Context, environ []string, logw io.Writer, onListen func(net.Addr)) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log := logging.New(logw, cfg.LogLevel)
	if cfg.Sandbox {
		sim, vendor, creds, err := startSimulator(ctx)
		if err != nil {
			return err
		}
		defer sim.Close()
		log.Warn("SANDBOX: using the in-process Fadada simulator; no real vendor is called",
			"simulator", vendor.BaseURL, "ignored_base_url", cfg.Vendor.BaseURL)
		cfg.Vendor.BaseURL = vendor.BaseURL + fadadasim.Prefix
		cfg.SecretID, cfg.SecretKey, cfg.AppID, cfg.AppSecret = vendor.SecretID, vendor.SecretKey, creds.AppID, creds.AppSecret
	}
	doc, err := openapiv2.Files.ReadFile("vendorgate/esign/v1/esign_service.swagger.json")
	if err != nil {
		return fmt.Errorf("OpenAPI document: %w", err)
	}
	return app.Run(ctx, app.Spec{
		Name: "esign", Domain: server.Domain, Config: appConfig(cfg),
		Environ: environ, Logger: log, OnListen: onListen,
		MetricsAddr: "127.0.0.1:9092", OpenAPI: doc,
		// Fadada is a prepaid package: its calls are counted, and none has
		// a unit price, so no call is capped by a daily spend.
		Open: app.Opener(store.Open),
		Wire: func(ctx context.Context, d *app.Deps) (*app.Wired, error) { return wire(cfg, d) },
	})
}
