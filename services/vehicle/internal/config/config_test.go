package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/envconfig"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/config"
)

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	got, err := config.Load([]string{"SANDBOX=1"})
	if err != nil {
		t.Fatal(err)
	}
	// The REST face's defaults are internal/serve's to test.
	rest, err := envconfig.Parse[serve.REST](nil)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Addr:               "127.0.0.1:8084",
		Sandbox:            true,
		Vendor:             vendorcall.Config{Timeout: 5 * time.Second, IdleTimeout: 30 * time.Second, MaxResponseBytes: 1 << 20, MaxStreamBytes: 50 << 20, BreakerFailures: 5, BreakerOpenFor: 30 * time.Second},
		DatabaseURL:        "file:vehicle.db",
		DatabaseTimeout:    5 * time.Second,
		RequestIDTTL:       24 * time.Hour,
		ReconcileInterval:  30 * time.Second,
		ReportFreshness:    30 * 24 * time.Hour,
		ReportCostYuan:     "17",
		PollInterval:       time.Second,
		PollMaxInterval:    30 * time.Second,
		LookupWait:         time.Minute,
		SandboxReportDelay: 3 * time.Second,
		ShutdownTimeout:    10 * time.Second,
		REST:               rest,
		Access:             access.Config{Auth: auth.Config{Mode: "api-key", ReloadInterval: 5 * time.Second}, UsageRetention: 400 * 24 * time.Hour},
		LogLevel:           "info",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	vendor := []string{"MAINTENANCE_BASE_URL=https://vendor.example/release", "MAINTENANCE_SECRET_ID=id", "MAINTENANCE_SECRET_KEY=key"}
	tests := []struct {
		name    string
		environ []string
		wantErr []string
	}{
		{"missing vendor settings are all named", nil,
			[]string{"MAINTENANCE_BASE_URL", "MAINTENANCE_SECRET_ID", "MAINTENANCE_SECRET_KEY", "SANDBOX=1"}},
		{"one missing", vendor[:2], []string{"MAINTENANCE_SECRET_KEY is required"}},
		{"sandbox needs nothing", []string{"SANDBOX=1"}, nil},
		{"REST settings are checked", []string{"SANDBOX=1", "REST_TRUSTED_PROXIES=10.0.0.0/8,nope"}, []string{"REST_TRUSTED_PROXIES"}},
		{"complete", vendor, nil},
		{"postgres", append([]string{"VEHICLE_DATABASE_URL=postgres://u@db:5432/vehicle"}, vendor...), nil},
		{"bad url", []string{"MAINTENANCE_BASE_URL=vendor", "MAINTENANCE_SECRET_ID=id", "MAINTENANCE_SECRET_KEY=key"}, []string{"MAINTENANCE_BASE_URL"}},
		{"malformed values are all named",
			[]string{"SANDBOX=yes please", "MAINTENANCE_TIMEOUT=soon", "VEHICLE_REPORT_COST_YUAN=cheap", "VEHICLE_REPORT_FRESHNESS=30d"},
			[]string{"SANDBOX", "MAINTENANCE_TIMEOUT", "VEHICLE_REPORT_COST_YUAN", "VEHICLE_REPORT_FRESHNESS"}},
		{"out of range", []string{"SANDBOX=1", "VEHICLE_POLL_INTERVAL=0s", "VEHICLE_REPORT_COST_YUAN=-1", "VEHICLE_LOOKUP_WAIT=-1s", "REQUEST_ID_TTL=0s", "VEHICLE_RECONCILE_INTERVAL=0s"},
			[]string{"VEHICLE_POLL_INTERVAL must be positive", "VEHICLE_REPORT_COST_YUAN", "VEHICLE_LOOKUP_WAIT", "REQUEST_ID_TTL must be positive",
				"VEHICLE_RECONCILE_INTERVAL must be positive"}},
		{"auth mode is checked", []string{"SANDBOX=1", "AUTH_MODE=open"}, []string{"AUTH_MODE"}},
		{"report cost in fen", []string{"SANDBOX=1", "VEHICLE_REPORT_COST_YUAN=17.355"}, []string{`VEHICLE_REPORT_COST_YUAN: "17.355" is not a yuan amount`}},
		{"report cost with two decimals", []string{"SANDBOX=1", "VEHICLE_REPORT_COST_YUAN=17.35"}, nil},
		{"poll cap below the first wait", []string{"SANDBOX=1", "VEHICLE_POLL_INTERVAL=5s", "VEHICLE_POLL_MAX_INTERVAL=1s"},
			[]string{"VEHICLE_POLL_MAX_INTERVAL (1s) must not be below"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(tt.environ)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			for _, name := range tt.wantErr {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("got %q, want it to name %s", err, name)
				}
			}
		})
	}
}

func TestLoadAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		environ []string
		want    string
	}{
		{nil, "127.0.0.1:8084"},
		{[]string{"VEHICLE_ADDR=0.0.0.0:9000", "MAINTENANCE_TIMEOUT=not checked here"}, "0.0.0.0:9000"},
	}
	for _, tt := range tests {
		got, err := config.LoadAddr(tt.environ)
		if err != nil || got != tt.want {
			t.Errorf("LoadAddr(%q): got %q, %v, want %q", tt.environ, got, err, tt.want)
		}
	}
}

func TestLoadNamesEveryBadVariableAtOnce(t *testing.T) {
	t.Parallel()
	_, err := config.Load([]string{
		"MAINTENANCE_TIMEOUT=fast",           // does not parse
		"VEHICLE_POLL_INTERVAL=often",        // does not parse
		"VEHICLE_REPORT_COST_YUAN=-1",        // parses, out of range
		"MAINTENANCE_BASE_URL=ftp://vendor/", // not an http(s) URL
		"MAINTENANCE_SECRET_KEY=key",         // MAINTENANCE_SECRET_ID missing
	})
	want := `config: MAINTENANCE_BASE_URL "ftp://vendor/" is not an http(s) URL; ` +
		`MAINTENANCE_SECRET_ID is required (or set SANDBOX=1 to use the simulator); ` +
		`MAINTENANCE_TIMEOUT: unable to parse duration: time: invalid duration "fast"; ` +
		`VEHICLE_POLL_INTERVAL: unable to parse duration: time: invalid duration "often"; ` +
		`VEHICLE_REPORT_COST_YUAN: "-1" is not a yuan amount such as "17" or "0.35" (at most two decimals)`
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %s", err, want)
	}
}
