package main

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/serve/resttest"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/server"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// startSandbox runs the service in sandbox mode on a loopback port and
// returns its base URL and logs.
func startSandbox(t *testing.T, extra ...string) (string, *logtest.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logtest.Buffer{}
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{
			"SANDBOX=1",
			"VEHICLE_ADDR=127.0.0.1:0",
			// The REST checks read /metrics on the API port.
			"METRICS_ADDR=api",
			"VEHICLE_DATABASE_URL=sqlite://" + filepath.Join(t.TempDir(), "vehicle.db"),
			"SANDBOX_REPORT_DELAY=20ms",
			"VEHICLE_POLL_INTERVAL=10ms",
			"LOG_LEVEL=debug",
			// The REST checks are about the gateway, not about callers
			// (auth_test.go is).
			"AUTH_MODE=none",
		}, extra...), logs, func(a net.Addr) { addr <- a })
	}()
	var a net.Addr
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("run ended before listening: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("service did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("service did not stop")
		}
	})
	return "http://" + a.String(), logs
}

func vehicleService() protoreflect.ServiceDescriptor {
	return vehiclev1.File_vendorgate_vehicle_v1_vehicle_service_proto.Services().Get(0)
}

// TestMalformedRESTRequests sends every kind of malformed request the
// gateway itself refuses and checks the status, ErrorInfo, BadRequest,
// access-log line and metric of each. The vehicle API has no enum in its
// requests, so there is no unknown-enum case here (delivery has one).
func TestMalformedRESTRequests(t *testing.T) {
	t.Parallel()
	base, logs := startSandbox(t)
	cases := append(resttest.Common("/v1/vehicle/orders", "POST", `{"vin":"LSVNV2182E2100001","plateNumber":5}`, "plate_number"),
		resttest.Case{Name: "wrong method on the lookup", Method: "PUT", Path: "/v1/vehicle/vins/" + maintenancesim.SampleVIN + "/history:lookup",
			Status: 405, Reason: "METHOD_NOT_ALLOWED", Allow: "POST", Route: "unmatched"},
	)
	resttest.Check(t, resttest.Target{Base: base, Domain: server.Domain, Logs: logs.String}, cases)
}

// TestOpenAPIMatchesTheWire checks the served document against the routes
// and real responses.
func TestOpenAPIMatchesTheWire(t *testing.T) {
	t.Parallel()
	base, _ := startSandbox(t)
	vin := maintenancesim.SampleVIN
	// A purchase whose answer is lost, for the operator RPCs to show.
	r, err := http.Post(base+"/v1/vehicle/orders", "application/json",
		strings.NewReader(`{"vin":"`+maintenancesim.LostReplyVIN+`","request_id":"drift-lost"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Body.Close()
	if r.StatusCode != http.StatusInternalServerError {
		t.Fatalf("lost purchase: got HTTP %d, want 500", r.StatusCode)
	}
	resttest.CheckOpenAPI(t, base, vehicleService(), []resttest.Call{
		{Method: "POST", Path: "/v1/vehicle/vins/" + vin + "/history:lookup"},
		{Method: "GET", Path: "/v1/vehicle/vins/" + vin + "/history"},
		{Method: "POST", Path: "/v1/vehicle/orders", Body: `{"vin":"LSVNV2182E2100001","request_id":"drift-1"}`},
		{Method: "GET", Path: "/v1/vehicle/operations?state=UNKNOWN"},
		{Method: "POST", Path: "/v1/vehicle/operations/drift-lost:resolve",
			Body: `{"outcome":"RESOLUTION_OUTCOME_APPLIED","order_id":"` + maintenancesim.LostOrderID(1) + `","note":"console"}`},
		{Method: "GET", Path: "/v1/vehicle/usage?start_time=" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) +
			"&end_time=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339)},
	})
}

// TestDocsPageInChromium loads /docs in headless Chromium; it takes the
// sandbox's API key under Authorize, and its "try it out" looks a VIN up.
func TestDocsPageInChromium(t *testing.T) {
	t.Parallel()
	const key = "vg_sandbox-dev_docspage"
	base, _ := startSandbox(t, "AUTH_MODE=api-key", "SANDBOX_API_KEY="+key)
	resttest.CheckDocsPage(t, base, vehicleService(), resttest.TryIt{
		OperationID: "VehicleService_LookupHistory",
		Params:      map[string]string{"vin": maintenancesim.SampleVIN},
		APIKey:      key,
	})
}
