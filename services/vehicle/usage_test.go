package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/admin"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/money"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

// usageLine is what the ledger says of one caller's calls to one endpoint.
type usageLine struct {
	Calls, Failures, CostFen int64
}

// usageKey names a usageLine.
type usageKey struct{ Caller, Vendor, Endpoint string }

// sumRows adds up rows by caller and endpoint (over days: a run across a
// China midnight has two rows for one endpoint).
func sumRows(t *testing.T, rows []*usagev1.UsageRow) map[usageKey]usageLine {
	t.Helper()
	out := map[usageKey]usageLine{}
	for _, r := range rows {
		fen, err := money.ParseYuan(r.GetCostYuan())
		if err != nil {
			t.Fatalf("row %v: %v", r, err)
		}
		k := usageKey{r.GetCaller(), r.GetVendor(), r.GetEndpoint()}
		l := out[k]
		l.Calls += r.GetCalls()
		l.Failures += r.GetFailures()
		l.CostFen += fen
		out[k] = l
	}
	return out
}

// TestUsageMatchesTheVendor: after a mixed run of RPCs over gRPC and REST,
// some failing at the vendor and some before it, GetUsage over gRPC and
// REST and `vendorgate-admin usage` show per-endpoint call counts and a
// cost that match the simulator's own counts exactly.
func TestUsageMatchesTheVendor(t *testing.T) {
	t.Parallel()
	buyerKey, readerKey := testKey("buyer", "b"), testKey("reader", "r")
	addr, sim, _ := startWithKeys(t, maintenancesim.Options{ReadyAfter: 150 * time.Millisecond}, []auth.Caller{
		caller("buyer", buyerKey, rpcAll, rpcOrderReport, rpcLookupHistory),
		caller("reader", readerKey, rpcGetHistory),
	})
	grpcFace, restFace := faces[0], faces[1]
	mustCode := func(what string, want codes.Code, f face, key string, r rpc) any {
		t.Helper()
		resp, st, _ := f.call(t, addr, key, r)
		if st.Code() != want {
			t.Fatalf("%s: got %v, want %v", what, st.Proto(), want)
		}
		return resp
	}

	o1 := mustCode("order over gRPC", codes.OK, grpcFace, buyerKey, orderReport(vinN(1), "")).(*vehiclev1.OrderReportResponse)
	o2 := mustCode("order over REST", codes.OK, restFace, buyerKey, orderReport(vinN(2), "")).(*vehiclev1.OrderReportResponse)
	sim.Inject(maintenancesim.PathOrder, maintenancesim.Fault{Code: "10010", Message: "余额不足"})
	mustCode("order the vendor refuses", codes.FailedPrecondition, grpcFace, buyerKey, orderReport(vinN(3), ""))
	mustCode("lookup that buys and polls", codes.OK, restFace, buyerKey, lookupHistory(maintenancesim.SampleVIN))
	mustCode("report fetch", codes.OK, grpcFace, buyerKey, getReport(o1.GetOrderId()))
	sim.Inject(maintenancesim.PathReport, maintenancesim.Fault{Code: "20804", Message: "订单号不能为空"})
	mustCode("report fetch the vendor refuses", codes.InvalidArgument, restFace, buyerKey, getReport(o2.GetOrderId()))
	for range 3 {
		sim.Inject(maintenancesim.PathReport, maintenancesim.Fault{Code: "-1", Message: "服务或其它异常"})
	}
	mustCode("report fetch failing after retries", codes.Unavailable, grpcFace, buyerKey, getReport(o2.GetOrderId()))
	// No vendor call: refused by the guard, by validation, or served stored.
	mustCode("denied", codes.PermissionDenied, restFace, readerKey, listOperations())
	mustCode("invalid VIN", codes.InvalidArgument, grpcFace, buyerKey, orderReport("not-a-vin", ""))
	mustCode("stored report", codes.OK, grpcFace, readerKey, getHistory(maintenancesim.SampleVIN))

	const priceFen = 1700
	orders, reports := int64(sim.CallsTo(maintenancesim.PathOrder)), int64(sim.CallsTo(maintenancesim.PathReport))
	if orders != 4 || reports < 5 || sim.Purchases() != 3 {
		t.Fatalf("got %d order calls, %d report calls and %d purchases at the vendor, want 4, at least 5 and 3",
			orders, reports, sim.Purchases())
	}
	want := map[usageKey]usageLine{
		{"buyer", "maintenance", maintenancesim.PathOrder}:  {Calls: orders, Failures: 1, CostFen: int64(sim.Purchases()) * priceFen},
		{"buyer", "maintenance", maintenancesim.PathReport}: {Calls: reports, Failures: 4},
	}
	wantTotal := money.Yuan(int64(sim.Purchases()) * priceFen)

	// The ledger writes about once a second: wait until it has every call.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	tomorrow := today.Add(24 * time.Hour)
	var report *usagev1.UsageReport
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp := mustCode("GetUsage over gRPC", codes.OK, grpcFace, buyerKey, getUsage(today, tomorrow)).(*vehiclev1.GetUsageResponse)
		report = resp.GetReport()
		if report.GetTotalCalls() >= orders+reports {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetUsage still counts %d calls after 15 s, want %d", report.GetTotalCalls(), orders+reports)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if diff := cmp.Diff(want, sumRows(t, report.GetRows())); diff != "" {
		t.Errorf("GetUsage over gRPC against the vendor's counts (-want +got):\n%s", diff)
	}
	if report.GetTotalCalls() != orders+reports || report.GetTotalCostYuan() != wantTotal || report.GetService() != "vehicle" {
		t.Errorf("got service %q, %d calls costing ¥%s, want vehicle, %d costing ¥%s",
			report.GetService(), report.GetTotalCalls(), report.GetTotalCostYuan(), orders+reports, wantTotal)
	}

	rest := mustCode("GetUsage over REST", codes.OK, restFace, buyerKey, getUsage(today, tomorrow)).(*vehiclev1.GetUsageResponse)
	if diff := cmp.Diff(report, rest.GetReport(), protocmp.Transform()); diff != "" {
		t.Errorf("GetUsage over REST differs from gRPC (-grpc +rest):\n%s", diff)
	}

	var out bytes.Buffer
	err := admin.Run(context.Background(), []string{"usage", "-services", "vehicle=http://" + addr, "-key", buyerKey,
		"-format", "csv", "-start", today.Format(time.DateOnly), "-end", tomorrow.Format(time.DateOnly)},
		&out, func(string) string { return "" })
	if err != nil {
		t.Fatalf("vendorgate-admin usage: %v", err)
	}
	records, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatalf("vendorgate-admin usage: %v in %s", err, out.String())
	}
	if len(records) == 0 || cmp.Diff([]string{"day", "service", "caller", "vendor", "endpoint", "calls", "failures", "cost_yuan", "unknown_calls", "unknown_cost_yuan"}, records[0]) != "" {
		t.Fatalf("got CSV %q, want a header first", records)
	}
	var rows []*usagev1.UsageRow
	for _, rec := range records[1:] {
		calls, err1 := strconv.ParseInt(rec[5], 10, 64)
		failures, err2 := strconv.ParseInt(rec[6], 10, 64)
		if err1 != nil || err2 != nil || rec[1] != "vehicle" {
			t.Fatalf("got CSV line %q, want vehicle's counts", rec)
		}
		rows = append(rows, &usagev1.UsageRow{Day: rec[0], Caller: rec[2], Vendor: rec[3], Endpoint: rec[4],
			Calls: calls, Failures: failures, CostYuan: rec[7]})
	}
	if diff := cmp.Diff(want, sumRows(t, rows)); diff != "" {
		t.Errorf("vendorgate-admin usage against the vendor's counts (-want +got):\n%s", diff)
	}
}

// TestResolutionSettlesTheLedger: a purchase whose answer was lost is
// booked in the ledger as unknown at its price; the operator's resolution
// reaches the ledger (the engine's OnResolve), which then counts it as
// paid: GetUsage agrees with what the vendor sold.
func TestResolutionSettlesTheLedger(t *testing.T) {
	t.Parallel()
	key := testKey("operator", "o")
	addr, sim, _ := startWithKeys(t, maintenancesim.Options{}, []auth.Caller{
		caller("operator", key, rpcAll, rpcOrderReport, "vendorgate.vehicle.v1.VehicleService/ResolveOperation"),
	})
	grpcFace := faces[0]
	if _, st, _ := grpcFace.call(t, addr, key, orderReport(maintenancesim.LostReplyVIN, "lost-1")); st.Code() != codes.Unknown {
		t.Fatalf("lost reply: got %v, want Unknown", st.Proto())
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	usage := func(wantCost, wantUnknown string) {
		t.Helper()
		var r *usagev1.UsageReport
		for deadline := time.Now().Add(15 * time.Second); ; {
			resp, st, _ := grpcFace.call(t, addr, key, getUsage(today, today.Add(24*time.Hour)))
			if st.Code() != codes.OK {
				t.Fatalf("GetUsage: %v", st.Proto())
			}
			r = resp.(*vehiclev1.GetUsageResponse).GetReport()
			if r.GetTotalCostYuan() == wantCost && r.GetTotalUnknownCostYuan() == wantUnknown || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if r.GetTotalCostYuan() != wantCost || r.GetTotalUnknownCostYuan() != wantUnknown {
			t.Errorf("got cost ¥%s, ¥%s of it unknown, want ¥%s and ¥%s", r.GetTotalCostYuan(), r.GetTotalUnknownCostYuan(), wantCost, wantUnknown)
		}
	}
	usage("17.00", "17.00")
	resolve := rpc{
		grpc: func(ctx context.Context, c vehiclev1.VehicleServiceClient) (proto.Message, error) {
			return c.ResolveOperation(ctx, &vehiclev1.ResolveOperationRequest{RequestId: "lost-1",
				Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, OrderId: maintenancesim.LostOrderID(1), Note: "console"})
		},
	}
	resp, st, _ := grpcFace.call(t, addr, key, resolve)
	if st.Code() != codes.OK {
		t.Fatalf("resolve: %v", st.Proto())
	}
	if by := resp.(*vehiclev1.ResolveOperationResponse).GetOperation().GetResolutions()[0].GetResolvedBy(); by != "operator" {
		t.Errorf("got resolved_by %q, want the caller's name, operator", by)
	}
	usage("17.00", "0.00")
	if n := sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases, want 1", n)
	}
}
