package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		environ  []string
		wantErrs []string
	}{
		{"sandbox needs nothing", []string{"SANDBOX=1"}, nil},
		{"every credential named", nil, []string{"FADADA_BASE_URL", "FADADA_SECRET_ID", "FADADA_SECRET_KEY", "FADADA_APP_ID", "FADADA_APP_SECRET",
			"ESIGN_LINK_BASE_URL", "ESIGN_LINK_SECRET"}},
		{"bad link mode", []string{"SANDBOX=1", "ESIGN_LINK_MODE=direct"}, []string{"ESIGN_LINK_MODE"}},
		{"bad link base url", []string{"SANDBOX=1", "ESIGN_LINK_BASE_URL=esign.example.com"}, []string{"ESIGN_LINK_BASE_URL"}},
		{"short link secret", []string{"SANDBOX=1", "ESIGN_LINK_SECRET=short"}, []string{"ESIGN_LINK_SECRET"}},
		{"bad upload limit", []string{"SANDBOX=1", "ESIGN_MAX_UPLOAD_BYTES=0"}, []string{"ESIGN_MAX_UPLOAD_BYTES"}},
		{"bad link validity", []string{"SANDBOX=1", "ESIGN_LINK_VALIDITY=-1s"}, []string{"ESIGN_LINK_VALIDITY"}},
		{"bad request id ttl", []string{"SANDBOX=1", "REQUEST_ID_TTL=0s"}, []string{"REQUEST_ID_TTL"}},
		{"bad auth mode", []string{"SANDBOX=1", "AUTH_MODE=basic"}, []string{"AUTH_MODE"}},
		{"bad usage retention", []string{"SANDBOX=1", "USAGE_RETENTION=0s"}, []string{"USAGE_RETENTION"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(tt.environ)
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Load: got %v, want no error", err)
				}
				if cfg.Addr != DefaultAddr || cfg.MaxUploadBytes != 20<<20 || cfg.LinkMode != LinkModeProxy || cfg.LinkValidity != time.Hour {
					t.Errorf("defaults: got %s %d %s %s, want %s %d proxy 1h", cfg.Addr, cfg.MaxUploadBytes, cfg.LinkMode, cfg.LinkValidity, DefaultAddr, 20<<20)
				}
				if cfg.DatabaseURL != "file:esign.db" || cfg.RequestIDTTL != 24*time.Hour {
					t.Errorf("store defaults: got %q %s, want file:esign.db 24h", cfg.DatabaseURL, cfg.RequestIDTTL)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load: got no error, want one naming %v", tt.wantErrs)
			}
			for _, name := range tt.wantErrs {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("Load: got %q, want it to name %s", err, name)
				}
			}
		})
	}
}

// TestLoadLinks: the real vendor's links need a public origin and a
// secret in proxy mode and neither in vendor mode, where a link opens for
// the gateway's 15 minutes unless told otherwise.
func TestLoadLinks(t *testing.T) {
	t.Parallel()
	vendor := []string{"FADADA_BASE_URL=https://fadada.example.com/api2", "FADADA_SECRET_ID=id", "FADADA_SECRET_KEY=key",
		"FADADA_APP_ID=app", "FADADA_APP_SECRET=secret"}
	tests := []struct {
		name         string
		environ      []string
		wantValidity time.Duration
	}{
		{"proxy", []string{"ESIGN_LINK_BASE_URL=https://esign.example.com/prefix", "ESIGN_LINK_SECRET=" + strings.Repeat("s", 32)}, time.Hour},
		{"proxy, validity set", []string{"ESIGN_LINK_BASE_URL=https://esign.example.com", "ESIGN_LINK_SECRET=" + strings.Repeat("s", 32),
			"ESIGN_LINK_VALIDITY=10m"}, 10 * time.Minute},
		{"vendor", []string{"ESIGN_LINK_MODE=vendor"}, 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(append(tt.environ, vendor...))
			if err != nil || cfg.LinkValidity != tt.wantValidity {
				t.Fatalf("Load: got validity %s, %v; want %s and no error", cfg.LinkValidity, err, tt.wantValidity)
			}
		})
	}
}
