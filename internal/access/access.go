// Package access wires a service's callers: who may call (internal/auth),
// what their vendor calls cost and whether they may spend more
// (internal/usage). Every service's run() opens one Access on its store and
// hands its Guard to serve.Run, its Ledger's Observe to the vendor clients,
// and its Ledger to the handlers of paid calls and GetUsage.
package access

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

// Config is the caller part of every service's configuration.
type Config struct {
	// Auth is AUTH_MODE, AUTH_KEYS_FILE, AUTH_RELOAD_INTERVAL, AUTH_TLS_*,
	// AUTH_CLIENT_CA and SANDBOX_API_KEY.
	Auth auth.Config
	// UsageRetention is how long the usage ledger keeps its rows
	// (USAGE_RETENTION), 400 days by default.
	UsageRetention time.Duration `env:"USAGE_RETENTION" envDefault:"9600h"`
}

// Check reports the first invalid field, naming its variable.
func (c Config) Check() error {
	if err := c.Auth.Check(); err != nil {
		return err
	}
	if c.UsageRetention <= 0 {
		return fmt.Errorf("USAGE_RETENTION must be positive, got %s", c.UsageRetention)
	}
	return nil
}

// Options configure Open.
type Options struct {
	// Service names the service, e.g. "vehicle".
	Service string
	// DB is the service's store, shared with its replicas.
	DB *sqlstore.DB
	// Config is the ACCESS part of the service's configuration.
	Config Config
	// Sandbox creates and prints a development key allowed everything.
	Sandbox bool
	// Explicit lists more RPCs ("pkg.Service/Method") that only a caller
	// naming them may call, on top of auth.PaidOrMoneyRPCs, the one table
	// of the RPCs that spend or move money, which every guard applies; a
	// service needs to list none of its own.
	Explicit []string
	// Prices are the unit costs of paid vendor calls, in fen, keyed
	// "vendor endpoint".
	Prices map[string]int64
	// Registerer and Logger are the service's. The Registerer receives
	// the guard's counters and, for every caller with a daily spend cap,
	// vendorgate_caller_daily_spend_cap_yuan and
	// vendorgate_caller_spend_today_yuan.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Access is a service's guard and usage ledger.
type Access struct {
	// Guard goes to serve.Options.Guard.
	Guard *auth.Guard
	// TLS goes to serve.Options.TLS: the listener's certificate and the
	// client CA in AUTH_MODE=mtls, nil otherwise.
	TLS *tls.Config
	// Ledger records every vendor call (vendorcall.Options.Observe =
	// Ledger.Observe), books paid calls against spend caps (Reserve) and
	// answers GetUsage (Report).
	Ledger *usage.Ledger
}

// Open builds the guard and the ledger on opts.DB. Outside sandbox mode it
// fails when AUTH_MODE=api-key finds no key; AUTH_MODE=none is logged as a
// warning; sandbox mode logs its development key loudly.
func Open(ctx context.Context, opts Options) (*Access, error) {
	if err := opts.Config.Check(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var store *auth.Store
	if opts.Config.Auth.Mode != auth.ModeNone {
		var err error
		if store, err = auth.OpenStore(ctx, opts.DB, opts.Service, log); err != nil {
			return nil, err
		}
	}
	ledger, err := usage.New(ctx, opts.DB, opts.Service, usage.Options{Prices: opts.Prices, Retention: opts.Config.UsageRetention, Logger: log})
	if err != nil {
		return nil, err
	}
	guard, err := auth.New(ctx, auth.Options{
		Service: opts.Service, Config: opts.Config.Auth, Store: store, Explicit: opts.Explicit,
		Sandbox: opts.Sandbox, Registerer: opts.Registerer, Logger: log, Replicas: ledger.Replicas,
	})
	if err != nil {
		_ = ledger.Close(ctx)
		return nil, err
	}
	switch {
	case opts.Config.Auth.Mode == auth.ModeNone:
		log.Warn("AUTH_MODE=none: every caller is admitted without credentials, as \"anonymous\"; use it only behind something that authenticates")
	case guard.SandboxKey() != "":
		log.Warn("SANDBOX: development API key (send it as \"authorization: Bearer <key>\"); it is allowed every RPC of this process and nothing else",
			"api_key", guard.SandboxKey(), "export", "export VENDORGATE_KEY="+guard.SandboxKey())
	}
	if opts.Registerer != nil {
		// The callers are read at each scrape: a reload's new caps count
		// from the next one.
		if _, err := vendorcall.Register(opts.Registerer, prometheus.Collector(newSpendCollector(guard.SpendCaps, ledger, log))); err != nil {
			_ = ledger.Close(ctx)
			return nil, err
		}
	}
	var serverTLS *tls.Config
	if opts.Config.Auth.Mode == auth.ModeMTLS {
		if serverTLS, err = auth.ServerTLS(opts.Config.Auth); err != nil {
			_ = ledger.Close(ctx)
			return nil, err
		}
	}
	return &Access{Guard: guard, TLS: serverTLS, Ledger: ledger}, nil
}

// Run re-reads the callers (keys file and store) until ctx ends.
func (a *Access) Run(ctx context.Context) { a.Guard.Watch(ctx) }

// Close writes the ledger's queued records; call it after the servers
// stopped, so that a graceful shutdown loses none.
func (a *Access) Close(ctx context.Context) error { return a.Ledger.Close(ctx) }
