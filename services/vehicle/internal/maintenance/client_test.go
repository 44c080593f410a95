package maintenance_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

const (
	testID  = "AKIDtest"
	testKey = "test-secret-key"
)

// newClient returns a client signing with key, talking to a fresh simulator
// over real HTTP.
func newClient(t *testing.T, key string, opts maintenancesim.Options) (*maintenance.Client, *maintenancesim.Simulator) {
	t.Helper()
	opts.Keys = map[string]string{testID: testKey}
	sim := maintenancesim.New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: testID, SecretKey: key, Base: srv.Client().Transport}}
	c, err := maintenance.New(hc, srv.URL+"/release/", maintenance.Options{
		ReportRetry: vendorcall.RetryPolicy{InitialInterval: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, sim
}

func TestClientBuysAndFetches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		vin        string
		readyAfter time.Duration
		wantState  maintenance.State
		wantMasked string
	}{
		{"known VIN", maintenancesim.SampleVIN, 0, maintenance.StateReady, "SA******02383"},
		{"unknown VIN", "LFV2A21K6A3123456", 0, maintenance.StateNoRecords, ""},
		{"not ready yet", maintenancesim.SampleVIN, time.Hour, maintenance.StatePending, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, sim := newClient(t, testKey, maintenancesim.Options{ReadyAfter: tt.readyAfter})
			ctx := context.Background()
			o, err := c.Order(ctx, maintenance.OrderRequest{VIN: tt.vin, PlateNumber: "沪A12345"})
			if err != nil {
				t.Fatal(err)
			}
			if len(o.ID) != 32 || o.Message != "购买成功" {
				t.Errorf("got order %+v, want a 32-character id and 购买成功", o)
			}
			res, err := c.Report(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if res.State != tt.wantState {
				t.Errorf("got state %v, want %v", res.State, tt.wantState)
			}
			var masked string
			if res.Report != nil {
				masked = res.Report.MaskedVIN
			}
			if masked != tt.wantMasked {
				t.Errorf("got masked VIN %q, want %q", masked, tt.wantMasked)
			}
			if got := sim.Purchases(); got != 1 {
				t.Errorf("got %d purchases, want 1", got)
			}
		})
	}
}

func TestClientFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		key       string
		faults    map[string][]maintenancesim.Fault
		call      func(c *maintenance.Client) error
		wantKind  vendorerr.Kind
		wantCode  string
		wantCalls int
	}{
		{
			name: "missing VIN is 20704",
			key:  testKey,
			call: func(c *maintenance.Client) error {
				_, err := c.Order(context.Background(), maintenance.OrderRequest{})
				return err
			},
			wantKind: vendorerr.KindInvalidArgument, wantCode: "20704", wantCalls: 1,
		},
		{
			name: "missing order id is 20804",
			key:  testKey,
			call: func(c *maintenance.Client) error {
				_, err := c.Report(context.Background(), "")
				return err
			},
			wantKind: vendorerr.KindInvalidArgument, wantCode: "20804", wantCalls: 1,
		},
		{
			name:   "a purchase failing with -1 is not retried",
			key:    testKey,
			faults: map[string][]maintenancesim.Fault{maintenancesim.PathOrder: {{Code: "-1", Message: "服务或其它异常"}}},
			call: func(c *maintenance.Client) error {
				_, err := c.Order(context.Background(), maintenance.OrderRequest{VIN: maintenancesim.SampleVIN})
				return err
			},
			wantKind: vendorerr.KindUnavailable, wantCode: "-1", wantCalls: 1,
		},
		{
			name:   "a purchase failing with 502 is not retried",
			key:    testKey,
			faults: map[string][]maintenancesim.Fault{maintenancesim.PathOrder: {{Status: 502, Body: "<html>bad gateway</html>"}}},
			call: func(c *maintenance.Client) error {
				_, err := c.Order(context.Background(), maintenance.OrderRequest{VIN: maintenancesim.SampleVIN})
				return err
			},
			wantKind: vendorerr.KindOutcomeUnknown, wantCode: "502", wantCalls: 1,
		},
		{
			name: "a report fetch failing with -1 three times gives up",
			key:  testKey,
			faults: map[string][]maintenancesim.Fault{maintenancesim.PathReport: {
				{Code: "-1"}, {Status: 503}, {Code: "-1"},
			}},
			call: func(c *maintenance.Client) error {
				_, err := c.Report(context.Background(), "any")
				return err
			},
			wantKind: vendorerr.KindUnavailable, wantCode: "-1", wantCalls: 3,
		},
		{
			name: "wrong secret key",
			key:  "not-the-key",
			call: func(c *maintenance.Client) error {
				_, err := c.Order(context.Background(), maintenance.OrderRequest{VIN: maintenancesim.SampleVIN})
				return err
			},
			wantKind: vendorerr.KindAuth, wantCode: "403", wantCalls: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, sim := newClient(t, tt.key, maintenancesim.Options{})
			for path, faults := range tt.faults {
				for _, f := range faults {
					sim.Inject(path, f)
				}
			}
			err := tt.call(c)
			ve, ok := vendorerr.As(err)
			if !ok {
				t.Fatalf("got %v, want a *vendorerr.Error", err)
			}
			if ve.Kind != tt.wantKind || ve.Code != tt.wantCode {
				t.Errorf("got kind %v code %q, want %v %q", ve.Kind, ve.Code, tt.wantKind, tt.wantCode)
			}
			if got := sim.Calls(); got != tt.wantCalls {
				t.Errorf("got %d calls, want %d", got, tt.wantCalls)
			}
			if got := sim.Purchases(); got != 0 {
				t.Errorf("got %d purchases, want 0", got)
			}
		})
	}
}

func TestClientRetriesReportFetch(t *testing.T) {
	t.Parallel()
	c, sim := newClient(t, testKey, maintenancesim.Options{})
	ctx := context.Background()
	o, err := c.Order(ctx, maintenance.OrderRequest{VIN: maintenancesim.SampleVIN})
	if err != nil {
		t.Fatal(err)
	}
	sim.Inject(maintenancesim.PathReport, maintenancesim.Fault{Status: 502})
	sim.Inject(maintenancesim.PathReport, maintenancesim.Fault{Code: "-1", Message: "服务或其它异常"})
	res, err := c.Report(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != maintenance.StateReady {
		t.Errorf("got state %v, want READY", res.State)
	}
	if got := sim.Calls(); got != 4 {
		t.Errorf("got %d calls, want 4 (one purchase, two failed fetches, one good)", got)
	}
}

// TestPollReportSendsOnce: a poller's fetch is never retried inside the
// client, so a poll loop around it is the one retry policy.
func TestPollReportSendsOnce(t *testing.T) {
	t.Parallel()
	c, sim := newClient(t, testKey, maintenancesim.Options{})
	ctx := context.Background()
	o, err := c.Order(ctx, maintenance.OrderRequest{VIN: maintenancesim.SampleVIN})
	if err != nil {
		t.Fatal(err)
	}
	sim.Inject(maintenancesim.PathReport, maintenancesim.Fault{Status: 502})
	if _, err := c.PollReport(ctx, o.ID); !vendorerr.IsKind(err, vendorerr.KindUnavailable) {
		t.Errorf("got %v, want VENDOR_UNAVAILABLE", err)
	}
	if got := sim.Calls(); got != 2 {
		t.Errorf("got %d calls, want 2 (one purchase, one fetch)", got)
	}
}
