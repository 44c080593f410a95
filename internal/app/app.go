// Package app runs the sequence every vendorgate service shares, once:
// its store and the one-process warning, the request_id engine and its
// sweeper, callers and the usage ledger, the listener, the reconciler of
// unknown outcomes, the servers (serve.Run, with readiness on the store)
// and a graceful shutdown bounded by one timeout that writes the ledger's
// last records. A service's run.go supplies only its configuration, its
// vendor clients, use-cases and servers (Spec.Wire).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	goruntime "runtime"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/residency"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/tracing"
)

// sweepInterval is how often expired request_id records are deleted.
const sweepInterval = time.Hour

// reconcileDelay is how long after the service serves its reconciler's
// first pass runs: not while the first readiness checks run, whose store
// ping would wait for a connection the pass holds (PostgreSQL restarts
// took 4 ms longer to ready, median of 18).
const reconcileDelay = time.Second

// Config is the part of a service's configuration every service has.
type Config struct {
	// Addr is the gRPC and REST listen address; AddrVar its variable
	// (e.g. "DELIVERY_ADDR"), for errors.
	Addr, AddrVar string
	// DatabaseURL is the store (SQLite file or Postgres URL); DatabaseVar
	// its variable (e.g. "DELIVERY_DATABASE_URL").
	DatabaseURL, DatabaseVar string
	// DatabaseTimeout bounds every store call.
	DatabaseTimeout time.Duration
	// RequestIDTTL is how long request_id records are kept.
	RequestIDTTL time.Duration
	// ReconcileInterval is how often unknown outcomes are re-checked with
	// the vendor.
	ReconcileInterval time.Duration
	// ShutdownTimeout bounds the graceful shutdown, and then writing the
	// ledger's queued records.
	ShutdownTimeout time.Duration
	// Sandbox runs the service against its in-process simulator.
	Sandbox bool
	// Access configures callers (AUTH_*).
	Access access.Config
	// REST bounds the REST face (REST_*, METRICS_ADDR).
	REST serve.REST
}

// Spec is one service.
type Spec struct {
	// Name is the service's name ("delivery"), Domain its ErrorInfo
	// domain.
	Name, Domain string
	Config       Config
	// Environ holds the OTEL_* variables.
	Environ []string
	Logger  *slog.Logger
	// OnListen, when set, learns the bound address (tests listen on :0).
	OnListen func(net.Addr)
	// MetricsAddr is where /metrics is served unless METRICS_ADDR says
	// otherwise, e.g. "127.0.0.1:9091".
	MetricsAddr string
	// OpenAPI is the service's OpenAPI document.
	OpenAPI []byte
	// Prices are the unit costs of the paid vendor calls, in fen, keyed
	// "vendor endpoint", for spend caps and the ledger.
	Prices map[string]int64
	// Open opens the service's store at Config.DatabaseURL, migrated.
	Open func(ctx context.Context, url string, log *slog.Logger) (Store, error)
	// Wire builds the vendor clients, use-cases and servers on the shared
	// parts.
	Wire func(ctx context.Context, d *Deps) (*Wired, error)
}

// Store is a service's store as the bootstrap needs it.
type Store interface {
	DB() *sqlstore.DB
	Close() error
}

// Opener makes a service's store.Open a Spec.Open.
func Opener[S Store](open func(ctx context.Context, url string, log *slog.Logger) (S, error)) func(context.Context, string, *slog.Logger) (Store, error) {
	return func(ctx context.Context, url string, log *slog.Logger) (Store, error) {
		st, err := open(ctx, url, log)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
}

// Deps are the shared parts a service's Wire builds on.
type Deps struct {
	Log      *slog.Logger
	Registry *prometheus.Registry
	Store    Store
	Locks    coord.Locks
	// Requests is the request_id engine (at-most-once mutations).
	Requests *idempotency.Store
	// Access holds the guard, the TLS configuration and the usage ledger
	// (Access.Ledger.Observe goes to the vendor clients).
	Access *access.Access
	// Local is the in-process channel for REST handlers that call the
	// service themselves.
	Local *serve.Local
	// Addr is the bound listen address.
	Addr net.Addr
	// Tracing is the service's one trace provider (OTEL_*), for work that
	// starts its own traces (a poller).
	Tracing *tracing.Provider
}

// Wired is what a service serves.
type Wired struct {
	// Register registers the gRPC services; Gateway their REST handlers
	// on a client of conn.
	Register func(grpc.ServiceRegistrar)
	Gateway  func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error
	// Checkers tell the reconciler what the vendor holds for an operation
	// of unknown outcome, by operation name.
	Checkers map[string]idempotency.Checker
	// Background runs beside the servers until its context ends (a
	// callback listener, a gauge's refresh); an error stops the service.
	Background []func(ctx context.Context) error
	// Close releases what Wire opened (a notifier, a listener), after the
	// servers and Background have stopped.
	Close []func() error
	// Listening are more attributes of the "listening" log line.
	Listening []any
	// The REST extras of serve.Options.
	WrapREST           map[string]func(http.Handler) http.Handler
	ExtraHTTP          map[string]http.Handler
	RouteBodyLimits    map[string]int64
	SecretPathPrefixes []string
}

// Run runs the service until ctx ends.
func Run(ctx context.Context, spec Spec) error {
	cfg, log := spec.Config, spec.Logger
	traces, err := tracing.New(ctx, tracing.Options{Service: spec.Name, Environ: spec.Environ})
	if err != nil {
		return err
	}
	defer func() {
		// After the servers stopped: the last calls' spans are sent.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := traces.Shutdown(ctx); err != nil {
			log.Warn("traces not flushed at shutdown", "error", err)
		}
	}()
	if traces.Enabled() {
		log.InfoContext(ctx, "tracing", "exporter", traces.Exporter())
	}
	st, err := spec.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.DatabaseVar, err)
	}
	defer st.Close()
	db := st.DB()
	db.SetTimeout(cfg.DatabaseTimeout)
	db.WarnOneProcess(log, spec.Name, cfg.DatabaseVar, cfg.DatabaseURL)

	// Replicas sharing the database coordinate through it.
	locks := coord.NewLocks(db)
	requests, err := idempotency.New(ctx, db, spec.Name, idempotency.Options{TTL: cfg.RequestIDTTL, Locks: locks, Logger: log,
		TracerProvider: traces.TracerProvider()})
	if err != nil {
		return fmt.Errorf("%s: request_id records: %w", cfg.DatabaseVar, err)
	}
	reg := prometheus.NewRegistry()
	acc, err := access.Open(ctx, access.Options{Service: spec.Name, DB: db, Config: cfg.Access, Sandbox: cfg.Sandbox,
		Prices: spec.Prices, Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		// After the servers stopped: the ledger's queued records are
		// written, so that a graceful shutdown loses none.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := acc.Close(ctx); err != nil {
			log.Error("usage ledger: queued records not written at shutdown", "error", err)
		}
	}()
	// A resolution settles the cost the ledger booked while it was unknown.
	requests.OnResolve(acc.Ledger.Resolve)

	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s %s: %w", cfg.AddrVar, cfg.Addr, err)
	}
	defer lis.Close()
	d := &Deps{Log: log, Registry: reg, Store: st, Locks: locks, Requests: requests, Access: acc,
		Local: serve.NewLocal(), Addr: lis.Addr(), Tracing: traces}
	w, err := spec.Wire(ctx, d)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range w.Close {
			if err := c(); err != nil {
				log.Warn("closing at shutdown", "error", err)
			}
		}
	}()
	if w.Register == nil {
		return errors.New("app: Wire registered no service")
	}
	log.Info(spec.Name+" listening", append([]any{"grpc", lis.Addr().String(), "sandbox", cfg.Sandbox,
		"database", sqlstore.Redact(cfg.DatabaseURL)}, w.Listening...)...)
	if spec.OnListen != nil {
		spec.OnListen(lis.Addr())
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { acc.Run(gctx); return nil })
	g.Go(func() error { requests.SweepEvery(gctx, sweepInterval); return nil })
	// Unknown outcomes the vendor can tell are resolved without an
	// operator, from reconcileDelay after the service serves.
	reconciler, serving := requests.NewReconciler(w.Checkers), make(chan struct{})
	g.Go(func() error {
		select {
		case <-serving:
		case <-gctx.Done():
			return nil
		}
		select {
		case <-time.After(reconcileDelay):
			reconciler.Run(gctx, cfg.ReconcileInterval)
		case <-gctx.Done():
		}
		return nil
	})
	for _, bg := range w.Background {
		g.Go(func() error { return bg(gctx) })
	}
	g.Go(func() error {
		return serve.Run(gctx, lis, serve.Options{
			Tracing: traces,
			Name:    spec.Name,
			Domain:  spec.Domain,
			Logger:  log,
			// /metrics stays off the API port unless METRICS_ADDR says so.
			DefaultMetricsAddr: spec.MetricsAddr,
			Registry:           reg,
			Guard:              acc.Guard,
			TLS:                acc.TLS,
			// Ready when the store answers, for every service.
			Ready:              db.PingContext,
			ShutdownTimeout:    cfg.ShutdownTimeout,
			REST:               cfg.REST,
			OpenAPI:            spec.OpenAPI,
			Local:              d.Local,
			RegisterGRPC:       w.Register,
			RegisterGateway:    w.Gateway,
			WrapREST:           w.WrapREST,
			ExtraHTTP:          w.ExtraHTTP,
			RouteBodyLimits:    w.RouteBodyLimits,
			SecretPathPrefixes: w.SecretPathPrefixes,
			Serving: func() {
				close(serving)
				// The reconciler's first pass runs its queries in the
				// store's engine: their pages go back with start-up's.
				select {
				case <-reconciler.FirstPassDone():
					releaseStart(log)
				case <-gctx.Done():
				}
			},
		})
	})
	return g.Wait()
}

// releaseStart gives back what start-up alone needed, once the service
// serves and its reconciler's first pass has run (that pass's pages of the
// store's engine go back too: 1.9 MiB of an idle service on SQLite, where
// the reconciler then rests).
//
// Its garbage: goose parses each migration with a 4 MiB scan buffer from a
// sync.Pool, and a pool keeps its buffers through one collection: the first
// collections after start counted 12-16 MiB of them as live and set the
// heap's goal from that, about 40 MB, which an idle service never reaches.
// The first large transfer then grew the heap to that goal before it was
// collected (+22-26 MiB of RSS for a 20 MiB contract, where a warm one adds
// 1-4). Two collections, the second returning the freed pages to the OS,
// set the goal from what the service holds.
//
// The binary's pages it touched (internal/residency): about 26 of the 35
// MB an idle service had resident, where the service itself holds 8.
func releaseStart(log *slog.Logger) {
	goruntime.GC()
	debug.FreeOSMemory()
	released, err := residency.ReleaseExecutable()
	if err != nil {
		// Only memory is at stake: the pages stay mapped.
		log.Warn("start-up's pages of the binary not released", "error", err)
		return
	}
	log.Debug("released start-up's pages of the binary", "bytes", released)
}
