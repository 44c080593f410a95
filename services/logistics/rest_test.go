package main

import (
	"path/filepath"
	"testing"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/serve/resttest"
	"github.com/vendorgate/vendorgate/services/logistics/internal/server"
)

// startSandbox runs the service in sandbox mode on a loopback port and
// returns its base URL and logs.
func startSandbox(t *testing.T) (string, *logtest.Buffer) {
	t.Helper()
	addr, logs := startRun(t, []string{
		"SANDBOX=1",
		// The gateway's own refusals and the docs page are beside
		// authentication (access_test.go covers it).
		"AUTH_MODE=none",
		"LOGISTICS_ADDR=127.0.0.1:0",
		// The REST checks read /metrics on the API port.
		"METRICS_ADDR=api",
		"LOGISTICS_DATABASE_URL=sqlite://" + filepath.Join(t.TempDir(), "logistics.db"),
		"LOG_LEVEL=debug",
	})
	return "http://" + addr, logs
}

// TestMalformedRESTRequests: the gateway's own refusals, in the one error shape.
func TestMalformedRESTRequests(t *testing.T) {
	t.Parallel()
	base, logs := startSandbox(t)
	cases := resttest.Common("/v1/logistics/billing/recharges", "POST", `{"request_id":"x","amount":5}`, "amount")
	resttest.Check(t, resttest.Target{Base: base, Domain: server.Domain, Logs: logs.String}, cases)
}

// TestDocsPageInChromium loads /docs in headless Chromium: one page lists
// the RPCs of both services, and "try it out" works for each.
func TestDocsPageInChromium(t *testing.T) {
	t.Parallel()
	// The page takes the sandbox's API key under Authorize, as a caller would.
	const key = "vg_sandbox-dev_docspage"
	addr, _ := startRun(t, []string{
		"SANDBOX=1",
		"SANDBOX_API_KEY=" + key,
		"LOGISTICS_ADDR=127.0.0.1:0",
		"LOGISTICS_DATABASE_URL=sqlite://" + filepath.Join(t.TempDir(), "logistics.db"),
	})
	base := "http://" + addr
	resttest.CheckDocsPage(t, base, logisticsv1.File_vendorgate_logistics_v1_parcel_service_proto.Services().Get(0),
		resttest.TryIt{OperationID: "ParcelService_ListWarehouses", APIKey: key})
	resttest.CheckDocsPage(t, base, logisticsv1.File_vendorgate_logistics_v1_billing_service_proto.Services().Get(0),
		resttest.TryIt{OperationID: "BillingService_ListUnresolvedOperations", Params: map[string]string{"state": "UNKNOWN"}, APIKey: key})
}
