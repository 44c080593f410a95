package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadNamesEveryMissingVariable(t *testing.T) {
	t.Parallel()
	_, err := Load(nil)
	for _, name := range []string{"DAMAIJIA_BASE_URL", "DAMAIJIA_APP_ID", "DAMAIJIA_APP_SECRET", "POST30_BASE_URL", "POST30_ACCESS_KEY", "POST30_SECRET_KEY", "SANDBOX=1"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("got %v, want it to name %s", err, name)
		}
	}
}

func TestLoadSandboxDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load([]string{"SANDBOX=1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RequestIDTTL != 24*time.Hour {
		t.Errorf("got REQUEST_ID_TTL %s, want 24h", cfg.RequestIDTTL)
	}
	if cfg.Addr != "127.0.0.1:8083" || cfg.Location.String() != "Asia/Shanghai" || cfg.MaxAmountFen != 1_000_000 {
		t.Errorf("got addr %q, zone %v, max %d; want 127.0.0.1:8083, Asia/Shanghai, 1000000", cfg.Addr, cfg.Location, cfg.MaxAmountFen)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	t.Parallel()
	_, err := Load([]string{"SANDBOX=1", "POST30_TIMEZONE=Mars/Olympus", "POST30_MAX_AMOUNT=1.234", "DAMAIJIA_CANCEL_PATH=cancel", "REQUEST_ID_TTL=0s"})
	for _, name := range []string{"POST30_TIMEZONE", "POST30_MAX_AMOUNT", "DAMAIJIA_CANCEL_PATH", "REQUEST_ID_TTL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("got %v, want it to name %s", err, name)
		}
	}
}
