package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/logging/logtest"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

func TestRunRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"MAINTENANCE_SECRET_ID=id"}, io.Discard, nil)
	for _, name := range []string{"MAINTENANCE_BASE_URL", "MAINTENANCE_SECRET_KEY", "SANDBOX=1"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("got %v, want it to name %s", err, name)
		}
	}
}

// sandboxKey is the development key of the sandbox tests (SANDBOX_API_KEY).
const sandboxKey = "vg_sandbox_testkey"

func TestRunSandbox(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var logs logtest.Buffer
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"SANDBOX=1",
			"VEHICLE_ADDR=127.0.0.1:0",
			"VEHICLE_DATABASE_URL=sqlite://" + filepath.Join(t.TempDir(), "vehicle.db"),
			"SANDBOX_REPORT_DELAY=20ms",
			"VEHICLE_POLL_INTERVAL=10ms",
			"SANDBOX_API_KEY=" + sandboxKey,
		}, &logs, func(a net.Addr) { addr <- a })
	}()
	var a net.Addr
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("run ended before listening: %v", err)
	}

	conn, err := grpc.NewClient(a.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
	defer callCancel()
	svc := vehiclev1.NewVehicleServiceClient(conn)
	if _, err := svc.LookupHistory(callCtx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without the sandbox key: got %v, want Unauthenticated", err)
	}
	callCtx = metadata.AppendToOutgoingContext(callCtx, "authorization", "Bearer "+sandboxKey)
	resp, err := svc.LookupHistory(callCtx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetState() != vehiclev1.ReportState_REPORT_STATE_READY || resp.GetReport().GetBrand() != "路虎" {
		t.Errorf("got %v, want the sample report", resp)
	}

	r, err := http.Get("http://" + a.String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("got /readyz %d, want 200", r.StatusCode)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if !strings.Contains(logs.String(), "SANDBOX: using the in-process maintenance simulator; no real vendor is called") {
		t.Errorf("got logs %s, want the sandbox warning", logs.String())
	}
	if !strings.Contains(logs.String(), "vehicle keeps its state in an embedded SQLite file: run ONE process of the vehicle service on it") {
		t.Errorf("got logs %s, want the SQLite one-process warning", logs.String())
	}
	if !strings.Contains(logs.String(), "export VENDORGATE_KEY="+sandboxKey) {
		t.Errorf("got logs %s, want the sandbox key printed", logs.String())
	}
}
