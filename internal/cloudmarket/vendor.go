package cloudmarket

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vendorgate/vendorgate/internal/envconfig"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

// Vendor is the configuration of one cloud-market vendor. A service
// embeds it in its config under an envPrefix, e.g.
//
//	Vendor cloudmarket.Vendor `envPrefix:"DINGDANG_"`
//
// so that its variables are DINGDANG_BASE_URL, DINGDANG_SECRET_ID, …
type Vendor struct {
	// BaseURL is the vendor API root (required unless sandboxed).
	BaseURL string `env:"BASE_URL"`
	// SecretID is the cloud-market secret id (required unless sandboxed).
	SecretID string `env:"SECRET_ID"`
	// SecretKey is the cloud-market secret key (required unless sandboxed).
	SecretKey string `env:"SECRET_KEY"`
	// Timeout bounds one vendor call, under the caller's deadline.
	Timeout time.Duration `env:"TIMEOUT" envDefault:"5s"`
	// MaxResponseBytes bounds a vendor response body.
	MaxResponseBytes int64 `env:"MAX_RESPONSE_BYTES" envDefault:"1048576"`
}

// Check returns one error per problem, naming the variables with prefix.
// The credentials are required unless sandbox is set.
func (v Vendor) Check(prefix string, sandbox bool) []error {
	var errs []error
	if !sandbox {
		errs = envconfig.Require(" (or set SANDBOX=1 to use the simulator)", map[string]string{
			prefix + "BASE_URL": v.BaseURL, prefix + "SECRET_ID": v.SecretID, prefix + "SECRET_KEY": v.SecretKey,
		})
	}
	if err := envconfig.HTTPURL(prefix+"BASE_URL", v.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if v.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("%sTIMEOUT must be positive, got %s", prefix, v.Timeout))
	}
	if v.MaxResponseBytes <= 0 {
		errs = append(errs, errors.New(prefix+"MAX_RESPONSE_BYTES must be positive"))
	}
	return errs
}

// HTTPClient returns a client that signs every request with v's
// credentials, over a pooled keep-alive transport.
func (v Vendor) HTTPClient() *http.Client {
	return &http.Client{Transport: &Signer{SecretID: v.SecretID, SecretKey: v.SecretKey, Base: vendorcall.NewTransport()}}
}

// CallConfig is the vendor call layer's configuration for v.
func (v Vendor) CallConfig() vendorcall.Config {
	return vendorcall.Config{Timeout: v.Timeout, MaxResponseBytes: v.MaxResponseBytes}
}
