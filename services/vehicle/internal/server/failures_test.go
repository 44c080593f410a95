package server_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/money"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
)

// TestNotSentPurchaseLeavesRequestIDFree: while the vendor refuses
// connections the purchase is never sent (UNAVAILABLE, then the open
// breaker's refusal); each attempt frees its request_id and releases its
// spend booking. Once the vendor is back and the breaker lets a call
// through, the same request_id buys, once.
func TestNotSentPurchaseLeavesRequestIDFree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	down := &atomic.Bool{}
	down.Store(true)
	ledger := &fakeLedger{}
	// The breaker's window is wide enough for the calls made while it is
	// open on a loaded machine; the test then waits out only what is left
	// of it (gobreaker reads the wall clock).
	const openFor = 2 * time.Second
	svc := start(t, setup{down: down, ledger: ledger,
		call: vendorcall.Config{BreakerFailures: 2, BreakerOpenFor: openFor}})
	req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "breaker-1"}
	var reasons []string
	var opened time.Time // after the breaker opened
	for i := range 4 {
		_, err := svc.grpc.OrderReport(ctx, req)
		if i == 1 {
			opened = time.Now()
		}
		st := status.Convert(err)
		if st.Code() != codes.Unavailable {
			t.Fatalf("vendor down: got %v, want Unavailable", st)
		}
		reasons = append(reasons, reason(st))
	}
	if reasons[0] != "VENDOR_UNAVAILABLE" || reasons[3] != "VENDOR_CIRCUIT_OPEN" {
		t.Errorf("got reasons %v, want VENDOR_UNAVAILABLE first and VENDOR_CIRCUIT_OPEN once the breaker opened", reasons)
	}
	if booked, released := ledger.counts(); booked != 4 || released != 4 {
		t.Errorf("got %d bookings and %d released, want every one of the 4 released", booked, released)
	}
	if ops, err := svc.grpc.ListUnresolvedOperations(ctx, &vehiclev1.ListUnresolvedOperationsRequest{}); err != nil || len(ops.GetOperations()) != 0 {
		t.Errorf("got %v, %v, want nothing unresolved", ops, err)
	}

	down.Store(false)
	time.Sleep(time.Until(opened.Add(openFor + 10*time.Millisecond))) // the breaker lets a probe through
	first, err := svc.grpc.OrderReport(ctx, req)
	if err != nil || first.GetReplayed() {
		t.Fatalf("vendor back: got %v, %v, want a fresh purchase under the same request_id", first, err)
	}
	again, err := svc.grpc.OrderReport(ctx, req)
	if err != nil || !again.GetReplayed() || again.GetOrderId() != first.GetOrderId() {
		t.Errorf("repeat: got %v, %v, want order %s replayed", again, err, first.GetOrderId())
	}
	if n := svc.sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases, want 1", n)
	}
	if booked, released := ledger.counts(); booked != 5 || released != 4 {
		t.Errorf("got %d bookings and %d released, want the purchase's booking kept", booked, released)
	}
}

// failingStore fails Bought once, as a store that went away between the
// vendor's sale and the local record.
type failingStore struct {
	reports.Store
	failed atomic.Bool
}

func (s *failingStore) Bought(ctx context.Context, id, orderID string, at time.Time) error {
	if s.failed.CompareAndSwap(false, true) {
		return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return s.Store.Bought(ctx, id, orderID, at)
}

// TestStoreFailureAfterSaleIsUnknown: the vendor sold the report and the
// store failed to record it. The caller is told UNKNOWN OUTCOME_UNKNOWN
// (never INTERNAL), so is every repeat; the purchase is listed with the
// vendor's order id in its note. Once the store takes the sale, the
// reconciler resolves the purchase APPLIED from it, and the request_id
// returns that order. Nothing is bought twice.
func TestStoreFailureAfterSaleIsUnknown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The store is back when the test says so: the use-case's first wait
	// before it records the sale again lasts until then, however slowly
	// the checks below run (its later waits are real ones).
	back := make(chan struct{})
	storeBack := sync.OnceFunc(func() { close(back) })
	t.Cleanup(storeBack)
	var waited atomic.Bool
	svc := start(t, setup{
		wrapStore: func(st reports.Store) reports.Store { return &failingStore{Store: st} },
		recordSleep: func(d time.Duration) {
			if waited.CompareAndSwap(false, true) {
				<-back
				return
			}
			time.Sleep(d)
		},
	})
	req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "store-down-1"}
	wantUnknown := func(what string) {
		t.Helper()
		_, err := svc.grpc.OrderReport(ctx, req)
		st := status.Convert(err)
		if info, _ := details(st); st.Code() != codes.Unknown || info.GetReason() != "OUTCOME_UNKNOWN" ||
			info.GetMetadata()["request_id"] != "store-down-1" {
			t.Fatalf("%s: got %v (%v), want Unknown OUTCOME_UNKNOWN naming store-down-1", what, st, info)
		}
	}
	wantUnknown("the purchase")
	sold := svc.sim.OrdersFor(maintenancesim.SampleVIN)
	if len(sold) != 1 {
		t.Fatalf("got vendor orders %v, want 1", sold)
	}
	list, err := svc.grpc.ListUnresolvedOperations(ctx, &vehiclev1.ListUnresolvedOperationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ops := list.GetOperations(); len(ops) != 1 || ops[0].GetRequestId() != "store-down-1" || ops[0].GetMethod() != "OrderReport" ||
		!strings.Contains(ops[0].GetNote(), sold[0]) || ops[0].GetVin() != maintenancesim.SampleVIN {
		t.Fatalf("got %v, want store-down-1 listed with the vendor's order %s in its note", ops, sold[0])
	}
	wantUnknown("a repeat")
	// A lookup of the VIN does not buy it again either.
	if _, err := svc.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN}); status.Code(err) != codes.Unknown {
		t.Errorf("lookup: got %v, want Unknown", err)
	}
	storeBack()
	reconciler := svc.requests.NewReconciler(svc.reports.Checkers())
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, err := reconciler.Once(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reconciler never resolved the sale recorded once the store was back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := svc.grpc.OrderReport(ctx, req)
	if err != nil || resp.GetOrderId() != sold[0] || !resp.GetReplayed() {
		t.Errorf("after the resolution: got %v, %v, want order %s replayed", resp, err, sold[0])
	}
	if n := svc.sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases, want 1", n)
	}
}

// TestReconcilerResolvesARecordedSale: a purchase whose outcome the engine
// holds as unknown while the service's own record has its order (the
// answer was recorded, its outcome was not) is resolved APPLIED by the
// reconciler, by "reconciler"; one without a record of its order waits
// for an operator.
func TestReconcilerResolvesARecordedSale(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := start(t, setup{})
	const otherVIN = "LSVAU2180N2183294"
	for _, id := range []string{"recorded-1", "lost-1"} {
		vin := maintenancesim.SampleVIN
		if id == "lost-1" {
			vin = otherVIN
		}
		lose(svc)
		if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: vin, RequestId: id}); status.Code(err) != codes.Unknown {
			t.Fatalf("%s: got %v, want Unknown", id, err)
		}
	}
	sold := svc.sim.OrdersFor(maintenancesim.SampleVIN)
	if err := svc.store.Settle(ctx, "recorded-1", reports.OutcomeApplied, sold[0]); err != nil {
		t.Fatal(err)
	}
	n, err := svc.requests.NewReconciler(svc.reports.Checkers()).Once(ctx)
	if err != nil || n != 1 {
		t.Fatalf("reconciler: got %d resolved, %v, want 1", n, err)
	}
	resp, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "recorded-1"})
	if err != nil || resp.GetOrderId() != sold[0] || !resp.GetReplayed() {
		t.Errorf("after the reconciler: got %v, %v, want order %s replayed", resp, err, sold[0])
	}
	list, err := svc.grpc.ListUnresolvedOperations(ctx, &vehiclev1.ListUnresolvedOperationsRequest{})
	if err != nil || len(list.GetOperations()) != 1 || list.GetOperations()[0].GetRequestId() != "lost-1" {
		t.Fatalf("got %v, %v, want lost-1 left for an operator", list, err)
	}
	op, err := svc.grpc.ResolveOperation(ctx, &vehiclev1.ResolveOperationRequest{RequestId: "recorded-1",
		Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED, Note: "late"})
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || reason(st) != "OPERATION_OUTCOME_KNOWN" {
		t.Errorf("resolving it again: got %v, %v, want FailedPrecondition OPERATION_OUTCOME_KNOWN", op, st)
	}
}

// resolvingLedger is a fakeLedger that learns the resolutions.
type resolvingLedger struct {
	fakeLedger
	mu       sync.Mutex
	resolved map[string]bool
}

func (l *resolvingLedger) Resolve(_ context.Context, requestID string, applied bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.resolved == nil {
		l.resolved = map[string]bool{}
	}
	l.resolved[requestID] = applied
	return nil
}

// TestSpendMetricInFen: the spend metric sums whole fen, so three ¥17.01
// reports read 51.03 exactly; a purchase of unknown outcome counts once an
// operator finds it sold (rpc="ResolveOperation"), never when found not
// sold, and the ledger learns both resolutions (OnResolve), as its cost
// does.
func TestSpendMetricInFen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ledger := &resolvingLedger{}
	svc := start(t, setup{costFen: 1701, ledger: ledger})
	const otherVIN = "LSVAU2180N2183294"
	for range 3 {
		if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"sold-1", "unsold-1"} {
		lose(svc)
		if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: otherVIN, RequestId: id}); status.Code(err) != codes.Unknown {
			t.Fatalf("%s: got %v, want Unknown", id, err)
		}
	}
	if _, err := svc.grpc.ResolveOperation(ctx, &vehiclev1.ResolveOperationRequest{RequestId: "sold-1",
		Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, OrderId: svc.sim.OrdersFor(otherVIN)[0], Note: "console"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.grpc.ResolveOperation(ctx, &vehiclev1.ResolveOperationRequest{RequestId: "unsold-1",
		Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED, Note: "console"}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP vendorgate_vehicle_report_spend_yuan_total Yuan spent on maintenance-record reports (purchases × VEHICLE_REPORT_COST_YUAN), by the RPC that bought them: the purchases the vendor confirmed, and those of unknown outcome an operator found sold (rpc="ResolveOperation"), as the usage ledger's settled cost counts them.
# TYPE vendorgate_vehicle_report_spend_yuan_total counter
vendorgate_vehicle_report_spend_yuan_total{rpc="OrderReport"} 51.03
vendorgate_vehicle_report_spend_yuan_total{rpc="ResolveOperation"} 17.01
# HELP vendorgate_vehicle_purchase_resolutions_total Report purchases of unknown outcome an operator resolved (ResolveOperation), by outcome: APPLIED (sold) or NOT_APPLIED.
# TYPE vendorgate_vehicle_purchase_resolutions_total counter
vendorgate_vehicle_purchase_resolutions_total{outcome="APPLIED"} 1
vendorgate_vehicle_purchase_resolutions_total{outcome="NOT_APPLIED"} 1
`
	if err := testutil.GatherAndCompare(svc.registry, strings.NewReader(want),
		"vendorgate_vehicle_report_spend_yuan_total", "vendorgate_vehicle_purchase_resolutions_total"); err != nil {
		t.Error(err)
	}
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	if len(ledger.resolved) != 2 || !ledger.resolved["sold-1"] || ledger.resolved["unsold-1"] {
		t.Errorf("got ledger resolutions %v, want sold-1 applied and unsold-1 not", ledger.resolved)
	}
	for _, fen := range ledger.booked {
		if fen != 1701 {
			t.Errorf("got a booking of %d fen, want 1701", fen)
		}
	}
}

// spendFen sums the spend metric over its RPCs, in fen.
func spendFen(t *testing.T, svc *service) int64 {
	t.Helper()
	mfs, err := svc.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var fen int64
	for _, mf := range mfs {
		if mf.GetName() == "vendorgate_vehicle_report_spend_yuan_total" {
			for _, m := range mf.GetMetric() {
				fen += int64(math.Round(m.GetCounter().GetValue() * 100))
			}
		}
	}
	return fen
}

// TestSpendMetricAgreesWithLedger replays the hostile trial's run against
// the real usage ledger: three purchases answered, two whose answer was
// lost (both sold), one of them found sold and one found not sold by an
// operator. At every step the spend metric is the ledger's settled cost
// (its cost less the part booked for unknown outcomes): ¥51 while both are
// unknown (the ledger books ¥85, ¥34 of it unknown), ¥68 once resolved.
func TestSpendMetricAgreesWithLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := start(t, setup{usageLedger: true})
	const otherVIN = "LSVAU2180N2183294"
	for _, plate := range []string{"沪A12345", "沪B54321"} {
		if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, PlateNumber: plate}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: otherVIN}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"lost-a", "lost-b"} {
		lose(svc)
		if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.LostReplyVIN, RequestId: id}); status.Code(err) != codes.Unknown {
			t.Fatalf("%s: got %v, want Unknown", id, err)
		}
	}
	check := func(what string, wantCost, wantUnknown int64) {
		t.Helper()
		day := time.Now().UTC().Truncate(24 * time.Hour)
		var cost, unknown int64
		for deadline := time.Now().Add(10 * time.Second); ; {
			r, err := svc.ledger.Report(ctx, timestamppb.New(day.Add(-24*time.Hour)), timestamppb.New(day.Add(48*time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			cost, unknown = yuanFen(t, r.GetTotalCostYuan()), yuanFen(t, r.GetTotalUnknownCostYuan())
			if cost == wantCost && unknown == wantUnknown || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if cost != wantCost || unknown != wantUnknown {
			t.Errorf("%s: got ledger cost %d fen, %d of it unknown, want %d and %d", what, cost, unknown, wantCost, wantUnknown)
		}
		if got := spendFen(t, svc); got != cost-unknown {
			t.Errorf("%s: got spend metric %d fen, want the ledger's settled cost, %d", what, got, cost-unknown)
		}
	}
	check("two unknown", 5*1700, 2*1700)
	for id, applied := range map[string]bool{"lost-a": true, "lost-b": false} {
		req := &vehiclev1.ResolveOperationRequest{RequestId: id, Note: "console",
			Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED}
		if applied {
			req.Outcome, req.OrderId = vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, maintenancesim.LostOrderID(1)
		}
		if _, err := svc.grpc.ResolveOperation(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	check("resolved", 4*1700, 0)
}

func yuanFen(t *testing.T, yuan string) int64 {
	t.Helper()
	fen, err := money.ParseYuan(yuan)
	if err != nil {
		t.Fatal(err)
	}
	return fen
}
