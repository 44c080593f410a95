// Package config loads the logistics service's configuration from the
// environment, once, into one typed struct.
package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/envconfig"
	"github.com/vendorgate/vendorgate/internal/money"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
)

// Config is the logistics service's configuration.
type Config struct {
	// Addr is where the service listens for gRPC and REST on one port.
	Addr string `env:"LOGISTICS_ADDR" envDefault:"127.0.0.1:8083"`
	// Sandbox wires the service to in-process damaijia and 30post
	// simulators with generated credentials; the vendor credentials are
	// then not used.
	Sandbox bool `env:"SANDBOX"`
	// Damaijia is damaijia's call layer: DAMAIJIA_BASE_URL (required unless
	// Sandbox, e.g. http://www.damaijia168.com/vv/external), DAMAIJIA_TIMEOUT,
	// DAMAIJIA_RATE_LIMIT and the other vendorcall variables.
	Damaijia vendorcall.Config `envPrefix:"DAMAIJIA_"`
	// DamaijiaAppID is damaijia's app_id (DAMAIJIA_APP_ID).
	DamaijiaAppID string `env:"DAMAIJIA_APP_ID"`
	// DamaijiaAppSecret is damaijia's app_secret (DAMAIJIA_APP_SECRET); never logged.
	DamaijiaAppSecret string `env:"DAMAIJIA_APP_SECRET"`
	// DamaijiaOrderPriceYuan is what one damaijia order_create costs a
	// caller (DAMAIJIA_ORDER_PRICE_YUAN), a decimal such as "3.50"; it is
	// booked against the caller's daily_spend_cap_yuan before the order is
	// sent and summed by GetUsage. "0" makes orders free.
	DamaijiaOrderPriceYuan string `env:"DAMAIJIA_ORDER_PRICE_YUAN" envDefault:"0"`
	// DamaijiaCancelPath is the unpublished cancel endpoint.
	DamaijiaCancelPath string `env:"DAMAIJIA_CANCEL_PATH" envDefault:"/v1/order_cancel"`
	// Post30 is 30post's call layer: POST30_BASE_URL (required unless
	// Sandbox, e.g. http://captureupload.30post.cn), POST30_TIMEOUT and the
	// other vendorcall variables.
	Post30 vendorcall.Config `envPrefix:"POST30_"`
	// Post30AccessKey is 30post's access key, sent as external_company
	// (POST30_ACCESS_KEY).
	Post30AccessKey string `env:"POST30_ACCESS_KEY"`
	// Post30SecretKey signs 30post calls (POST30_SECRET_KEY); never logged.
	Post30SecretKey string `env:"POST30_SECRET_KEY"`
	// Post30SignEncoding is the encoding of the bytes 30post's MD5 sign is
	// taken over (POST30_SIGN_ENCODING): utf-8 or gbk. The vendor's C#
	// sample takes Encoding.Default, which is GBK on a Chinese Windows
	// server; it matters only for non-ASCII values (a Chinese e-mail or
	// tracking number). A wrong one makes 30post answer 签名错误
	// (VENDOR_SIGNATURE_REJECTED) for such values.
	Post30SignEncoding string `env:"POST30_SIGN_ENCODING" envDefault:"utf-8"`
	// Post30Timezone is the zone of the signature's timer. 30post does not
	// say; Asia/Shanghai is an assumption (the sample is a .NET server's
	// local time).
	Post30Timezone string `env:"POST30_TIMEZONE" envDefault:"Asia/Shanghai"`
	// Post30RechargePath is the unpublished recharge endpoint.
	Post30RechargePath string `env:"POST30_RECHARGE_PATH" envDefault:"/api/bill/recharge"`
	// Post30DeductPath is the unpublished deduction endpoint.
	Post30DeductPath string `env:"POST30_DEDUCT_PATH" envDefault:"/api/bill/deduction"`
	// Post30CloseBatchPath is the close-batch endpoint.
	Post30CloseBatchPath string `env:"POST30_CLOSEBATCH_PATH" envDefault:"/api/bill/closebatch"`
	// Post30MaxAmount is the largest recharge or deduction accepted, a
	// decimal string.
	Post30MaxAmount string `env:"POST30_MAX_AMOUNT" envDefault:"10000.00"`
	// DatabaseURL is where money movements are kept: "file:logistics.db" or
	// "sqlite:///path/logistics.db" for SQLite, "postgres://…" for Postgres.
	DatabaseURL string `env:"LOGISTICS_DATABASE_URL" envDefault:"file:logistics.db"`
	// DatabaseTimeout bounds every store call, and the wait for a
	// connection: a store that does not answer within it is
	// UNAVAILABLE STORE_UNAVAILABLE, never a hung call.
	DatabaseTimeout time.Duration `env:"LOGISTICS_DATABASE_TIMEOUT" envDefault:"5s"`
	// RequestIDTTL is how long a request_id is remembered (AIP-155): a
	// parcel order's answer, and a money movement whose outcome is known;
	// after it, the id counts as unused. Unknown outcomes are kept until the
	// reconciler or an operator resolves them.
	RequestIDTTL time.Duration `env:"REQUEST_ID_TTL" envDefault:"24h"`
	// ReconcileInterval is how often the service asks damaijia about the
	// parcel orders whose outcome is unknown (LOGISTICS_RECONCILE_INTERVAL),
	// and counts the unresolved money movements for their gauge. 30post
	// cannot be asked: its movements wait for an operator.
	ReconcileInterval time.Duration `env:"LOGISTICS_RECONCILE_INTERVAL" envDefault:"30s"`
	// SandboxTokenTTL is how long the sandbox damaijia's tokens last.
	SandboxTokenTTL time.Duration `env:"SANDBOX_DAMAIJIA_TOKEN_TTL" envDefault:"10m"`
	// SandboxShipAfter is how long after ordering a sandbox parcel ships.
	SandboxShipAfter time.Duration `env:"SANDBOX_DAMAIJIA_SHIP_AFTER" envDefault:"1m"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	// REST bounds the REST face: REST_MAX_BODY_BYTES, REST_BODY_READ_TIMEOUT,
	// REST_IDLE_TIMEOUT, REST_TRUSTED_PROXIES.
	REST serve.REST
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// Access is who may call the service and what their vendor calls
	// cost: AUTH_MODE, AUTH_KEYS_FILE, AUTH_RELOAD_INTERVAL, AUTH_TLS_CERT,
	// AUTH_TLS_KEY, AUTH_CLIENT_CA, SANDBOX_API_KEY and USAGE_RETENTION.
	Access access.Config

	// SignEncoding is Post30SignEncoding parsed.
	SignEncoding post30.SignEncoding `env:"-"`
	// Location is Post30Timezone loaded.
	Location *time.Location `env:"-"`
	// MaxAmountFen is Post30MaxAmount in fen.
	MaxAmountFen int64 `env:"-"`
	// OrderPriceFen is DamaijiaOrderPriceYuan in fen.
	OrderPriceFen int64 `env:"-"`
}

// Load reads the configuration from environ. The error names every
// missing or malformed variable.
func Load(environ []string) (Config, error) {
	cfg, err := envconfig.Parse[Config](environ)
	errs := []error{err}
	errs = append(errs, cfg.Damaijia.Check("DAMAIJIA_")...)
	errs = append(errs, cfg.Post30.Check("POST30_")...)
	if !cfg.Sandbox {
		errs = append(errs, envconfig.Require(" (or set SANDBOX=1 to use the simulators)", map[string]string{
			"DAMAIJIA_BASE_URL": cfg.Damaijia.BaseURL, "DAMAIJIA_APP_ID": cfg.DamaijiaAppID, "DAMAIJIA_APP_SECRET": cfg.DamaijiaAppSecret,
			"POST30_BASE_URL": cfg.Post30.BaseURL, "POST30_ACCESS_KEY": cfg.Post30AccessKey, "POST30_SECRET_KEY": cfg.Post30SecretKey,
		})...)
	}
	if err := cfg.REST.Check(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Access.Check(); err != nil {
		errs = append(errs, err)
	}
	price, perr := money.ParseYuan(cfg.DamaijiaOrderPriceYuan)
	if perr != nil {
		errs = append(errs, fmt.Errorf("DAMAIJIA_ORDER_PRICE_YUAN: %w", perr))
	}
	cfg.OrderPriceFen = price
	loc, lerr := time.LoadLocation(cfg.Post30Timezone)
	if lerr != nil {
		errs = append(errs, fmt.Errorf("POST30_TIMEZONE: %w", lerr))
	}
	cfg.Location = loc
	enc, eerr := post30.ParseSignEncoding(cfg.Post30SignEncoding)
	if eerr != nil {
		errs = append(errs, fmt.Errorf("POST30_SIGN_ENCODING: %w", eerr))
	}
	cfg.SignEncoding = enc
	fen, ferr := money.ParseYuan(cfg.Post30MaxAmount)
	if ferr != nil || fen <= 0 {
		errs = append(errs, fmt.Errorf("POST30_MAX_AMOUNT must be a positive decimal with at most 2 decimals, got %q", cfg.Post30MaxAmount))
	}
	cfg.MaxAmountFen = fen
	for name, p := range map[string]string{
		"DAMAIJIA_CANCEL_PATH": cfg.DamaijiaCancelPath, "POST30_RECHARGE_PATH": cfg.Post30RechargePath,
		"POST30_DEDUCT_PATH": cfg.Post30DeductPath, "POST30_CLOSEBATCH_PATH": cfg.Post30CloseBatchPath,
	} {
		if !strings.HasPrefix(p, "/") {
			errs = append(errs, fmt.Errorf("%s must start with /, got %q", name, p))
		}
	}
	for name, d := range map[string]time.Duration{
		"REQUEST_ID_TTL": cfg.RequestIDTTL, "LOGISTICS_RECONCILE_INTERVAL": cfg.ReconcileInterval, "SANDBOX_DAMAIJIA_TOKEN_TTL": cfg.SandboxTokenTTL, "SANDBOX_DAMAIJIA_SHIP_AFTER": cfg.SandboxShipAfter, "SHUTDOWN_TIMEOUT": cfg.ShutdownTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if err := envconfig.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// LoadAddr reads only LOGISTICS_ADDR, for the health probe.
func LoadAddr(environ []string) (string, error) {
	type addrOnly struct {
		Addr string `env:"LOGISTICS_ADDR" envDefault:"127.0.0.1:8083"`
	}
	cfg, err := envconfig.Parse[addrOnly](environ)
	return cfg.Addr, err
}
