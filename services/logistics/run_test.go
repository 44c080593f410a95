package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30sim"
)

// sandboxKey is the development key the sandbox tests give the service
// (SANDBOX_API_KEY).
const sandboxKey = "vg_sandbox_testkey0000000000000000000000"

func TestRunRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"DAMAIJIA_APP_ID=x"}, io.Discard, nil)
	for _, name := range []string{"DAMAIJIA_BASE_URL", "DAMAIJIA_APP_SECRET", "POST30_BASE_URL", "POST30_ACCESS_KEY", "POST30_SECRET_KEY", "SANDBOX=1"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("got %v, want it to name %s", err, name)
		}
	}
}

func TestOpenAPIHasBothServices(t *testing.T) {
	t.Parallel()
	doc, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/logistics/warehouses", "/v1/logistics/billing/recharges", "/v1/logistics/billing/operations/{request_id}:resolve"} {
		if !strings.Contains(string(doc), `"`+path+`"`) {
			t.Errorf("OpenAPI document lacks %s", path)
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
			"SANDBOX_API_KEY=" + sandboxKey,
			"LOGISTICS_ADDR=127.0.0.1:0",
			"LOGISTICS_DATABASE_URL=sqlite://" + filepath.Join(t.TempDir(), "logistics.db"),
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
	callCtx, callCancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+sandboxKey), 20*time.Second)
	defer callCancel()

	ws, err := logisticsv1.NewParcelServiceClient(conn).ListWarehouses(callCtx, &logisticsv1.ListWarehousesRequest{})
	if err != nil || len(ws.GetWarehouses()) == 0 {
		t.Fatalf("ListWarehouses: got %v, %v; want the simulator's warehouses", ws, err)
	}
	bill := logisticsv1.NewBillingServiceClient(conn)
	if _, err := bill.Recharge(callCtx, &logisticsv1.RechargeRequest{RequestId: "sb-1", Phone: "+61412345678", Amount: "5"}); err != nil {
		t.Fatalf("Recharge: %v", err)
	}
	_, err = bill.Recharge(callCtx, &logisticsv1.RechargeRequest{RequestId: "sb-2", Phone: post30sim.DropPhone, Amount: "5"})
	if got := status.Code(err); got != codes.Unknown {
		t.Errorf("Recharge for the drop phone: got %v, want Unknown", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if !strings.Contains(logs.String(), "logistics keeps its state in an embedded SQLite file: run ONE process of the logistics service on it") {
		t.Errorf("the log does not say that SQLite means one process:\n%s", logs.String())
	}
	for _, secret := range []string{"app_secret", "access_token"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs mention %s", secret)
		}
	}
}
