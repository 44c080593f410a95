package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/serve/resttest"
	"github.com/vendorgate/vendorgate/services/logistics/internal/server"
)

// startSandbox runs the service in sandbox mode on a loopback port and
// returns its base URL and logs.
func startSandbox(t *testing.T) (string, *logtest.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logtest.Buffer{}
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"SANDBOX=1",
			// The gateway's own refusals and the docs page are beside
			// authentication (access_test.go covers it).
			"AUTH_MODE=none",
			"LOGISTICS_ADDR=127.0.0.1:0",
			"LOGISTICS_DATABASE_URL=sqlite://" + filepath.Join(t.TempDir(), "logistics.db"),
			"LOG_LEVEL=debug",
		}, logs, func(a net.Addr) { addr <- a })
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
	base, _ := startSandbox(t)
	resttest.CheckDocsPage(t, base, logisticsv1.File_vendorgate_logistics_v1_parcel_service_proto.Services().Get(0),
		resttest.TryIt{OperationID: "ParcelService_ListWarehouses"})
	resttest.CheckDocsPage(t, base, logisticsv1.File_vendorgate_logistics_v1_billing_service_proto.Services().Get(0),
		resttest.TryIt{OperationID: "BillingService_ListUnresolvedOperations", Params: map[string]string{"state": "UNKNOWN"}})
}
