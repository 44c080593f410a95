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
		{"every credential named", nil, []string{"FADADA_BASE_URL", "FADADA_SECRET_ID", "FADADA_SECRET_KEY", "FADADA_APP_ID", "FADADA_APP_SECRET"}},
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
				if cfg.Addr != DefaultAddr || cfg.MaxUploadBytes != 20<<20 || cfg.LinkValidity != 15*time.Minute {
					t.Errorf("defaults: got %s %d %s, want %s %d 15m", cfg.Addr, cfg.MaxUploadBytes, cfg.LinkValidity, DefaultAddr, 20<<20)
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
