package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/gen/openapiv2"
	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/internal/sandbox"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/delivery/internal/config"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdang"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
	"github.com/vendorgate/vendorgate/services/delivery/internal/server"
)

// run wires the service from environ and serves until ctx ends. onListen,
// when not nil, learns the bound address (tests listen on port 0).
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
		sim, err := startSimulator(ctx, cfg)
		if err != nil {
			return err
		}
		log.Warn("SANDBOX: using the in-process Dingdang simulator; no real vendor is called",
			"simulator", sim.BaseURL, "ignored_base_url", cfg.Vendor.BaseURL)
		cfg.Vendor.BaseURL, cfg.SecretID, cfg.SecretKey = sim.BaseURL, sim.SecretID, sim.SecretKey
	}

	reg := prometheus.NewRegistry()
	// The vendor's credentials sign every call, on a pooled keep-alive transport.
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: cfg.SecretID, SecretKey: cfg.SecretKey, Base: vendorcall.NewTransport()}}
	client, err := dingdang.New(hc, cfg.Vendor.BaseURL, dingdang.Options{
		Call:        cfg.Vendor,
		Registerer:  reg,
		CallbackURL: cfg.CallbackURL,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	srv := server.New(client, statuses)

	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on DELIVERY_ADDR %s: %w", cfg.Addr, err)
	}
	log.Info("delivery listening", "grpc", lis.Addr().String(), "rest", "http://"+lis.Addr().String()+"/v1/delivery/orders",
		"vendor", cfg.Vendor.BaseURL, "sandbox", cfg.Sandbox)
	if onListen != nil {
		onListen(lis.Addr())
	}
	doc, err := openapiv2.Files.ReadFile("vendorgate/delivery/v1/delivery_service.swagger.json")
	if err != nil {
		return fmt.Errorf("OpenAPI document: %w", err)
	}
	return serve.Run(ctx, lis, serve.Options{
		Name:            "delivery",
		Domain:          server.Domain,
		Logger:          log,
		Registry:        reg,
		ShutdownTimeout: cfg.ShutdownTimeout,
		REST:            cfg.REST,
		OpenAPI:         doc,
		RegisterGRPC:    func(s *grpc.Server) { deliveryv1.RegisterDeliveryServiceServer(s, srv) },
		RegisterGateway: func(ctx context.Context, mux *runtime.ServeMux, endpoint string, opts []grpc.DialOption) error {
			return deliveryv1.RegisterDeliveryServiceHandlerFromEndpoint(ctx, mux, endpoint, opts)
		},
	})
}

// startSimulator runs the Dingdang simulator on loopback with fresh keys.
func startSimulator(ctx context.Context, cfg config.Config) (*sandbox.Vendor, error) {
	id, key, err := sandbox.NewCredentials()
	if err != nil {
		return nil, err
	}
	sim := dingdangsim.New(dingdangsim.Options{Keys: map[string]string{id: key}, StatusStep: cfg.SandboxStatusStep})
	go sim.Run(ctx)
	return sandbox.Start(ctx, sim.Handler(), id, key)
}
