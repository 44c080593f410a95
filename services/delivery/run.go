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
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/gen/openapiv2"
	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/internal/sandbox"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/delivery/internal/config"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdang"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
	"github.com/vendorgate/vendorgate/services/delivery/internal/server"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
	"github.com/vendorgate/vendorgate/services/delivery/internal/tracking"
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

	if cfg.Sandbox && cfg.StatusMap == server.DefaultStatusMap {
		// The simulator's codes are known: its delivered orders end a watch.
		if statuses, err = server.ParseStatusMap(dingdangsim.StatusMap); err != nil {
			return err
		}
	}

	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return fmt.Errorf("DELIVERY_DATABASE_URL: %w", err)
	}
	defer st.Close()
	st.DB().SetTimeout(cfg.DatabaseTimeout)
	st.DB().WarnOneProcess(log, "delivery", "DELIVERY_DATABASE_URL", cfg.DatabaseURL)
	locks := coord.NewLocks(st.DB())
	notes, err := coord.NewNotifier(st.DB(), "delivery_orders", log)
	if err != nil {
		return err
	}
	defer notes.Close()
	requests, err := idempotency.New(ctx, st.DB(), "delivery", idempotency.Options{TTL: cfg.RequestIDTTL, Locks: locks, Logger: log})
	if err != nil {
		return err
	}
	go requests.SweepEvery(ctx, time.Hour)

	reg := prometheus.NewRegistry()
	acc, err := access.Open(ctx, access.Options{
		Service: "delivery", DB: st.DB(), Config: cfg.Access, Sandbox: cfg.Sandbox,
		Prices:     map[string]int64{dingdang.Vendor + " " + dingdang.EndpointCreateOrder: cfg.DispatchPriceFen()},
		Registerer: reg, Logger: log,
	})
	if err != nil {
		return err
	}
	// A resolution settles the cost the ledger booked while it was unknown.
	requests.OnResolve(acc.Ledger.Resolve)
	defer func() {
		// After the servers stopped: the ledger's queued records are
		// written, so that a graceful shutdown loses none.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := acc.Close(cctx); err != nil {
			log.Error("usage ledger: queued records not written at shutdown", "error", err)
		}
	}()
	// The vendor's credentials sign every call, on a pooled keep-alive transport.
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: cfg.SecretID, SecretKey: cfg.SecretKey, Base: vendorcall.NewTransport()}}
	client, err := dingdang.New(hc, cfg.Vendor.BaseURL, dingdang.Options{
		Call:        cfg.Vendor,
		Registerer:  reg,
		CallbackURL: cfg.CallbackURL,
		Logger:      log,
		Observe:     acc.Ledger.Observe,
	})
	if err != nil {
		return err
	}

	var cbLis net.Listener
	if cfg.CallbackAddr != "" {
		if cbLis, err = (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.CallbackAddr); err != nil {
			return fmt.Errorf("listen on DELIVERY_CALLBACK_ADDR %s: %w", cfg.CallbackAddr, err)
		}
		defer cbLis.Close()
		if cfg.Sandbox && cfg.CallbackPublicURL == "" {
			cfg.CallbackPublicURL = "http://" + cbLis.Addr().String()
		}
	}
	tracker, err := tracking.New(ctx, st, client, notes, locks, tracking.Options{
		PublicURL:    cfg.CallbackPublicURL,
		PollInterval: cfg.WatchPollInterval,
		PushRate:     rate.Limit(cfg.CallbackRate),
		PushBurst:    cfg.CallbackBurst,
		MaxPushBytes: cfg.CallbackMaxBytes,
		Final:        statuses.Final,
		Registerer:   reg,
		Logger:       log,
	})
	if err != nil {
		return err
	}
	dispatcher := dispatch.New(client, statuses, dispatch.Options{Tracker: tracker, Usage: acc.Ledger,
		DispatchPriceFen: cfg.DispatchPriceFen()})
	srv := server.New(dispatcher, statuses, server.Options{Tracking: tracker, Requests: requests, Usage: acc.Ledger})

	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on DELIVERY_ADDR %s: %w", cfg.Addr, err)
	}
	log.Info("delivery listening", "grpc", lis.Addr().String(), "rest", "http://"+lis.Addr().String()+"/v1/delivery/orders",
		"vendor", cfg.Vendor.BaseURL, "sandbox", cfg.Sandbox)
	if cbLis != nil {
		log.Info("delivery callback listener", "addr", cbLis.Addr().String(), "public_url", cfg.CallbackPublicURL)
	}
	if cfg.CallbackPublicURL == "" {
		log.Info("no DELIVERY_CALLBACK_PUBLIC_URL: watched orders are polled", "interval", cfg.WatchPollInterval)
	}
	if onListen != nil {
		onListen(lis.Addr())
	}
	doc, err := openapiv2.Files.ReadFile("vendorgate/delivery/v1/delivery_service.swagger.json")
	if err != nil {
		return fmt.Errorf("OpenAPI document: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { acc.Run(gctx); return nil })
	// Unknown outcomes the vendor can tell are resolved without an operator.
	reconciler := requests.NewReconciler(srv.Checkers())
	g.Go(func() error { reconciler.Run(gctx, cfg.ReconcileInterval); return nil })
	if cbLis != nil {
		// The callback listener is deliberately not behind the guard: the
		// vendor cannot send our callers' keys. Each push is authenticated
		// by its order's unguessable token in the URL instead, and re-read
		// from the vendor before it is trusted (internal/tracking).
		g.Go(func() error { return serveCallbacks(gctx, cbLis, tracker.Handler(), cfg.ShutdownTimeout) })
	}
	g.Go(func() error {
		return serve.Run(gctx, lis, serve.Options{
			// OTEL_TRACES_EXPORTER and the other OTEL_* variables turn traces on.
			Environ: environ,

			Guard: acc.Guard,
			TLS:   acc.TLS,
			Name:  "delivery",
			// /metrics stays off the API port unless METRICS_ADDR says so.
			DefaultMetricsAddr: "127.0.0.1:9091",
			Domain:             server.Domain,
			Logger:             log,
			Registry:           reg,
			Ready:              st.Ping,
			ShutdownTimeout:    cfg.ShutdownTimeout,
			REST:               cfg.REST,
			OpenAPI:            doc,
			RegisterGRPC:       func(s grpc.ServiceRegistrar) { deliveryv1.RegisterDeliveryServiceServer(s, srv) },
			RegisterGateway: func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
				return deliveryv1.RegisterDeliveryServiceHandlerClient(ctx, mux, deliveryv1.NewDeliveryServiceClient(conn))
			},
		})
	})
	return g.Wait()
}

// serveCallbacks serves the vendor's pushes on lis until ctx ends, then
// shuts down within timeout.
func serveCallbacks(ctx context.Context, lis net.Listener, h http.Handler, timeout time.Duration) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(lis) }()
	select {
	case err := <-done:
		return fmt.Errorf("callback listener: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("callback listener shutdown: %w", err)
	}
	<-done
	return nil
}

// sandboxLostPrefix is the origin_id prefix whose dispatches the sandbox
// vendor applies and then loses the reply of, to show an unknown outcome
// and its resolution.
const sandboxLostPrefix = "LOST-"

// startSimulator runs the Dingdang simulator on loopback with fresh keys.
func startSimulator(ctx context.Context, cfg config.Config) (*sandbox.Vendor, error) {
	id, key, err := sandbox.NewCredentials()
	if err != nil {
		return nil, err
	}
	sim := dingdangsim.New(dingdangsim.Options{Keys: map[string]string{id: key}, StatusStep: cfg.SandboxStatusStep,
		LoseReplyPrefix: sandboxLostPrefix})
	go sim.Run(ctx)
	return sandbox.Start(ctx, sim.Handler(), id, key)
}
