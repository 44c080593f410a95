package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/internal/app"
	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/sandbox"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/delivery/internal/config"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdang"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
	"github.com/vendorgate/vendorgate/services/delivery/internal/server"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
	"github.com/vendorgate/vendorgate/services/delivery/internal/tracking"
)

// appConfig is the part of cfg the shared bootstrap runs on.
func appConfig(cfg config.Config) app.Config {
	return app.Config{
		Addr: cfg.Addr, AddrVar: "DELIVERY_ADDR", DatabaseURL: cfg.DatabaseURL, DatabaseVar: "DELIVERY_DATABASE_URL",
		DatabaseTimeout: cfg.DatabaseTimeout, RequestIDTTL: cfg.RequestIDTTL, ReconcileInterval: cfg.ReconcileInterval,
		ShutdownTimeout: cfg.ShutdownTimeout, Sandbox: cfg.Sandbox, Access: cfg.Access, REST: cfg.REST,
	}
}

// wire builds the Dingdang client, order tracking (pushes, polls, watches
// across replicas), the dispatch use-case, the server and the callback
// listener on the shared parts.
func wire(ctx context.Context, cfg config.Config, statuses server.StatusMap, d *app.Deps) (w *app.Wired, err error) {
	w = &app.Wired{}
	defer func() {
		if err != nil {
			for _, c := range w.Close {
				_ = c()
			}
		}
	}()
	st := d.Store.(*store.Store)
	notes, err := coord.NewNotifier(st.DB(), "delivery_orders", d.Log)
	if err != nil {
		return w, err
	}
	w.Close = append(w.Close, func() error { notes.Close(); return nil })
	// The vendor's credentials sign every call, on a pooled keep-alive transport.
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: cfg.SecretID, SecretKey: cfg.SecretKey, Base: vendorcall.NewTransport()}}
	client, err := dingdang.New(hc, cfg.Vendor.BaseURL, dingdang.Options{
		Call: cfg.Vendor, Registerer: d.Registry, CallbackURL: cfg.CallbackURL, Logger: d.Log, Observe: d.Access.Ledger.Observe,
	})
	if err != nil {
		return w, err
	}
	var cbLis net.Listener
	if cfg.CallbackAddr != "" {
		if cbLis, err = (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.CallbackAddr); err != nil {
			return w, fmt.Errorf("listen on DELIVERY_CALLBACK_ADDR %s: %w", cfg.CallbackAddr, err)
		}
		w.Close = append(w.Close, func() error { _ = cbLis.Close(); return nil })
		if cfg.Sandbox && cfg.CallbackPublicURL == "" {
			cfg.CallbackPublicURL = "http://" + cbLis.Addr().String()
		}
	}
	tracker, err := tracking.New(ctx, st, client, notes, d.Locks, tracking.Options{
		PublicURL:      cfg.CallbackPublicURL,
		PollInterval:   cfg.WatchPollInterval,
		PushRate:       rate.Limit(cfg.CallbackRate),
		PushBurst:      cfg.CallbackBurst,
		MaxPushBytes:   cfg.CallbackMaxBytes,
		Final:          statuses.Final,
		Registerer:     d.Registry,
		Logger:         d.Log,
		TracerProvider: d.Tracing.TracerProvider(),
	})
	if err != nil {
		return w, err
	}
	dispatcher := dispatch.New(client, statuses, dispatch.Options{Tracker: tracker, Usage: d.Access.Ledger,
		DispatchPriceFen: cfg.DispatchPriceFen()})
	srv := server.New(dispatcher, statuses, server.Options{Tracking: tracker, Requests: d.Requests, Usage: d.Access.Ledger})

	w.Register = func(s grpc.ServiceRegistrar) { deliveryv1.RegisterDeliveryServiceServer(s, srv) }
	w.Gateway = func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
		return deliveryv1.RegisterDeliveryServiceHandlerClient(ctx, mux, deliveryv1.NewDeliveryServiceClient(conn))
	}
	w.Checkers = srv.Checkers()
	w.Listening = []any{"rest", "http://" + d.Addr.String() + "/v1/delivery/orders", "vendor", cfg.Vendor.BaseURL}
	if cbLis != nil {
		d.Log.Info("delivery callback listener", "addr", cbLis.Addr().String(), "public_url", cfg.CallbackPublicURL)
		// The callback listener is deliberately not behind the guard: the
		// vendor cannot send our callers' keys. Each push is authenticated
		// by its order's unguessable token in the URL instead, and re-read
		// from the vendor before it is trusted (internal/tracking).
		w.Background = append(w.Background, func(ctx context.Context) error {
			return serveCallbacks(ctx, cbLis, tracker.Handler(), cfg.ShutdownTimeout)
		})
	}
	if cfg.CallbackPublicURL == "" {
		d.Log.Info("no DELIVERY_CALLBACK_PUBLIC_URL: watched orders are polled", "interval", cfg.WatchPollInterval)
	}
	return w, nil
}

// useSimulator points cfg at the in-process Dingdang simulator and returns
// the status map to use: the simulator's, unless DINGDANG_STATUS_MAP names
// one.
func useSimulator(ctx context.Context, cfg *config.Config, log *slog.Logger) (server.StatusMap, error) {
	sim, err := startSimulator(ctx, *cfg)
	if err != nil {
		return nil, err
	}
	log.Warn("SANDBOX: using the in-process Dingdang simulator; no real vendor is called",
		"simulator", sim.BaseURL, "ignored_base_url", cfg.Vendor.BaseURL)
	cfg.Vendor.BaseURL, cfg.SecretID, cfg.SecretKey = sim.BaseURL, sim.SecretID, sim.SecretKey
	m := cfg.StatusMap
	if m == server.DefaultStatusMap {
		// The simulator's codes are known: its delivered orders end a watch.
		m = dingdangsim.StatusMap
	}
	return server.ParseStatusMap(m)
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
