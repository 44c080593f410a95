// Package config loads the delivery service's configuration from the
// environment, once, into one typed struct.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/envconfig"
	"github.com/vendorgate/vendorgate/internal/money"
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
	// Sandbox), DINGDANG_TIMEOUT, DINGDANG_IDLE_TIMEOUT, DINGDANG_MAX_RESPONSE_BYTES,
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
	// pushes status changes; empty sends none. CallbackPublicURL supersedes
	// it: with one, every order gets a callback URL of its own.
	CallbackURL string `env:"DINGDANG_CALLBACK_URL"`
	// DispatchPriceYuan is what one Dingdang dispatch (createOrder) costs
	// us, a decimal yuan amount such as "6.50" (DINGDANG_DISPATCH_PRICE_YUAN);
	// "0" counts dispatches as free. It is the cost of a dispatch in the
	// usage ledger (GetUsage) and what a dispatch books against a caller's
	// daily_spend_cap_yuan.
	DispatchPriceYuan string `env:"DINGDANG_DISPATCH_PRICE_YUAN" envDefault:"0"`
	// Access is who may call the service and what their vendor calls cost:
	// AUTH_MODE, AUTH_KEYS_FILE, AUTH_RELOAD_INTERVAL, AUTH_TLS_CERT,
	// AUTH_TLS_KEY, AUTH_CLIENT_CA, SANDBOX_API_KEY and USAGE_RETENTION.
	Access access.Config
	// DatabaseURL is the store: a SQLite file (one process only) or
	// postgres://… shared by replicas.
	DatabaseURL string `env:"DELIVERY_DATABASE_URL" envDefault:"file:delivery.db"`
	// DatabaseTimeout bounds every store call, and the wait for a
	// connection: a store that does not answer within it is
	// UNAVAILABLE STORE_UNAVAILABLE, never a hung call.
	DatabaseTimeout time.Duration `env:"DELIVERY_DATABASE_TIMEOUT" envDefault:"5s"`
	// RequestIDTTL is how long a request_id's outcome is kept.
	RequestIDTTL time.Duration `env:"REQUEST_ID_TTL" envDefault:"24h"`
	// ReconcileInterval is how often the reconciler reads the vendor back
	// for the request_ids whose outcome is unknown (a dispatch by its
	// origin_id, a cancel by its order's status) and resolves what it shows.
	ReconcileInterval time.Duration `env:"DELIVERY_RECONCILE_INTERVAL" envDefault:"30s"`
	// CallbackAddr is where the callback listener serves the vendor's
	// status pushes (POST /callbacks/dingdang/{token}), apart from the API
	// port so that only it need face the internet; empty serves none.
	CallbackAddr string `env:"DELIVERY_CALLBACK_ADDR"`
	// CallbackPublicURL is the callback listener as the vendor reaches it,
	// e.g. https://hooks.example.com; each order's callback is this plus
	// /callbacks/dingdang/ and the order's token. Empty sends no callback,
	// and watched orders are polled. In sandbox mode it defaults to the
	// callback listener's own address.
	CallbackPublicURL string `env:"DELIVERY_CALLBACK_PUBLIC_URL"`
	// CallbackMaxBytes bounds a push's body.
	CallbackMaxBytes int64 `env:"DELIVERY_CALLBACK_MAX_BYTES" envDefault:"65536"`
	// CallbackRate and CallbackBurst limit the pushes accepted per order
	// and second, per replica; a push over the limit is refused (429) and
	// the order read once the limit allows.
	CallbackRate  float64 `env:"DELIVERY_CALLBACK_RATE" envDefault:"1"`
	CallbackBurst int     `env:"DELIVERY_CALLBACK_BURST" envDefault:"5"`
	// WatchPollInterval is how often a watched order is read from the
	// vendor when there are no pushes (no CallbackPublicURL).
	WatchPollInterval time.Duration `env:"DELIVERY_WATCH_POLL_INTERVAL" envDefault:"10s"`
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
	if err := cfg.Access.Check(); err != nil {
		errs = append(errs, err)
	}
	if _, err := money.ParseYuan(cfg.DispatchPriceYuan); err != nil {
		errs = append(errs, fmt.Errorf("DINGDANG_DISPATCH_PRICE_YUAN %q: want a non-negative decimal yuan amount such as \"0\" or \"6.50\"", cfg.DispatchPriceYuan))
	}
	errs = append(errs, cfg.checkCallbacks()...)
	if err := envconfig.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Config) checkCallbacks() []error {
	var errs []error
	if c.CallbackPublicURL != "" {
		u, err := url.Parse(c.CallbackPublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("DELIVERY_CALLBACK_PUBLIC_URL %q: want an http(s) URL", c.CallbackPublicURL))
		}
		if c.CallbackAddr == "" {
			errs = append(errs, errors.New("DELIVERY_CALLBACK_PUBLIC_URL is set but DELIVERY_CALLBACK_ADDR is not: the pushes would reach no listener"))
		}
	}
	if c.CallbackMaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("DELIVERY_CALLBACK_MAX_BYTES must be positive, got %d", c.CallbackMaxBytes))
	}
	if c.CallbackRate <= 0 || c.CallbackBurst <= 0 {
		errs = append(errs, errors.New("DELIVERY_CALLBACK_RATE and DELIVERY_CALLBACK_BURST must be positive"))
	}
	if c.WatchPollInterval <= 0 {
		errs = append(errs, fmt.Errorf("DELIVERY_WATCH_POLL_INTERVAL must be positive, got %s", c.WatchPollInterval))
	}
	if c.ReconcileInterval <= 0 {
		errs = append(errs, fmt.Errorf("DELIVERY_RECONCILE_INTERVAL must be positive, got %s", c.ReconcileInterval))
	}
	if c.RequestIDTTL <= 0 {
		errs = append(errs, fmt.Errorf("REQUEST_ID_TTL must be positive, got %s", c.RequestIDTTL))
	}
	return errs
}

// DispatchPriceFen is DispatchPriceYuan in fen (Load checked it).
func (c Config) DispatchPriceFen() int64 {
	fen, _ := money.ParseYuan(c.DispatchPriceYuan)
	return fen
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
