// Package config loads the delivery service's configuration from the
// environment, once, into one typed struct.
package config

import (
	"errors"
	"time"

	"github.com/vendorgate/vendorgate/internal/envconfig"
)

// Config is the delivery service's configuration.
type Config struct {
	// Addr is where the service listens for gRPC and REST on one port.
	Addr string `env:"DELIVERY_ADDR" envDefault:"127.0.0.1:8081"`
	// Sandbox wires the service to an in-process Dingdang simulator with
	// generated credentials; the DINGDANG_* credentials are then not used.
	Sandbox bool `env:"SANDBOX"`
	// BaseURL is the Dingdang API root (required unless Sandbox).
	BaseURL string `env:"DINGDANG_BASE_URL"`
	// SecretID is the cloud-market secret id (required unless Sandbox).
	SecretID string `env:"DINGDANG_SECRET_ID"`
	// SecretKey is the cloud-market secret key (required unless Sandbox).
	SecretKey string `env:"DINGDANG_SECRET_KEY"`
	// Timeout bounds one vendor call, under the caller's deadline.
	Timeout time.Duration `env:"DINGDANG_TIMEOUT" envDefault:"5s"`
	// MaxResponseBytes bounds a vendor response body.
	MaxResponseBytes int64 `env:"DINGDANG_MAX_RESPONSE_BYTES" envDefault:"1048576"`
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
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
}

// Load reads the configuration from environ (e.g. os.Environ()). The error
// names every missing or malformed variable.
func Load(environ []string) (Config, error) {
	cfg, err := envconfig.Parse[Config](environ)
	if err != nil {
		return Config{}, err
	}
	var errs []error
	if !cfg.Sandbox {
		errs = envconfig.Require(" (or set SANDBOX=1 to use the simulator)", map[string]string{
			"DINGDANG_BASE_URL": cfg.BaseURL, "DINGDANG_SECRET_ID": cfg.SecretID, "DINGDANG_SECRET_KEY": cfg.SecretKey,
		})
	}
	if err := envconfig.HTTPURL("DINGDANG_BASE_URL", cfg.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, errors.New("DINGDANG_TIMEOUT must be positive"))
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
