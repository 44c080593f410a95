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
	"google.golang.org/grpc/credentials/insecure"

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
	resp, err := vehiclev1.NewVehicleServiceClient(conn).LookupHistory(callCtx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN})
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
	if !strings.Contains(logs.String(), "the store is an embedded SQLite file: run ONE process of the vehicle service on it") {
		t.Errorf("got logs %s, want the SQLite one-process warning", logs.String())
	}
}
