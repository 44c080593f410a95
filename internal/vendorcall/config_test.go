package vendorcall_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/envconfig"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

// vendorConfig is how a service embeds the call layer's settings.
type vendorConfig struct {
	Vendor vendorcall.Config `envPrefix:"ACME_"`
}

func TestConfigFromTheEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		want    vendorcall.Config
		wantErr []string
	}{
		{"defaults", nil, vendorcall.Config{Timeout: 5 * time.Second, IdleTimeout: 30 * time.Second, MaxResponseBytes: 1 << 20,
			MaxStreamBytes: 50 << 20, BreakerFailures: 5, BreakerOpenFor: 30 * time.Second}, nil},
		{"set", []string{"ACME_BASE_URL=https://acme.example/v1", "ACME_RATE_LIMIT=2.5", "ACME_RATE_BURST=4",
			"ACME_MAX_STREAM_BYTES=1024", "ACME_BREAKER_FAILURES=3", "ACME_BREAKER_OPEN_FOR=5s"},
			vendorcall.Config{BaseURL: "https://acme.example/v1", Timeout: 5 * time.Second, IdleTimeout: 30 * time.Second, MaxResponseBytes: 1 << 20,
				MaxStreamBytes: 1024, RateLimit: 2.5, RateBurst: 4, BreakerFailures: 3, BreakerOpenFor: 5 * time.Second}, nil},
		{"bad values are all named", []string{"ACME_BASE_URL=acme", "ACME_RATE_LIMIT=-1", "ACME_RATE_BURST=-2", "ACME_MAX_STREAM_BYTES=-3"},
			vendorcall.Config{}, []string{"ACME_BASE_URL", "ACME_RATE_LIMIT", "ACME_RATE_BURST", "ACME_MAX_STREAM_BYTES"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := envconfig.Parse[vendorConfig](tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			err = envconfig.Join(cfg.Vendor.Check("ACME_")...)
			if len(tt.wantErr) == 0 {
				if err != nil || cfg.Vendor != tt.want {
					t.Errorf("got %+v, %v, want %+v, nil", cfg.Vendor, err, tt.want)
				}
				return
			}
			for _, name := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), name) {
					t.Errorf("got %v, want it to name %s", err, name)
				}
			}
		})
	}
}
