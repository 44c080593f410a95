package auth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"
)

// The authentication modes (AUTH_MODE).
const (
	// ModeAPIKey: "authorization: Bearer <key>" on every call (the default).
	ModeAPIKey = "api-key"
	// ModeMTLS: a client certificate signed by AUTH_CLIENT_CA; the caller
	// is its URI SAN, else its CN.
	ModeMTLS = "mtls"
	// ModeNone: no authentication; every call is the caller "anonymous".
	ModeNone = "none"
)

// Config is the authentication part of every service's configuration.
type Config struct {
	// Mode is api-key (default), mtls or none (AUTH_MODE).
	Mode string `env:"AUTH_MODE" envDefault:"api-key"`
	// KeysFile is the YAML file of callers and key hashes (AUTH_KEYS_FILE),
	// re-read when it changes; empty uses the shared store only.
	KeysFile string `env:"AUTH_KEYS_FILE"`
	// ReloadInterval is how often the keys file and the store are checked
	// for changes (AUTH_RELOAD_INTERVAL).
	ReloadInterval time.Duration `env:"AUTH_RELOAD_INTERVAL" envDefault:"5s"`
	// TLSCert and TLSKey are the server's certificate and key files for
	// mtls (AUTH_TLS_CERT, AUTH_TLS_KEY).
	TLSCert string `env:"AUTH_TLS_CERT"`
	TLSKey  string `env:"AUTH_TLS_KEY"`
	// ClientCA is the CA bundle that signs client certificates in mtls
	// (AUTH_CLIENT_CA).
	ClientCA string `env:"AUTH_CLIENT_CA"`
	// SandboxKey is the development key sandbox mode creates
	// (SANDBOX_API_KEY); empty makes a random one, printed at start.
	SandboxKey string `env:"SANDBOX_API_KEY"`
}

// Check reports the first invalid field, naming its variable.
func (c Config) Check() error {
	switch c.Mode {
	case ModeAPIKey, ModeNone:
	case ModeMTLS:
		if c.TLSCert == "" || c.TLSKey == "" || c.ClientCA == "" {
			return fmt.Errorf("AUTH_MODE=mtls needs AUTH_TLS_CERT, AUTH_TLS_KEY and AUTH_CLIENT_CA")
		}
	default:
		return fmt.Errorf("AUTH_MODE %q: want api-key, mtls or none", c.Mode)
	}
	if c.ReloadInterval <= 0 {
		return fmt.Errorf("AUTH_RELOAD_INTERVAL must be positive, got %s", c.ReloadInterval)
	}
	return nil
}

// ServerTLS is the server side of AUTH_MODE=mtls: the certificate and key
// of AUTH_TLS_CERT and AUTH_TLS_KEY, and client certificates verified
// against AUTH_CLIENT_CA. A call without a certificate still completes the
// handshake, so that it gets a clear UNAUTHENTICATED status rather than a
// TLS alert, and the probes stay reachable.
func ServerTLS(c Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("AUTH_TLS_CERT, AUTH_TLS_KEY: %w", err)
	}
	pem, err := os.ReadFile(c.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("AUTH_CLIENT_CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("AUTH_CLIENT_CA %s: no PEM certificate in it", c.ClientCA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
