package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/proctest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

// TestMain lets tests run the service as child processes (proctest).
func TestMain(m *testing.M) {
	proctest.Main(m, func(ctx context.Context, environ []string, logw io.Writer, onListen func(net.Addr)) error {
		return run(ctx, environ, logw, onListen)
	})
}

const (
	vendorID  = "AKIDreplicas"
	vendorKey = "replicas-secret-key"
)

// vendor runs the maintenance-record simulator in the test process, where
// every child reaches it and its purchase count is read.
func vendor(t *testing.T, opts maintenancesim.Options) (*maintenancesim.Simulator, string) {
	t.Helper()
	opts.Keys = map[string]string{vendorID: vendorKey}
	sim := maintenancesim.New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

// childEnv is the environment of a child service on databaseURL in front
// of the simulator at vendorURL, with the AUTH_* variables of access, or
// AUTH_MODE=none without any.
func childEnv(databaseURL, vendorURL string, access ...string) []string {
	if len(access) == 0 {
		access = []string{"AUTH_MODE=none"}
	}
	return append([]string{
		"SANDBOX=false",
		"VEHICLE_ADDR=127.0.0.1:0",
		"VEHICLE_DATABASE_URL=" + databaseURL,
		"MAINTENANCE_BASE_URL=" + vendorURL,
		"MAINTENANCE_SECRET_ID=" + vendorID,
		"MAINTENANCE_SECRET_KEY=" + vendorKey,
		"VEHICLE_POLL_INTERVAL=20ms",
		"VEHICLE_POLL_MAX_INTERVAL=100ms",
		"LOG_LEVEL=debug",
	}, access...)
}

func client(t *testing.T, addr string) vehiclev1.VehicleServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return vehiclev1.NewVehicleServiceClient(conn)
}

// TestTwoReplicasBuyOneReport: two processes of the service share one
// Postgres schema; 50 concurrent lookups of one VIN split between them buy
// exactly one report, and all get it.
func TestTwoReplicasBuyOneReport(t *testing.T) {
	t.Parallel()
	// A slow purchase: both replicas are asked while it is out.
	sim, vendorURL := vendor(t, maintenancesim.Options{ReadyAfter: 300 * time.Millisecond, OrderLatency: 300 * time.Millisecond})
	env := childEnv(sqlstoretest.PostgresURL(t, "vehicle_replicas"), vendorURL)
	clients := []vehiclev1.VehicleServiceClient{
		client(t, proctest.Start(t, env, proctest.Options{}).Addr),
		client(t, proctest.Start(t, env, proctest.Options{}).Addr),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Connect both clients first, so that the lookups reach both replicas
	// together (GetHistory never buys).
	for _, c := range clients {
		if _, err := c.GetHistory(ctx, &vehiclev1.GetHistoryRequest{Vin: maintenancesim.SampleVIN}); status.Code(err) != codes.NotFound {
			t.Fatalf("warm-up: got %v, want NotFound", err)
		}
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		orders = map[string]int{}
	)
	start := make(chan struct{})
	for i := range 50 {
		wg.Go(func() {
			<-start
			resp, err := clients[i%2].LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN})
			if err != nil {
				t.Errorf("lookup %d: %v", i, err)
				return
			}
			if resp.GetState() != vehiclev1.ReportState_REPORT_STATE_READY {
				t.Errorf("lookup %d: got state %v, want READY", i, resp.GetState())
			}
			mu.Lock()
			orders[resp.GetOrderId()]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if n := sim.Purchases(); n != 1 {
		t.Errorf("got %d reports bought at the vendor, want 1", n)
	}
	if len(orders) != 1 {
		t.Errorf("got orders %v, want one order for all 50 lookups", orders)
	}
}

// TestCrashAfterPurchaseBeforeRecord: the service dies between the
// vendor's sale and the local record, once in OrderReport and once in
// LookupHistory. After a restart the request_id is UNKNOWN OUTCOME_UNKNOWN
// on every repeat and never reaches the vendor again, a lookup of the
// other VIN is held back with the same answer naming the lookup's
// request_id; both are listed for an operator, and once resolved APPLIED
// the request_id returns that order.
func TestCrashAfterPurchaseBeforeRecord(t *testing.T) {
	t.Parallel()
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return sqlstoretest.SQLiteURL(t) }},
		{"postgres", func(t *testing.T) string { return sqlstoretest.PostgresURL(t, "vehicle_crash") }},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sim, vendorURL := vendor(t, maintenancesim.Options{})
			env := childEnv(db.url(t), vendorURL)
			req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "crash-1"}

			doomed := proctest.Start(t, env, proctest.Options{CrashAt: "vehicle.purchase.after-vendor"})
			if _, err := client(t, doomed.Addr).OrderReport(ctx, req); err == nil {
				t.Fatal("got an order from a process that died buying it")
			}
			if code := doomed.Wait(20 * time.Second); code != proctest.CrashExitCode {
				t.Fatalf("got exit code %d, want %d (the crashpoint)", code, proctest.CrashExitCode)
			}
			const lookedUp = "LSVAU2180N2183294"
			doomedLookup := proctest.Start(t, env, proctest.Options{CrashAt: "vehicle.purchase.after-vendor"})
			if _, err := client(t, doomedLookup.Addr).LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: lookedUp}); err == nil {
				t.Fatal("got a report from a process that died buying it")
			}
			if code := doomedLookup.Wait(20 * time.Second); code != proctest.CrashExitCode {
				t.Fatalf("got exit code %d, want %d (the crashpoint)", code, proctest.CrashExitCode)
			}
			if n := sim.Purchases(); n != 2 {
				t.Fatalf("got %d purchases before the restart, want 2", n)
			}

			svc := client(t, proctest.Start(t, env, proctest.Options{}).Addr)
			for range 2 {
				_, err := svc.OrderReport(ctx, req)
				st := status.Convert(err)
				if info := errorInfo(st); st.Code() != codes.Unknown || info != "OUTCOME_UNKNOWN" {
					t.Errorf("repeat after the restart: got %v (%s), want Unknown OUTCOME_UNKNOWN", st, info)
				}
			}
			_, err := svc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: lookedUp})
			st := status.Convert(err)
			lookupID := errorMeta(st)["request_id"]
			if info := errorInfo(st); st.Code() != codes.Unknown || info != "OUTCOME_UNKNOWN" || !strings.HasPrefix(lookupID, "lookup-") {
				t.Errorf("lookup after the restart: got %v (%s, request_id %q), want Unknown OUTCOME_UNKNOWN naming the lookup's purchase",
					st, info, lookupID)
			}
			if n := sim.Purchases(); n != 2 {
				t.Errorf("got %d purchases after the restart, want 2", n)
			}

			list, err := svc.ListUnresolvedOperations(ctx, &vehiclev1.ListUnresolvedOperationsRequest{State: "UNKNOWN"})
			if err != nil {
				t.Fatal(err)
			}
			listed := map[string]*vehiclev1.Operation{}
			for _, op := range list.GetOperations() {
				listed[op.GetRequestId()] = op
			}
			if op := listed["crash-1"]; len(listed) != 2 || op.GetState() != vehiclev1.OperationState_OPERATION_STATE_UNKNOWN ||
				op.GetMethod() != "OrderReport" || op.GetVin() != maintenancesim.SampleVIN || op.GetNote() == "" {
				t.Fatalf("got %v, want crash-1 listed UNKNOWN with its method and a note, and the lookup's", list.GetOperations())
			}
			if op := listed[lookupID]; op.GetMethod() != "LookupHistory" || op.GetVin() != lookedUp {
				t.Errorf("got %v, want the lookup's purchase listed for %s", op, lookedUp)
			}
			sold := sim.OrdersFor(maintenancesim.SampleVIN)
			if len(sold) != 1 {
				t.Fatalf("got vendor orders %v, want 1", sold)
			}
			resolved, err := svc.ResolveOperation(ctx, &vehiclev1.ResolveOperationRequest{RequestId: "crash-1",
				Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, OrderId: sold[0], Note: "in the vendor's order list"})
			if err != nil {
				t.Fatal(err)
			}
			if op := resolved.GetOperation(); op.GetState() != vehiclev1.OperationState_OPERATION_STATE_APPLIED || op.GetOrderId() != sold[0] ||
				len(op.GetResolutions()) != 1 || op.GetResolutions()[0].GetResolvedBy() != "anonymous" || op.GetResolutions()[0].GetOrderId() != sold[0] {
				t.Errorf("got %v, want APPLIED with order %s, resolved by the caller (anonymous)", op, sold[0])
			}
			resp, err := svc.OrderReport(ctx, req)
			if err != nil || resp.GetOrderId() != sold[0] || !resp.GetReplayed() {
				t.Errorf("after the resolution: got %v, %v, want order %s replayed", resp, err, sold[0])
			}
			if n := sim.Purchases(); n != 2 {
				t.Errorf("got %d purchases in all, want 2", n)
			}
		})
	}
}

// errorMeta is a status's ErrorInfo metadata.
func errorMeta(st *status.Status) map[string]string {
	for _, d := range st.Details() {
		if info, ok := d.(interface{ GetMetadata() map[string]string }); ok {
			return info.GetMetadata()
		}
	}
	return nil
}

// errorInfo is a status's ErrorInfo reason.
func errorInfo(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(interface{ GetReason() string }); ok {
			return info.GetReason()
		}
	}
	return ""
}

// TestDailySpendCapAcrossReplicas: two processes of the service share one
// Postgres schema and one AUTH_KEYS_FILE. A caller with a ¥50 daily cap
// buys a ¥17 report on each, and the third purchase is refused on either
// (RESOURCE_EXHAUSTED DAILY_SPEND_CAP_REACHED, HTTP 429 over REST) before
// any vendor call. Another capped caller's concurrent purchases, split
// across both, buy exactly two reports.
func TestDailySpendCapAcrossReplicas(t *testing.T) {
	t.Parallel()
	seqKey, burstKey := testKey("seq", "s"), testKey("burst", "b")
	seq := caller("seq", seqKey, rpcOrderReport)
	burst := caller("burst", burstKey, rpcOrderReport)
	seq.DailySpendCapYuan, burst.DailySpendCapYuan = "50", "50"
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, keys, []auth.Caller{seq, burst})
	// Slow purchases: the concurrent ones are out at the vendor together.
	sim, vendorURL := vendor(t, maintenancesim.Options{OrderLatency: 100 * time.Millisecond})
	env := childEnv(sqlstoretest.PostgresURL(t, "vehicle_cap"), vendorURL, "AUTH_KEYS_FILE="+keys)
	replicas := []string{proctest.Start(t, env, proctest.Options{}).Addr, proctest.Start(t, env, proctest.Options{}).Addr}
	grpcFace, restFace := faces[0], faces[1]

	for i, addr := range replicas {
		if _, st, _ := grpcFace.call(t, addr, seqKey, orderReport(vinN(i), "")); st.Code() != codes.OK {
			t.Fatalf("purchase %d on replica %d: got %v, want OK", i+1, i, st.Proto())
		}
	}
	for i, addr := range replicas {
		for _, f := range faces {
			_, st, h := f.call(t, addr, seqKey, orderReport(vinN(9), ""))
			checkSpendCapRefusal(t, fmt.Sprintf("third purchase on replica %d over %s", i, f.name), st, h)
		}
	}
	if n, o := sim.Purchases(), sim.CallsTo(maintenancesim.PathOrder); n != 2 || o != 2 {
		t.Fatalf("got %d purchases in %d order calls, want 2 in 2", n, o)
	}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		outcome = map[codes.Code]int{}
	)
	start := make(chan struct{})
	for i := range 12 {
		wg.Go(func() {
			<-start
			f := grpcFace
			if i%4 == 3 {
				f = restFace
			}
			_, st, _ := f.call(t, replicas[i%2], burstKey, orderReport(vinN(100+i), ""))
			mu.Lock()
			outcome[st.Code()]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if outcome[codes.OK] != 2 || outcome[codes.ResourceExhausted] != 10 {
		t.Errorf("got outcomes %v, want 2 OK and 10 ResourceExhausted", outcome)
	}
	if n := sim.Purchases(); n != 4 {
		t.Errorf("got %d purchases in all, want 4", n)
	}
}
