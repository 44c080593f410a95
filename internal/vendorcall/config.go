package vendorcall

import (
	"fmt"
	"time"

	"github.com/vendorgate/vendorgate/internal/envconfig"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultIdleTimeout      = 30 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultMaxStreamBytes   = 50 << 20
	DefaultBreakerFailures  = 5
	DefaultBreakerOpenFor   = 30 * time.Second
)

// Config is one vendor's call-layer settings, read from the environment
// under the vendor's prefix. A service embeds it in its config, e.g.
//
//	Call vendorcall.Config `envPrefix:"DINGDANG_"`
//
// so that its variables are DINGDANG_BASE_URL, DINGDANG_TIMEOUT,
// DINGDANG_RATE_LIMIT, … The vendor's credentials are the service's own
// config fields, next to it, since their names and number are the vendor's.
type Config struct {
	// BaseURL is the vendor's API root (<PREFIX>BASE_URL). The vendor
	// client joins its paths to it; whether it is required is the
	// service's call (not in sandbox mode).
	BaseURL string `env:"BASE_URL"`
	// Timeout bounds one attempt read whole (<PREFIX>TIMEOUT), under the
	// caller's deadline; in a download it bounds only the wait for the
	// response's headers. Zero means DefaultTimeout.
	Timeout time.Duration `env:"TIMEOUT" envDefault:"5s"`
	// IdleTimeout bounds a streamed call by its progress
	// (<PREFIX>IDLE_TIMEOUT): an upload or download fails when no byte
	// moves for this long, however long the whole transfer takes; the
	// caller's own deadline still bounds the whole call. Zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration `env:"IDLE_TIMEOUT" envDefault:"30s"`
	// MaxResponseBytes bounds a response body read whole
	// (<PREFIX>MAX_RESPONSE_BYTES). Zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64 `env:"MAX_RESPONSE_BYTES" envDefault:"1048576"`
	// MaxStreamBytes bounds a streamed response body
	// (<PREFIX>MAX_STREAM_BYTES). Zero means DefaultMaxStreamBytes (50 MiB).
	MaxStreamBytes int64 `env:"MAX_STREAM_BYTES" envDefault:"52428800"`
	// RateLimit is the most calls per second sent to the vendor
	// (<PREFIX>RATE_LIMIT); zero means unlimited.
	RateLimit float64 `env:"RATE_LIMIT"`
	// RateBurst is how many calls may go at once above RateLimit
	// (<PREFIX>RATE_BURST); zero means max(1, RateLimit rounded up).
	RateBurst int `env:"RATE_BURST"`
	// BreakerFailures is how many consecutive unavailabilities open the
	// circuit breaker (<PREFIX>BREAKER_FAILURES). Zero means
	// DefaultBreakerFailures.
	BreakerFailures uint32 `env:"BREAKER_FAILURES" envDefault:"5"`
	// BreakerOpenFor is how long the breaker stays open before it lets one
	// probe through (<PREFIX>BREAKER_OPEN_FOR). Zero means
	// DefaultBreakerOpenFor.
	BreakerOpenFor time.Duration `env:"BREAKER_OPEN_FOR" envDefault:"30s"`
}

// Check returns one error per bad setting, naming the variables with
// prefix (e.g. "DINGDANG_").
func (c Config) Check(prefix string) []error {
	var errs []error
	if err := envconfig.HTTPURL(prefix+"BASE_URL", c.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%sTIMEOUT must be positive, got %s", prefix, c.Timeout))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("%sIDLE_TIMEOUT must be positive, got %s", prefix, c.IdleTimeout))
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, fmt.Errorf("%sMAX_RESPONSE_BYTES must be positive, got %d", prefix, c.MaxResponseBytes))
	}
	if c.MaxStreamBytes < 0 {
		errs = append(errs, fmt.Errorf("%sMAX_STREAM_BYTES must be positive, got %d", prefix, c.MaxStreamBytes))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("%sRATE_LIMIT must be zero (unlimited) or positive, got %g", prefix, c.RateLimit))
	}
	if c.RateBurst < 0 {
		errs = append(errs, fmt.Errorf("%sRATE_BURST must not be negative, got %d", prefix, c.RateBurst))
	}
	if c.BreakerOpenFor < 0 {
		errs = append(errs, fmt.Errorf("%sBREAKER_OPEN_FOR must be positive, got %s", prefix, c.BreakerOpenFor))
	}
	return errs
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxStreamBytes <= 0 {
		c.MaxStreamBytes = DefaultMaxStreamBytes
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	if c.BreakerOpenFor <= 0 {
		c.BreakerOpenFor = DefaultBreakerOpenFor
	}
	return c
}
