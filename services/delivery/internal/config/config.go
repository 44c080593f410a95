// Package config loads the delivery service's configuration from the
// environment, once, into one typed struct.
package config

import (
	"time"

	"github.com/vendorgate/vendorgate/internal/envconfig"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

// Config is the delivery service's configuration.
type Config struct {
	// Addr is where the service listens for gRPC and REST on one port.
	Addr string `env:"DELIVERY_ADDR" envDefault:"127.0.0.1:8081"`
	// Sandbox wires the service to an in-process Dingdang simulator with
	// generated credentials; the DINGDANG_* credentials are then not used.
	Sandbox bool `env:"SANDBOX"`
	// Vendor is the Dingdang call layer: DINGDANG_BASE_URL (required unless
	// Sandbox), DINGDANG_TIMEOUT, DINGDANG_MAX_RESPONSE_BYTES,
	// DINGDANG_MAX_STREAM_BYTES, DINGDANG_RATE_LIMIT, DINGDANG_RATE_BURST,
	// DINGDANG_BREAKER_FAILURES, DINGDANG_BREAKER_OPEN_FOR.
	Vendor vendorcall.Config `envPrefix:"DINGDANG_"`
	// SecretID is the cloud-market secret id the gateway knows us by
	// (DINGDANG_SECRET_ID), required unless Sandbox.
	SecretID string `env:"DINGDANG_SECRET_ID"`
	// SecretKey is the cloud-market secret key that signs our calls
	// (DINGDANG_SECRET_KEY), required unless Sandbox; it is never logged.
	SecretKey string `env:"DINGDANG_SECRET_KEY"`
	// CallbackURL is sent to the vendor as createOrder's callback, where it
	// pushes status changes; empty sends none.
	CallbackURL string `env:"DINGDANG_CALLBACK_URL"`
	// StatusMap maps the vendor's unpublished order_status codes to
	// OrderStatus names, e.g. "0=WAITING,4=DELIVERING,5=CANCELLED".
	StatusMap string `env:"DINGDANG_STATUS_MAP" envDefault:"0=WAITING,4=DELIVERING,5=CANCELLED"`
	// SandboxStatusStep is how fast simulated orders advance in sandbox mode.
	SandboxStatusStep time.Duration `env:"SANDBOX_STATUS_STEP" envDefault:"30s"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	// REST bounds the REST face: REST_MAX_BODY_BYTES, REST_BODY_READ_TIMEOUT,
	// REST_IDLE_TIMEOUT, REST_TRUSTED_PROXIES.
	REST serve.REST
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
}

// Load reads the configuration from environ (e.g. os.Environ()). The error
// names every missing or malformed variable.
func Load(environ []string) (Config, error) {
	// A variable that does not parse must not hide the others: check
	// what did parse, and let Join keep the parse error of each variable.
	cfg, err := envconfig.Parse[Config](environ)
	errs := append([]error{err}, cfg.Vendor.Check("DINGDANG_")...)
	if !cfg.Sandbox {
		errs = append(errs, envconfig.Require(" (or set SANDBOX=1 to use the simulator)", map[string]string{
			"DINGDANG_BASE_URL": cfg.Vendor.BaseURL, "DINGDANG_SECRET_ID": cfg.SecretID, "DINGDANG_SECRET_KEY": cfg.SecretKey,
		})...)
	}
	if err := cfg.REST.Check(); err != nil {
		errs = append(errs, err)
	}
	if err := envconfig.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// LoadAddr reads only DELIVERY_ADDR (with its default), for the health
// probe, which needs no vendor credentials.
func LoadAddr(environ []string) (string, error) {
	type addrOnly struct {
		Addr string `env:"DELIVERY_ADDR" envDefault:"127.0.0.1:8081"`
	}
	cfg, err := envconfig.Parse[addrOnly](environ)
	return cfg.Addr, err
}
