// Package config loads the vehicle service's configuration from the
// environment, once, into one typed struct.
package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/envconfig"
	"github.com/vendorgate/vendorgate/internal/money"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

// Config is the vehicle service's configuration.
type Config struct {
	// Addr is where the service listens for gRPC and REST on one port.
	Addr string `env:"VEHICLE_ADDR" envDefault:"127.0.0.1:8084"`
	// Sandbox wires the service to an in-process maintenance-record
	// simulator with generated credentials; the MAINTENANCE_* credentials
	// are then not used.
	Sandbox bool `env:"SANDBOX"`
	// Vendor is the maintenance-record call layer: MAINTENANCE_BASE_URL (required unless
	// Sandbox), MAINTENANCE_TIMEOUT, MAINTENANCE_MAX_RESPONSE_BYTES,
	// MAINTENANCE_MAX_STREAM_BYTES, MAINTENANCE_RATE_LIMIT, MAINTENANCE_RATE_BURST,
	// MAINTENANCE_BREAKER_FAILURES, MAINTENANCE_BREAKER_OPEN_FOR.
	Vendor vendorcall.Config `envPrefix:"MAINTENANCE_"`
	// SecretID is the cloud-market secret id the gateway knows us by
	// (MAINTENANCE_SECRET_ID), required unless Sandbox.
	SecretID string `env:"MAINTENANCE_SECRET_ID"`
	// SecretKey is the cloud-market secret key that signs our calls
	// (MAINTENANCE_SECRET_KEY), required unless Sandbox; it is never logged.
	SecretKey string `env:"MAINTENANCE_SECRET_KEY"`
	// DatabaseURL is where orders and reports are kept: "file:vehicle.db"
	// or "sqlite:///path/vehicle.db" for an embedded SQLite file,
	// "postgres://user:pw@host:5432/db" for Postgres.
	DatabaseURL string `env:"VEHICLE_DATABASE_URL" envDefault:"file:vehicle.db"`
	// DatabaseTimeout bounds every store call, and the wait for a
	// connection: a store that does not answer within it is
	// UNAVAILABLE STORE_UNAVAILABLE, never a hung call.
	DatabaseTimeout time.Duration `env:"VEHICLE_DATABASE_TIMEOUT" envDefault:"5s"`
	// RequestIDTTL is how long an OrderReport request_id is remembered; a
	// repeat after it buys again. A purchase of unknown outcome keeps its
	// request_id until an operator resolves it.
	RequestIDTTL time.Duration `env:"REQUEST_ID_TTL" envDefault:"24h"`
	// ReconcileInterval is how often the reconciler looks at the purchases
	// of unknown outcome: it marks those left by a process that died as
	// unknown, and resolves those whose order the service recorded (the
	// vendor itself cannot be asked; the rest wait for an operator).
	ReconcileInterval time.Duration `env:"VEHICLE_RECONCILE_INTERVAL" envDefault:"30s"`
	// ReportFreshness is how old a stored report may be for LookupHistory
	// to serve it instead of buying a new one.
	ReportFreshness time.Duration `env:"VEHICLE_REPORT_FRESHNESS" envDefault:"720h"`
	// ReportCostYuan is the price of one report: counted in the spend
	// metric, booked against a caller's daily_spend_cap_yuan before every
	// purchase, and the unit cost of a purchase in the usage ledger. At most
	// two decimals (fen).
	ReportCostYuan string `env:"VEHICLE_REPORT_COST_YUAN" envDefault:"17"`
	// PollInterval is the wait before the second report poll; the waits
	// grow from it up to PollMaxInterval.
	PollInterval time.Duration `env:"VEHICLE_POLL_INTERVAL" envDefault:"1s"`
	// PollMaxInterval caps the wait between report polls.
	PollMaxInterval time.Duration `env:"VEHICLE_POLL_MAX_INTERVAL" envDefault:"30s"`
	// LookupWait is how long LookupHistory waits for a report when the
	// caller set no deadline, and how long polling for it goes on after
	// every caller has left.
	LookupWait time.Duration `env:"VEHICLE_LOOKUP_WAIT" envDefault:"60s"`
	// SandboxReportDelay is how long a simulated report takes to become
	// ready in sandbox mode.
	SandboxReportDelay time.Duration `env:"SANDBOX_REPORT_DELAY" envDefault:"3s"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	// REST bounds the REST face: REST_MAX_BODY_BYTES, REST_BODY_READ_TIMEOUT,
	// REST_IDLE_TIMEOUT, REST_TRUSTED_PROXIES.
	REST serve.REST
	// Access is who may call (AUTH_MODE, AUTH_KEYS_FILE,
	// AUTH_RELOAD_INTERVAL, AUTH_TLS_CERT, AUTH_TLS_KEY, AUTH_CLIENT_CA,
	// SANDBOX_API_KEY) and how long the usage ledger keeps its rows
	// (USAGE_RETENTION).
	Access access.Config
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
}

// Load reads the configuration from environ (e.g. os.Environ()). The error
// names every missing or malformed variable.
func Load(environ []string) (Config, error) {
	// A variable that does not parse must not hide the others: check
	// what did parse, and let Join keep the parse error of each variable.
	cfg, err := envconfig.Parse[Config](environ)
	errs := append([]error{err}, cfg.Vendor.Check("MAINTENANCE_")...)
	if !cfg.Sandbox {
		errs = append(errs, envconfig.Require(" (or set SANDBOX=1 to use the simulator)", map[string]string{
			"MAINTENANCE_BASE_URL": cfg.Vendor.BaseURL, "MAINTENANCE_SECRET_ID": cfg.SecretID, "MAINTENANCE_SECRET_KEY": cfg.SecretKey,
		})...)
	}
	if err := cfg.REST.Check(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Access.Check(); err != nil {
		errs = append(errs, err)
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"VEHICLE_REPORT_FRESHNESS", cfg.ReportFreshness},
		{"VEHICLE_POLL_INTERVAL", cfg.PollInterval},
		{"VEHICLE_POLL_MAX_INTERVAL", cfg.PollMaxInterval},
		{"VEHICLE_LOOKUP_WAIT", cfg.LookupWait},
		{"SHUTDOWN_TIMEOUT", cfg.ShutdownTimeout},
		{"REQUEST_ID_TTL", cfg.RequestIDTTL},
		{"VEHICLE_RECONCILE_INTERVAL", cfg.ReconcileInterval},
	}
	for _, p := range positive {
		if p.d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", p.name, p.d))
		}
	}
	if cfg.PollMaxInterval < cfg.PollInterval {
		errs = append(errs, fmt.Errorf("VEHICLE_POLL_MAX_INTERVAL (%s) must not be below VEHICLE_POLL_INTERVAL (%s)", cfg.PollMaxInterval, cfg.PollInterval))
	}
	if _, err := money.ParseYuan(cfg.ReportCostYuan); err != nil {
		errs = append(errs, fmt.Errorf("VEHICLE_REPORT_COST_YUAN: %w", err))
	}
	if cfg.SandboxReportDelay < 0 {
		errs = append(errs, errors.New("SANDBOX_REPORT_DELAY must not be negative"))
	}
	if err := envconfig.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ReportCostFen is ReportCostYuan in fen, the unit of the usage ledger.
func (c Config) ReportCostFen() int64 {
	fen, _ := money.ParseYuan(c.ReportCostYuan) // Load checked it
	return fen
}

// LoadAddr reads only VEHICLE_ADDR (with its default), for the health
// probe, which needs no vendor credentials.
func LoadAddr(environ []string) (string, error) {
	type addrOnly struct {
		Addr string `env:"VEHICLE_ADDR" envDefault:"127.0.0.1:8084"`
	}
	cfg, err := envconfig.Parse[addrOnly](environ)
	return cfg.Addr, err
}
