// Package config loads the esign service's configuration from the
// environment, once, into one typed struct.
package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/envconfig"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/esign/internal/links"
)

// DefaultAddr is ESIGN_ADDR's default.
const DefaultAddr = "127.0.0.1:8082"

// The link modes (ESIGN_LINK_MODE).
const (
	// LinkModeProxy hands out the service's own links.
	LinkModeProxy = "proxy"
	// LinkModeVendor hands out Fadada's own signed links.
	LinkModeVendor = "vendor"
)

// Default link validities (ESIGN_LINK_VALIDITY unset), per mode.
const (
	DefaultProxyLinkValidity  = time.Hour
	DefaultVendorLinkValidity = 15 * time.Minute
)

// Config is the esign service's configuration.
type Config struct {
	// Addr is where the service listens for gRPC and REST on one port.
	Addr string `env:"ESIGN_ADDR" envDefault:"127.0.0.1:8082"`
	// Sandbox wires the service to an in-process Fadada simulator with
	// generated credentials; the FADADA_* credentials are then not used.
	Sandbox bool `env:"SANDBOX"`
	// Vendor is the Fadada call layer: FADADA_BASE_URL (the API root up to
	// and including /api2; required unless Sandbox), FADADA_TIMEOUT,
	// FADADA_IDLE_TIMEOUT (an upload or download fails when no byte moves
	// for this long, however long it takes in all; FADADA_TIMEOUT bounds
	// only the calls read whole and a download's wait for its headers),
	// FADADA_MAX_RESPONSE_BYTES, FADADA_MAX_STREAM_BYTES (downloads),
	// FADADA_RATE_LIMIT, FADADA_RATE_BURST, FADADA_BREAKER_FAILURES,
	// FADADA_BREAKER_OPEN_FOR.
	Vendor vendorcall.Config `envPrefix:"FADADA_"`
	// SecretID is the cloud-market secret id (FADADA_SECRET_ID), required
	// unless Sandbox.
	SecretID string `env:"FADADA_SECRET_ID"`
	// SecretKey is the cloud-market secret key (FADADA_SECRET_KEY),
	// required unless Sandbox; never logged.
	SecretKey string `env:"FADADA_SECRET_KEY"`
	// AppID is Fadada's app id (FADADA_APP_ID), required unless Sandbox.
	AppID string `env:"FADADA_APP_ID"`
	// AppSecret is Fadada's app secret (FADADA_APP_SECRET) that every
	// msg_digest covers, required unless Sandbox; never logged or sent.
	AppSecret string `env:"FADADA_APP_SECRET"`
	// MaxUploadBytes bounds an uploaded contract or template file.
	MaxUploadBytes int64 `env:"ESIGN_MAX_UPLOAD_BYTES" envDefault:"20971520"`
	// LinkMode is what GetContractLinks and GenerateContract hand out
	// (ESIGN_LINK_MODE): "proxy" (the default), the service's own links
	// (<LinkBaseURL>/v1/esign/links/<token>), which open without an API
	// key and which the service serves by fetching Fadada's page with the
	// gateway's signature; or "vendor", Fadada's own signed links, which
	// carry no gateway signature (a browser cannot send one) and so open
	// only where the gateway lets them through without it.
	LinkMode string `env:"ESIGN_LINK_MODE" envDefault:"proxy"`
	// LinkBaseURL is the public origin of the links (ESIGN_LINK_BASE_URL),
	// e.g. "https://esign.example.com", optionally with a path prefix that
	// a proxy in front strips; required in proxy mode unless Sandbox,
	// where it defaults to the listen address.
	LinkBaseURL string `env:"ESIGN_LINK_BASE_URL"`
	// LinkSecret signs the links' tokens (ESIGN_LINK_SECRET, at least 32
	// bytes, the same on every replica, never logged): required in proxy
	// mode unless Sandbox, where each process makes its own (its links
	// die with it).
	LinkSecret string `env:"ESIGN_LINK_SECRET"`
	// LinkValidity is how long a link opens (ESIGN_LINK_VALIDITY). Unset:
	// 1h for the service's own links; 15m for Fadada's, since Fadada does
	// not document how old a timestamp it accepts and the gateway's
	// window is 15 minutes.
	LinkValidity time.Duration `env:"ESIGN_LINK_VALIDITY"`
	// SpoolDir is where uploads are spooled before they are sent; empty
	// means the system's temporary directory.
	SpoolDir string `env:"ESIGN_SPOOL_DIR"`
	// DatabaseURL is where the service keeps its state (the template ids
	// it sent, the request_id records): "file:esign.db" or
	// "sqlite:///path/esign.db" for an embedded SQLite file (one process
	// only), "postgres://user:pw@host:5432/db" for Postgres (replicas).
	DatabaseURL string `env:"ESIGN_DATABASE_URL" envDefault:"file:esign.db"`
	// DatabaseTimeout bounds every store call, and the wait for a
	// connection: a store that does not answer within it is
	// UNAVAILABLE STORE_UNAVAILABLE, never a hung call.
	DatabaseTimeout time.Duration `env:"ESIGN_DATABASE_TIMEOUT" envDefault:"5s"`
	// RequestIDTTL is how long a request_id record is kept: a repeat
	// within it gets the first result; after it the id is new again.
	RequestIDTTL time.Duration `env:"REQUEST_ID_TTL" envDefault:"24h"`
	// ReconcileInterval is how often the reconciler reads Fadada back for
	// the uploads and generated contracts whose outcome is unknown, and
	// resolves them without an operator.
	ReconcileInterval time.Duration `env:"ESIGN_RECONCILE_INTERVAL" envDefault:"30s"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	// REST bounds the REST face: REST_MAX_BODY_BYTES (the upload routes
	// take ESIGN_MAX_UPLOAD_BYTES plus room for base64 and fields),
	// REST_BODY_READ_TIMEOUT, REST_IDLE_TIMEOUT, REST_TRUSTED_PROXIES.
	REST serve.REST
	// Access is who may call the service and the usage ledger of its
	// Fadada calls: AUTH_MODE (api-key by default, mtls or none),
	// AUTH_KEYS_FILE, AUTH_RELOAD_INTERVAL, AUTH_TLS_CERT, AUTH_TLS_KEY,
	// AUTH_CLIENT_CA, SANDBOX_API_KEY and USAGE_RETENTION. Fadada is a
	// prepaid package: no call of it has a unit price.
	Access access.Config
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
}

// Load reads the configuration from environ (e.g. os.Environ()). The error
// names every missing or malformed variable.
func Load(environ []string) (Config, error) {
	cfg, err := envconfig.Parse[Config](environ)
	errs := append([]error{err}, cfg.Vendor.Check("FADADA_")...)
	if !cfg.Sandbox {
		errs = append(errs, envconfig.Require(" (or set SANDBOX=1 to use the simulator)", map[string]string{
			"FADADA_BASE_URL": cfg.Vendor.BaseURL, "FADADA_SECRET_ID": cfg.SecretID, "FADADA_SECRET_KEY": cfg.SecretKey,
			"FADADA_APP_ID": cfg.AppID, "FADADA_APP_SECRET": cfg.AppSecret,
		})...)
	}
	if err := cfg.REST.Check(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Access.Check(); err != nil {
		errs = append(errs, err)
	}
	if cfg.MaxUploadBytes <= 0 {
		errs = append(errs, fmt.Errorf("ESIGN_MAX_UPLOAD_BYTES must be positive, got %d", cfg.MaxUploadBytes))
	}
	errs = append(errs, cfg.checkLinks()...)
	if cfg.ReconcileInterval <= 0 {
		errs = append(errs, fmt.Errorf("ESIGN_RECONCILE_INTERVAL must be positive, got %s", cfg.ReconcileInterval))
	}
	if cfg.RequestIDTTL <= 0 {
		errs = append(errs, fmt.Errorf("REQUEST_ID_TTL must be positive, got %s", cfg.RequestIDTTL))
	}
	if cfg.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT must be positive"))
	}
	if err := envconfig.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// checkLinks checks the link settings and fills LinkValidity's default.
func (cfg *Config) checkLinks() []error {
	var errs []error
	switch cfg.LinkMode {
	case LinkModeProxy:
		if !cfg.Sandbox {
			errs = append(errs, envconfig.Require(" in ESIGN_LINK_MODE=proxy, the default (or set ESIGN_LINK_MODE=vendor for Fadada's own links, or SANDBOX=1)",
				map[string]string{"ESIGN_LINK_BASE_URL": cfg.LinkBaseURL, "ESIGN_LINK_SECRET": cfg.LinkSecret})...)
		}
		if cfg.LinkBaseURL != "" {
			if err := links.CheckBaseURL(cfg.LinkBaseURL); err != nil {
				errs = append(errs, fmt.Errorf("ESIGN_LINK_BASE_URL: %w", err))
			}
		}
		if cfg.LinkSecret != "" && len(cfg.LinkSecret) < links.MinSecretBytes {
			errs = append(errs, fmt.Errorf("ESIGN_LINK_SECRET must be at least %d bytes (e.g. openssl rand -base64 32), got %d",
				links.MinSecretBytes, len(cfg.LinkSecret)))
		}
		if cfg.LinkValidity == 0 {
			cfg.LinkValidity = DefaultProxyLinkValidity
		}
	case LinkModeVendor:
		if cfg.LinkValidity == 0 {
			cfg.LinkValidity = DefaultVendorLinkValidity
		}
	default:
		errs = append(errs, fmt.Errorf("ESIGN_LINK_MODE must be %s or %s, got %q", LinkModeProxy, LinkModeVendor, cfg.LinkMode))
	}
	if cfg.LinkValidity < time.Second {
		errs = append(errs, fmt.Errorf("ESIGN_LINK_VALIDITY must be a second or more, got %s", cfg.LinkValidity))
	}
	return errs
}

// LoadAddr reads only ESIGN_ADDR (with its default), for the health probe,
// which needs no vendor credentials.
func LoadAddr(environ []string) (string, error) {
	type addrOnly struct {
		Addr string `env:"ESIGN_ADDR" envDefault:"127.0.0.1:8082"`
	}
	cfg, err := envconfig.Parse[addrOnly](environ)
	return cfg.Addr, err
}
