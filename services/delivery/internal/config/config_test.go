package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		wantErr []string
	}{
		{"missing credentials are all named", nil,
			[]string{"DINGDANG_BASE_URL", "DINGDANG_SECRET_ID", "DINGDANG_SECRET_KEY"}},
		{"sandbox needs nothing", []string{"SANDBOX=1"}, nil},
		{"complete", []string{"DINGDANG_BASE_URL=https://vendor.example/release", "DINGDANG_SECRET_ID=id", "DINGDANG_SECRET_KEY=key"}, nil},
		{"bad url", []string{"DINGDANG_BASE_URL=vendor", "DINGDANG_SECRET_ID=id", "DINGDANG_SECRET_KEY=key"}, []string{"DINGDANG_BASE_URL"}},
		{"bad duration", []string{"SANDBOX=1", "DINGDANG_TIMEOUT=soon"}, []string{"DINGDANG_TIMEOUT"}},
		{"public URL without a listener", []string{"SANDBOX=1", "DELIVERY_CALLBACK_PUBLIC_URL=https://hooks.example.com"}, []string{"DELIVERY_CALLBACK_ADDR"}},
		{"public URL not http", []string{"SANDBOX=1", "DELIVERY_CALLBACK_ADDR=:9091", "DELIVERY_CALLBACK_PUBLIC_URL=hooks.example.com"}, []string{"DELIVERY_CALLBACK_PUBLIC_URL"}},
		{"callback limits", []string{"SANDBOX=1", "DELIVERY_CALLBACK_MAX_BYTES=0", "DELIVERY_CALLBACK_RATE=0", "DELIVERY_WATCH_POLL_INTERVAL=0s", "REQUEST_ID_TTL=-1h"},
			[]string{"DELIVERY_CALLBACK_MAX_BYTES", "DELIVERY_CALLBACK_RATE", "DELIVERY_WATCH_POLL_INTERVAL", "REQUEST_ID_TTL"}},
		{"negative dispatch price", []string{"SANDBOX=1", "DINGDANG_DISPATCH_PRICE_YUAN=-1"}, []string{"DINGDANG_DISPATCH_PRICE_YUAN"}},
		{"dispatch price not a yuan amount", []string{"SANDBOX=1", "DINGDANG_DISPATCH_PRICE_YUAN=6.505"}, []string{"DINGDANG_DISPATCH_PRICE_YUAN"}},
		{"dispatch price", []string{"SANDBOX=1", "DINGDANG_DISPATCH_PRICE_YUAN=6.50"}, nil},
		{"auth mode", []string{"SANDBOX=1", "AUTH_MODE=open"}, []string{"AUTH_MODE"}},
		{"usage retention", []string{"SANDBOX=1", "USAGE_RETENTION=0s"}, []string{"USAGE_RETENTION"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(tt.environ)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				if cfg.Vendor.Timeout != 5*time.Second || cfg.Addr != "127.0.0.1:8081" {
					t.Errorf("got defaults %+v", cfg)
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

func TestLoadAddrNeedsNoCredentials(t *testing.T) {
	t.Parallel()
	for environ, want := range map[string]string{"": "127.0.0.1:8081", "DELIVERY_ADDR=0.0.0.0:9000": "0.0.0.0:9000"} {
		got, err := LoadAddr([]string{environ})
		if err != nil || got != want {
			t.Errorf("LoadAddr(%q): got %q, %v, want %q", environ, got, err, want)
		}
	}
}

func TestLoadNamesEveryBadVariableAtOnce(t *testing.T) {
	t.Parallel()
	_, err := Load([]string{
		"DINGDANG_TIMEOUT=fast",                // does not parse
		"DINGDANG_MAX_RESPONSE_BYTES=a lot",    // does not parse
		"DINGDANG_BASE_URL=vendor.example/api", // not an http(s) URL
		"DINGDANG_SECRET_ID=id",                // DINGDANG_SECRET_KEY missing
	})
	want := `config: DINGDANG_BASE_URL "vendor.example/api" is not an http(s) URL; ` +
		`DINGDANG_MAX_RESPONSE_BYTES: strconv.ParseInt: parsing "a lot": invalid syntax; ` +
		`DINGDANG_SECRET_KEY is required (or set SANDBOX=1 to use the simulator); ` +
		`DINGDANG_TIMEOUT: unable to parse duration: time: invalid duration "fast"`
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %s", err, want)
	}
}

func TestDispatchPriceFen(t *testing.T) {
	t.Parallel()
	for environ, want := range map[string]int64{"": 0, "DINGDANG_DISPATCH_PRICE_YUAN=6.5": 650, "DINGDANG_DISPATCH_PRICE_YUAN=12": 1200} {
		cfg, err := Load([]string{"SANDBOX=1", environ})
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.DispatchPriceFen(); got != want {
			t.Errorf("%q: got %d fen, want %d", environ, got, want)
		}
	}
}
