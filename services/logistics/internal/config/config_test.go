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
	if cfg.RequestIDTTL != 24*time.Hour || cfg.ReconcileInterval != 30*time.Second {
		t.Errorf("got REQUEST_ID_TTL %s, LOGISTICS_RECONCILE_INTERVAL %s; want 24h, 30s", cfg.RequestIDTTL, cfg.ReconcileInterval)
	}
	if cfg.Addr != "127.0.0.1:8083" || cfg.Location.String() != "Asia/Shanghai" || cfg.MaxAmountFen != 1_000_000 {
		t.Errorf("got addr %q, zone %v, max %d; want 127.0.0.1:8083, Asia/Shanghai, 1000000", cfg.Addr, cfg.Location, cfg.MaxAmountFen)
	}
	if cfg.SignEncoding != "utf-8" {
		t.Errorf("got POST30_SIGN_ENCODING %q, want utf-8", cfg.SignEncoding)
	}
	if cfg.OrderPriceFen != 0 || cfg.Access.Auth.Mode != "api-key" {
		t.Errorf("got order price %d fen, AUTH_MODE %q; want 0 (free) and api-key", cfg.OrderPriceFen, cfg.Access.Auth.Mode)
	}
}

func TestLoadOrderPrice(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"3.5": 350, "17": 1700, "0.01": 1} {
		cfg, err := Load([]string{"SANDBOX=1", "DAMAIJIA_ORDER_PRICE_YUAN=" + in})
		if err != nil || cfg.OrderPriceFen != want {
			t.Errorf("DAMAIJIA_ORDER_PRICE_YUAN=%s: got %d fen, %v; want %d", in, cfg.OrderPriceFen, err, want)
		}
	}
	for _, in := range []string{"1.234", "abc", "-2", "1e3"} {
		if _, err := Load([]string{"SANDBOX=1", "DAMAIJIA_ORDER_PRICE_YUAN=" + in}); err == nil || !strings.Contains(err.Error(), "DAMAIJIA_ORDER_PRICE_YUAN") {
			t.Errorf("DAMAIJIA_ORDER_PRICE_YUAN=%q: got %v, want an error naming it", in, err)
		}
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	t.Parallel()
	_, err := Load([]string{"SANDBOX=1", "POST30_TIMEZONE=Mars/Olympus", "POST30_MAX_AMOUNT=1.234", "DAMAIJIA_CANCEL_PATH=cancel", "REQUEST_ID_TTL=0s",
		"DAMAIJIA_ORDER_PRICE_YUAN=-1", "AUTH_MODE=open", "LOGISTICS_RECONCILE_INTERVAL=0s", "POST30_SIGN_ENCODING=latin1"})
	for _, name := range []string{"POST30_TIMEZONE", "POST30_MAX_AMOUNT", "DAMAIJIA_CANCEL_PATH", "REQUEST_ID_TTL", "LOGISTICS_RECONCILE_INTERVAL", "POST30_SIGN_ENCODING", "DAMAIJIA_ORDER_PRICE_YUAN", "AUTH_MODE"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("got %v, want it to name %s", err, name)
		}
	}
}
