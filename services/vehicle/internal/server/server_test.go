package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/server"
)

// unknownVIN is well-formed but has no records in the simulator.
const unknownVIN = "LFV2A21K6A3123456"

// sampleReport is the document's report sample as the service returns it,
// without the record lists and the raw JSON (checked on their own).
var sampleReport = &vehiclev1.Report{
	Brand:               "路虎",
	ModelName:           "2014款 路虎 揽胜RANGE ROVER  3.0T 手自一体 HSE (RANGE ROVER SPORT 3.0L)",
	SeriesName:          "揽胜运动版(13/06-)",
	MaskedVin:           "SA******02383",
	Manufacturer:        "进口路虎",
	MakeYear:            2014,
	Transmission:        "手自一体",
	Displacement:        "3.0T",
	EmissionStandard:    "欧五",
	ComponentRepairs:    true,
	ExteriorRepairs:     true,
	MileageNormal:       true,
	EstimatedMileage:    117369,
	YearlyMileage:       26394,
	MaintenancePerYear:  1.9,
	LastMaintenanceDate: "2016-06-23",
	LastRepairDate:      "2016-12-28",
}

// lastRecord is the last of the sample's repair records.
var lastRecord = &vehiclev1.RepairRecord{
	RepairDate:   "2016-12-28",
	MaintainTime: timestamppb.New(time.UnixMilli(1482854400000)),
	Mileage:      85142,
	Type:         "一般维修",
	Content:      "一般维修; 右前门打不开(更换右前门锁块);",
	WorkItems:    []string{"一般维修", "右前门打不开(更换右前门锁块)"},
	Parts:        []*vehiclev1.Part{{Name: "车门锁", Quantity: 1}, {Name: "螺母", Quantity: 2}, {Name: "锂电池", Quantity: 1}},
	PartsText:    "车门锁:1; 螺母:2; 锂电池:1;",
}

// ignoreVolatile leaves out what differs per run: ids, times, the record
// lists and the raw JSON.
var ignoreVolatile = []cmp.Option{
	protocmp.Transform(),
	protocmp.IgnoreFields(&vehiclev1.LookupHistoryResponse{}, "order_id", "bought_time", "ready_time"),
	protocmp.IgnoreFields(&vehiclev1.GetReportResponse{}, "order_id", "bought_time", "ready_time"),
	protocmp.IgnoreFields(&vehiclev1.OrderReportResponse{}, "order_id", "bought_time"),
	protocmp.IgnoreFields(&vehiclev1.Report{}, "repair_records", "component_records", "exterior_records", "raw_json"),
}

func TestLookupHistory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vin  string
		want *vehiclev1.LookupHistoryResponse
	}{
		{"known VIN", maintenancesim.SampleVIN, &vehiclev1.LookupHistoryResponse{
			Vin: maintenancesim.SampleVIN, State: vehiclev1.ReportState_REPORT_STATE_READY, Report: sampleReport, Purchased: true,
		}},
		{"lower case and blanks", "  " + strings.ToLower(maintenancesim.SampleVIN) + " ", &vehiclev1.LookupHistoryResponse{
			Vin: maintenancesim.SampleVIN, State: vehiclev1.ReportState_REPORT_STATE_READY, Report: sampleReport, Purchased: true,
		}},
		{"no records", unknownVIN, &vehiclev1.LookupHistoryResponse{
			Vin: unknownVIN, State: vehiclev1.ReportState_REPORT_STATE_NO_RECORDS, Purchased: true,
		}},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				svc := start(t, setup{readyAfter: 30 * time.Millisecond})
				got, st := tr.lookup(context.Background(), svc, tt.vin)
				if st != nil {
					t.Fatalf("got %v, want OK", st)
				}
				if diff := cmp.Diff(tt.want, got, ignoreVolatile...); diff != "" {
					t.Errorf("response mismatch (-want +got):\n%s", diff)
				}
				if got.GetOrderId() == "" || got.GetBoughtTime() == nil || got.GetReadyTime() == nil {
					t.Errorf("got order %q bought %v ready %v, want all set", got.GetOrderId(), got.GetBoughtTime(), got.GetReadyTime())
				}
				// The simulator makes the report ready 30 ms after the
				// purchase, so the two times cannot be swapped unseen.
				if bought, ready := got.GetBoughtTime().AsTime(), got.GetReadyTime().AsTime(); !ready.After(bought) {
					t.Errorf("got bought %v ready %v, want ready after bought", bought, ready)
				}
				if tt.want.Report != nil {
					r := got.GetReport()
					if n := [3]int{len(r.GetRepairRecords()), len(r.GetComponentRecords()), len(r.GetExteriorRecords())}; n != [3]int{11, 2, 2} {
						t.Errorf("got %v records, want [11 2 2]", n)
					} else if diff := cmp.Diff(lastRecord, r.GetRepairRecords()[10], protocmp.Transform()); diff != "" {
						t.Errorf("last record mismatch (-want +got):\n%s", diff)
					}
					if !strings.Contains(r.GetRawJson(), `"resultCode": "1205"`) {
						t.Errorf("got raw JSON %.100q, want the vendor's detail", r.GetRawJson())
					}
				}

				// The second lookup is served from the store.
				again, st := tr.lookup(context.Background(), svc, tt.vin)
				if st != nil {
					t.Fatalf("got %v, want OK", st)
				}
				if again.GetPurchased() || again.GetOrderId() != got.GetOrderId() {
					t.Errorf("got order %q purchased %v, want stored order %q", again.GetOrderId(), again.GetPurchased(), got.GetOrderId())
				}
				if n := svc.sim.Purchases(); n != 1 {
					t.Errorf("got %d purchases, want 1", n)
				}
			})
		}
	}
}

func TestOrderAndGetReport(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			// Long enough that the first GetReport sees PENDING under -race and load.
			svc := start(t, setup{readyAfter: 2 * time.Second})
			req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, PlateNumber: "沪A12345", RequestId: "req-" + tr.name}
			first, st := tr.order(ctx, svc, req)
			if st != nil {
				t.Fatalf("got %v, want OK", st)
			}
			if first.GetOrderId() == "" || first.GetBoughtTime() == nil || first.GetReplayed() {
				t.Errorf("got %v, want a fresh order", first)
			}

			// The same request id returns the same order and buys nothing.
			replay, st := tr.order(ctx, svc, req)
			if st != nil {
				t.Fatalf("got %v, want OK", st)
			}
			want := &vehiclev1.OrderReportResponse{OrderId: first.GetOrderId(), Vin: maintenancesim.SampleVIN, BoughtTime: first.GetBoughtTime(), Replayed: true}
			if diff := cmp.Diff(want, replay, protocmp.Transform()); diff != "" {
				t.Errorf("replay mismatch (-want +got):\n%s", diff)
			}

			// The report is pending at first, then ready.
			got, st := tr.get(ctx, svc, first.GetOrderId())
			if st != nil {
				t.Fatalf("got %v, want OK", st)
			}
			if got.GetState() != vehiclev1.ReportState_REPORT_STATE_PENDING || got.GetReport() != nil || got.GetReadyTime() != nil {
				t.Errorf("got %v, want PENDING without a report", got)
			}
			deadline := time.Now().Add(15 * time.Second)
			for got.GetState() == vehiclev1.ReportState_REPORT_STATE_PENDING && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				if got, st = tr.get(ctx, svc, first.GetOrderId()); st != nil {
					t.Fatalf("got %v, want OK", st)
				}
			}
			wantReport := &vehiclev1.GetReportResponse{Vin: maintenancesim.SampleVIN, State: vehiclev1.ReportState_REPORT_STATE_READY, Report: sampleReport}
			if diff := cmp.Diff(wantReport, got, ignoreVolatile...); diff != "" {
				t.Errorf("report mismatch (-want +got):\n%s", diff)
			}

			// A lookup of the VIN reuses the explicit order.
			hist, st := tr.lookup(ctx, svc, maintenancesim.SampleVIN)
			if st != nil {
				t.Fatalf("got %v, want OK", st)
			}
			if hist.GetOrderId() != first.GetOrderId() || hist.GetPurchased() {
				t.Errorf("got order %q purchased %v, want %q reused", hist.GetOrderId(), hist.GetPurchased(), first.GetOrderId())
			}
			// Without a request id every call buys.
			if _, st := tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN}); st != nil {
				t.Fatalf("got %v, want OK", st)
			}
			if n := svc.sim.Purchases(); n != 2 {
				t.Errorf("got %d purchases, want 2", n)
			}
		})
	}
}

func TestOrderReportRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		call      func(ctx context.Context, tr transport, svc *service) *status.Status
		wantCode  codes.Code
		wantField string
	}{
		{"request id reused for another VIN", func(ctx context.Context, tr transport, svc *service) *status.Status {
			if _, st := tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "r"}); st != nil {
				return st
			}
			_, st := tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: unknownVIN, RequestId: "r"})
			return st
		}, codes.InvalidArgument, "request_id"},
		{"request id reused for another engine number", func(ctx context.Context, tr transport, svc *service) *status.Status {
			if _, st := tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "r"}); st != nil {
				return st
			}
			_, st := tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, EngineNumber: "E1", RequestId: "r"})
			return st
		}, codes.InvalidArgument, "request_id"},
		{"unknown order", func(ctx context.Context, tr transport, svc *service) *status.Status {
			_, st := tr.get(ctx, svc, "0123456789abcdef")
			return st
		}, codes.NotFound, ""},
		{"empty order id", func(ctx context.Context, tr transport, svc *service) *status.Status {
			_, st := svc.grpc.GetReport(ctx, &vehiclev1.GetReportRequest{})
			return status.Convert(st)
		}, codes.InvalidArgument, "order_id"},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				svc := start(t, setup{})
				st := tt.call(context.Background(), tr, svc)
				if st.Code() != tt.wantCode {
					t.Fatalf("got %v, want %v", st, tt.wantCode)
				}
				info, bad := details(st)
				if info == nil || info.GetDomain() != server.Domain {
					t.Errorf("got ErrorInfo %v, want one in %s", info, server.Domain)
				}
				if tt.wantField != "" && (len(bad.GetFieldViolations()) != 1 || bad.GetFieldViolations()[0].GetField() != tt.wantField) {
					t.Errorf("got violations %v, want one naming %s", bad.GetFieldViolations(), tt.wantField)
				}
			})
		}
	}
}

func TestConcurrentLookupsBuyOnce(t *testing.T) {
	t.Parallel()
	svc := start(t, setup{readyAfter: 100 * time.Millisecond})
	round := func() map[string]int {
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			orders = map[string]int{}
		)
		for i := range 100 {
			wg.Go(func() {
				// Half over gRPC, half over REST, in differing spellings.
				tr := transports[i%2]
				vin := maintenancesim.SampleVIN
				if i%3 == 0 {
					vin = " " + strings.ToLower(vin)
				}
				resp, st := tr.lookup(context.Background(), svc, vin)
				if st != nil {
					t.Errorf("got %v, want OK", st)
					return
				}
				if resp.GetState() != vehiclev1.ReportState_REPORT_STATE_READY {
					t.Errorf("got state %v, want READY", resp.GetState())
				}
				mu.Lock()
				orders[resp.GetOrderId()]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return orders
	}

	first := round()
	if len(first) != 1 {
		t.Errorf("got orders %v, want one shared by all", first)
	}
	if n := svc.sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases after 100 concurrent lookups, want 1", n)
	}
	second := round()
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second round orders mismatch (-first +second):\n%s", diff)
	}
	if n := svc.sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases after a second round within the freshness, want still 1", n)
	}

	want := `
# HELP vendorgate_vehicle_report_purchases_total Maintenance-record reports bought from the vendor, by the RPC that bought them.
# TYPE vendorgate_vehicle_report_purchases_total counter
vendorgate_vehicle_report_purchases_total{rpc="LookupHistory"} 1
# HELP vendorgate_vehicle_report_spend_yuan_total Yuan spent on maintenance-record reports (purchases × VEHICLE_REPORT_COST_YUAN), by the RPC that bought them: the purchases the vendor confirmed, and those of unknown outcome an operator found sold (rpc="ResolveOperation"), as the usage ledger's settled cost counts them.
# TYPE vendorgate_vehicle_report_spend_yuan_total counter
vendorgate_vehicle_report_spend_yuan_total{rpc="LookupHistory"} 17
`
	if err := testutil.GatherAndCompare(svc.registry, strings.NewReader(want),
		"vendorgate_vehicle_report_purchases_total", "vendorgate_vehicle_report_spend_yuan_total"); err != nil {
		t.Error(err)
	}
}

// TestConcurrentOrdersWithOneRequestIDBuyOnce: 20 concurrent requests
// with one request_id buy one report; each of the others is told to retry
// (ABORTED REQUEST_ID_IN_FLIGHT) or, once the first is recorded, gets its
// order replayed.
func TestConcurrentOrdersWithOneRequestIDBuyOnce(t *testing.T) {
	t.Parallel()
	svc := start(t, setup{})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		orders   = map[string]bool{}
		fresh    int
		answered int
	)
	for i := range 20 {
		wg.Go(func() {
			resp, st := transports[i%2].order(context.Background(), svc,
				&vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "same"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case st == nil:
				orders[resp.GetOrderId()] = true
				answered++
				if !resp.GetReplayed() {
					fresh++
				}
			case st.Code() != codes.Aborted || reason(st) != "REQUEST_ID_IN_FLIGHT":
				t.Errorf("got %v (%s), want OK or Aborted REQUEST_ID_IN_FLIGHT", st, reason(st))
			}
		})
	}
	wg.Wait()
	if len(orders) != 1 || fresh != 1 {
		t.Errorf("got orders %v with %d of %d answers not replayed, want one order bought once", orders, fresh, answered)
	}
	if n := svc.sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases, want 1", n)
	}
}

func TestBadVINBuysNothing(t *testing.T) {
	t.Parallel()
	vins := []struct {
		name, vin, wantDescription string
	}{
		{"empty", "", "must have 17 characters, has 0"},
		{"too short (the document's own sample)", maintenancesim.DocVIN, "must have 17 characters, has 16"},
		{"too long", maintenancesim.SampleVIN + "1", "must have 17 characters, has 18"},
		{"I", "SALWA2FK7EA40238I", `has 'I'`},
		{"O", "SALWA2FK7EA4O2383", `has 'O'`},
		{"q lower case", "SALWA2FK7EA4q2383", `has 'Q'`},
		{"symbol", "SALWA2FK7EA4-2383", `has '-'`},
		{"inner blank", "SALWA2FK7 EA40238", `has ' '`},
		{"full-width digit", "SALWA2FK7EA40238３", `has '３'`},
		{"chinese", "沪A12345沪A12345沪AB", `has '沪'`},
		{"beyond the raw length rule", strings.Repeat("A", 65), "must be at most 64 characters"},
	}
	rpcs := []struct {
		name string
		call func(ctx context.Context, tr transport, svc *service, vin string) *status.Status
	}{
		{"LookupHistory", func(ctx context.Context, tr transport, svc *service, vin string) *status.Status {
			_, st := tr.lookup(ctx, svc, vin)
			return st
		}},
		{"OrderReport", func(ctx context.Context, tr transport, svc *service, vin string) *status.Status {
			_, st := tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: vin, RequestId: "r"})
			return st
		}},
	}
	for _, tr := range transports {
		for _, rpc := range rpcs {
			t.Run(tr.name+"/"+rpc.name, func(t *testing.T) {
				t.Parallel()
				svc := start(t, setup{})
				for _, v := range vins {
					if tr.name == "rest" && rpc.name == "LookupHistory" && v.vin == "" {
						continue // an empty path segment is no route
					}
					st := rpc.call(context.Background(), tr, svc, v.vin)
					if st.Code() != codes.InvalidArgument {
						t.Errorf("%s: got %v, want INVALID_ARGUMENT", v.name, st)
						continue
					}
					info, bad := details(st)
					want := []*errdetails.BadRequest_FieldViolation{{Field: "vin", Description: v.wantDescription}}
					if diff := cmp.Diff(want, bad.GetFieldViolations(), protocmp.Transform(),
						protocmp.IgnoreFields(&errdetails.BadRequest_FieldViolation{}, "reason", "description")); diff != "" {
						t.Errorf("%s: violations mismatch (-want +got):\n%s", v.name, diff)
					} else if !strings.Contains(bad.GetFieldViolations()[0].GetDescription(), v.wantDescription) {
						t.Errorf("%s: got %q, want it to contain %q", v.name, bad.GetFieldViolations()[0].GetDescription(), v.wantDescription)
					}
					if info.GetMetadata()["fields"] != "vin" || info.GetDomain() != server.Domain {
						t.Errorf("%s: got ErrorInfo %v, want fields=vin in %s", v.name, info, server.Domain)
					}
				}
				if n := svc.sim.Calls(); n != 0 {
					t.Errorf("got %d vendor calls, want 0", n)
				}
			})
		}
	}
}

func TestVendorCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		path          string
		faults        []maintenancesim.Fault
		rpc           string
		wantCode      codes.Code
		wantReason    string
		wantVendor    string
		wantPurchases int
	}{
		{"order 20704", maintenancesim.PathOrder, []maintenancesim.Fault{{Code: "20704", Message: "车架号不能为空"}},
			"OrderReport", codes.InvalidArgument, "VENDOR_INVALID_ARGUMENT", "20704", 0},
		{"order -1", maintenancesim.PathOrder, []maintenancesim.Fault{{Code: "-1", Message: "服务或其它异常"}},
			"OrderReport", codes.Unavailable, "VENDOR_UNAVAILABLE", "-1", 0},
		{"lookup's order -1", maintenancesim.PathOrder, []maintenancesim.Fault{{Code: "-1", Message: "服务或其它异常"}},
			"LookupHistory", codes.Unavailable, "VENDOR_UNAVAILABLE", "-1", 0},
		{"order refused", maintenancesim.PathOrder, []maintenancesim.Fault{{Code: "10010", Message: "余额不足"}},
			"OrderReport", codes.FailedPrecondition, "VENDOR_REFUSED", "10010", 0},
		{"order 502", maintenancesim.PathOrder, []maintenancesim.Fault{{Status: 502, Body: "<html>bad gateway</html>"}},
			"OrderReport", codes.Unknown, "OUTCOME_UNKNOWN", "", 0},
		{"report 20804", maintenancesim.PathReport, []maintenancesim.Fault{{Code: "20804", Message: "订单号不能为空"}},
			"GetReport", codes.InvalidArgument, "VENDOR_INVALID_ARGUMENT", "20804", 1},
		{"report -1 after retries", maintenancesim.PathReport, []maintenancesim.Fault{{Code: "-1"}, {Code: "-1"}, {Code: "-1"}},
			"GetReport", codes.Unavailable, "VENDOR_UNAVAILABLE", "-1", 1},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				svc := start(t, setup{readyAfter: time.Hour})
				var orderID string
				if tt.rpc == "GetReport" {
					resp, st := tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN})
					if st != nil {
						t.Fatal(st)
					}
					orderID = resp.GetOrderId()
				}
				for _, f := range tt.faults {
					svc.sim.Inject(tt.path, f)
				}
				var st *status.Status
				switch tt.rpc {
				case "OrderReport":
					_, st = tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "r"})
				case "LookupHistory":
					_, st = tr.lookup(ctx, svc, maintenancesim.SampleVIN)
				case "GetReport":
					_, st = tr.get(ctx, svc, orderID)
				}
				if st.Code() != tt.wantCode {
					t.Fatalf("got %v, want %v", st, tt.wantCode)
				}
				info, _ := details(st)
				if info.GetReason() != tt.wantReason || info.GetDomain() != server.Domain ||
					info.GetMetadata()["vendor"] != "maintenance" || info.GetMetadata()["vendor_code"] != tt.wantVendor {
					t.Errorf("got ErrorInfo %v, want reason %s, vendor maintenance, vendor_code %q", info, tt.wantReason, tt.wantVendor)
				}
				if n := svc.sim.Purchases(); n != tt.wantPurchases {
					t.Errorf("got %d purchases, want %d", n, tt.wantPurchases)
				}
				switch {
				case tt.wantReason == "OUTCOME_UNKNOWN":
					// No answer: the vendor may have sold it, so the request
					// id is not bought again, and says so on every repeat.
					if info.GetMetadata()["request_id"] != "r" {
						t.Errorf("got ErrorInfo %v, want metadata request_id r", info)
					}
					_, st := tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "r"})
					if st.Code() != codes.Unknown || reason(st) != "OUTCOME_UNKNOWN" {
						t.Errorf("got %v on retry, want Unknown OUTCOME_UNKNOWN", st)
					}
				case tt.rpc == "OrderReport":
					// The vendor's refusal left the request id free for a retry.
					resp, st := tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "r"})
					if st != nil || resp.GetReplayed() {
						t.Errorf("got %v, %v, want a fresh purchase on retry", resp, st)
					}
				}
			})
		}
	}
}

func TestLookupDeadline(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			svc := start(t, setup{readyAfter: time.Hour})
			var orderID string
			for i := range 2 {
				// The service answers at the deadline less a tenth: 400 ms
				// for the answer to arrive under -race on a loaded machine,
				// and both lookups end within the harness's LookupWait
				// (10 s), while the order is still in flight.
				ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
				resp, st := tr.lookup(ctx, svc, maintenancesim.SampleVIN)
				cancel()
				if st != nil {
					t.Fatalf("lookup %d: got %v, want OK", i, st)
				}
				if resp.GetState() != vehiclev1.ReportState_REPORT_STATE_PENDING || resp.GetOrderId() == "" || resp.GetReport() != nil {
					t.Errorf("lookup %d: got %v, want PENDING with an order id", i, resp)
				}
				if orderID != "" && resp.GetOrderId() != orderID {
					t.Errorf("lookup %d: got order %q, want the one in flight, %q", i, resp.GetOrderId(), orderID)
				}
				if resp.GetPurchased() != (i == 0) {
					t.Errorf("lookup %d: got purchased %v, want %v", i, resp.GetPurchased(), i == 0)
				}
				orderID = resp.GetOrderId()
			}
			if n := svc.sim.Purchases(); n != 1 {
				t.Errorf("got %d purchases, want 1", n)
			}
		})
	}
}

func TestFreshnessAndRestart(t *testing.T) {
	t.Parallel()
	dbs := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return sqlstoretest.SQLiteURL(t) }},
		{"postgres", func(t *testing.T) string { return sqlstoretest.PostgresURL(t, "vehicle_test") }},
	}
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := db.url(t)
			// The use-case's clock moves 1 ms a reading and past the
			// freshness when the test says so: a slow restart does not
			// age the stored report.
			clock := newTestClock(time.Millisecond)
			svc := start(t, setup{databaseURL: url, freshness: 2 * time.Second, reportsNow: clock.Now})
			first, err := svc.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN})
			if err != nil {
				t.Fatal(err)
			}
			// A restarted service on the same database serves the stored report.
			svc.stop()
			restarted := start(t, setup{databaseURL: url, freshness: 2 * time.Second, sim: svc.sim, reportsNow: clock.Now})
			again, err := restarted.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN})
			if err != nil {
				t.Fatal(err)
			}
			if again.GetOrderId() != first.GetOrderId() || again.GetPurchased() {
				t.Errorf("got order %q purchased %v, want stored %q", again.GetOrderId(), again.GetPurchased(), first.GetOrderId())
			}
			got, err := restarted.grpc.GetReport(ctx, &vehiclev1.GetReportRequest{OrderId: first.GetOrderId()})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first.GetReport(), got.GetReport(), protocmp.Transform()); diff != "" {
				t.Errorf("stored report mismatch (-lookup +get):\n%s", diff)
			}
			// Once the report is older than the freshness, a lookup buys again.
			clock.Advance(2100 * time.Millisecond)
			stale, err := restarted.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN})
			if err != nil {
				t.Fatal(err)
			}
			if stale.GetOrderId() == first.GetOrderId() || !stale.GetPurchased() {
				t.Errorf("got order %q purchased %v, want a new purchase", stale.GetOrderId(), stale.GetPurchased())
			}
			if n := svc.sim.Purchases(); n != 2 {
				t.Errorf("got %d purchases, want 2", n)
			}
		})
	}
}

// TestLostPurchaseAnswerNeverBuysTwice: the vendor sells a report and its
// answer is lost. Neither a retry with the request id nor a lookup of the
// VIN may buy again.
func TestLostPurchaseAnswerNeverBuysTwice(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			svc := start(t, setup{})
			svc.sim.Inject(maintenancesim.PathOrder, maintenancesim.Fault{Status: 502, Body: "bad gateway", AfterHandling: true})
			req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "lost-1"}
			if _, st := tr.order(ctx, svc, req); st.Code() != codes.Unknown {
				t.Fatalf("got %v, want Unknown", st)
			}
			if _, st := tr.order(ctx, svc, req); st.Code() != codes.Unknown || reason(st) != "OUTCOME_UNKNOWN" {
				t.Errorf("retry: got %v, want Unknown OUTCOME_UNKNOWN", st)
			}
			// A lookup of the VIN names the purchase that holds it back.
			_, st := tr.lookup(ctx, svc, maintenancesim.SampleVIN)
			if info, _ := details(st); st.Code() != codes.Unknown || info.GetReason() != "OUTCOME_UNKNOWN" ||
				info.GetMetadata()["request_id"] != "lost-1" {
				t.Errorf("lookup: got %v (%v), want Unknown OUTCOME_UNKNOWN naming request_id lost-1", st, info)
			}
			if n := svc.sim.Purchases(); n != 1 {
				t.Errorf("got %d purchases, want exactly 1", n)
			}
		})
	}
}

// TestPurchaseLostOnReusedConnectionIsSentOnce: the vendor sells a report
// and closes the reused keep-alive connection unanswered. net/http would
// replay the bodiless GET on a new connection and buy it twice; the
// purchase must reach the vendor once and stay UNKNOWN.
func TestPurchaseLostOnReusedConnectionIsSentOnce(t *testing.T) {
	t.Parallel()
	const otherVIN = "LSVAU2180N2183294"
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			svc := start(t, setup{loseReply: func(r *http.Request) bool {
				return r.URL.Path == maintenancesim.PathOrder && r.URL.Query().Get("vin") == maintenancesim.SampleVIN
			}})
			svc.sim.AddVIN(otherVIN)
			// The first purchase opens the connection the second reuses.
			if _, st := tr.order(ctx, svc, &vehiclev1.OrderReportRequest{Vin: otherVIN, RequestId: "warm-1"}); st.Code() != codes.OK {
				t.Fatalf("warm-up purchase: got %v, want OK", st)
			}
			req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "lost-reused-1"}
			_, st := tr.order(ctx, svc, req)
			if info, _ := details(st); st.Code() != codes.Unknown || info.GetReason() != "OUTCOME_UNKNOWN" {
				t.Fatalf("got %v (reason %s), want Unknown with OUTCOME_UNKNOWN", st, info.GetReason())
			}
			if n := svc.sim.Purchases(); n != 2 {
				t.Errorf("got %d purchases at the vendor, want 2 (the warm-up and the lost one, sent once)", n)
			}
			if _, st := tr.order(ctx, svc, req); st.Code() != codes.Unknown || reason(st) != "OUTCOME_UNKNOWN" {
				t.Errorf("retry: got %v, want Unknown OUTCOME_UNKNOWN (the purchase is kept as unknown)", st)
			}
			if n := svc.sim.Purchases(); n != 2 {
				t.Errorf("got %d purchases after the retry, want 2", n)
			}
		})
	}
}

// TestPlateNumberWithControlCharactersBuysNothing: a plate number with a
// NUL, a right-to-left override or over its 16 characters is refused as
// INVALID_ARGUMENT naming plate_number, over gRPC and REST, before any
// vendor call: nothing is bought.
func TestPlateNumberWithControlCharactersBuysNothing(t *testing.T) {
	t.Parallel()
	plates := map[string]string{"NUL": "ab\x00cd", "U+202E": "ab\u202ecd", "17 characters": strings.Repeat("沪", 17)}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			svc := start(t, setup{})
			for what, plate := range plates {
				_, st := tr.order(context.Background(), svc, &vehiclev1.OrderReportRequest{
					Vin: maintenancesim.SampleVIN, PlateNumber: plate, RequestId: "plate-" + tr.name})
				if st.Code() != codes.InvalidArgument {
					t.Errorf("%s: got %v, want INVALID_ARGUMENT", what, st)
					continue
				}
				if _, bad := details(st); len(bad.GetFieldViolations()) != 1 || bad.GetFieldViolations()[0].GetField() != "plate_number" {
					t.Errorf("%s: got violations %v, want plate_number", what, bad.GetFieldViolations())
				}
			}
			if n := svc.sim.Calls(); n != 0 {
				t.Errorf("got %d vendor calls, want 0: nothing may be bought", n)
			}
		})
	}
}
