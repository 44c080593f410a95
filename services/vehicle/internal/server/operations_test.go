package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

// listREST lists the unresolved purchases over REST, at the route the
// operator flow documents.
func listREST(ctx context.Context, t *testing.T, svc *service) []*vehiclev1.Operation {
	t.Helper()
	resp := &vehiclev1.ListUnresolvedOperationsResponse{}
	if st := rest(ctx, svc, http.MethodGet, "/v1/vehicle/operations?state=UNKNOWN", nil, resp); st != nil {
		t.Fatalf("list: got %v, want OK", st)
	}
	return resp.GetOperations()
}

// resolveREST resolves one purchase over REST.
func resolveREST(ctx context.Context, svc *service, req *vehiclev1.ResolveOperationRequest) (*vehiclev1.Operation, *status.Status) {
	resp := &vehiclev1.ResolveOperationResponse{}
	body := &vehiclev1.ResolveOperationRequest{Outcome: req.GetOutcome(), OrderId: req.GetOrderId(), Note: req.GetNote()}
	st := rest(ctx, svc, http.MethodPost, "/v1/vehicle/operations/"+req.GetRequestId()+":resolve", body, resp)
	return resp.GetOperation(), st
}

// purchasesVia reads the purchase counter of one RPC from the registry.
func purchasesVia(t *testing.T, svc *service, rpc string) float64 {
	t.Helper()
	mfs, err := svc.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vendorgate_vehicle_report_purchases_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "rpc" && l.GetValue() == rpc {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// lose makes the next purchase sold at the vendor and its answer lost.
func lose(svc *service) {
	svc.sim.Inject(maintenancesim.PathOrder, maintenancesim.Fault{Status: 502, Body: "bad gateway", AfterHandling: true})
}

func reason(st *status.Status) string {
	info, _ := details(st)
	return info.GetReason()
}

// TestOperatorResolvesLostPurchaseApplied: a purchase whose answer was lost
// is listed; the operator finds the order in the vendor's list and
// resolves it APPLIED; the request_id then returns that order, its report
// is served, and a lookup of the VIN reuses it. Nothing is bought again.
func TestOperatorResolvesLostPurchaseApplied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := start(t, setup{})
	lose(svc)
	req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, PlateNumber: "沪A12345", RequestId: "lost-1"}
	if _, st := transports[0].order(ctx, svc, req); st.Code() != codes.Unknown {
		t.Fatalf("got %v, want Unknown", st)
	}
	ops := listREST(ctx, t, svc)
	if len(ops) != 1 || ops[0].GetRequestId() != "lost-1" || ops[0].GetState() != vehiclev1.OperationState_OPERATION_STATE_UNKNOWN ||
		ops[0].GetVin() != maintenancesim.SampleVIN || ops[0].GetPlateNumber() != "沪A12345" || ops[0].GetCreateTime() == nil {
		t.Fatalf("got %v, want lost-1 listed UNKNOWN", ops)
	}
	gauge := func(want int) {
		t.Helper()
		exp := fmt.Sprintf("# HELP vendorgate_vehicle_unresolved_purchases Report purchases whose outcome is unknown (no answer, or their process died) and await an operator's ResolveOperation; -1 when the store did not answer.\n"+
			"# TYPE vendorgate_vehicle_unresolved_purchases gauge\nvendorgate_vehicle_unresolved_purchases %d\n", want)
		if err := testutil.GatherAndCompare(svc.registry, strings.NewReader(exp), "vendorgate_vehicle_unresolved_purchases"); err != nil {
			t.Error(err)
		}
	}
	gauge(1)
	sold := svc.sim.OrdersFor(maintenancesim.SampleVIN)
	if len(sold) != 1 {
		t.Fatalf("got vendor orders %v, want 1", sold)
	}
	op, st := resolveREST(ctx, svc, &vehiclev1.ResolveOperationRequest{RequestId: "lost-1",
		Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, OrderId: sold[0], Note: "in the vendor's order list"})
	if st != nil {
		t.Fatalf("resolve: got %v, want OK", st)
	}
	if op.GetState() != vehiclev1.OperationState_OPERATION_STATE_APPLIED || op.GetOrderId() != sold[0] ||
		len(op.GetResolutions()) != 1 || op.GetResolutions()[0].GetNote() != "in the vendor's order list" {
		t.Errorf("got %v, want APPLIED with its resolution", op)
	}
	if ops := listREST(ctx, t, svc); len(ops) != 0 {
		t.Errorf("got %v listed after the resolution, want none", ops)
	}
	gauge(0)
	if n := purchasesVia(t, svc, "ResolveOperation"); n != 1 {
		t.Errorf("got %v purchases counted via ResolveOperation, want 1 (found sold)", n)
	}
	for _, tr := range transports {
		resp, st := tr.order(ctx, svc, req)
		if st != nil || resp.GetOrderId() != sold[0] || !resp.GetReplayed() {
			t.Errorf("%s repeat: got %v, %v, want order %s replayed", tr.name, resp, st, sold[0])
		}
	}
	got, err := svc.grpc.GetReport(ctx, &vehiclev1.GetReportRequest{OrderId: sold[0]})
	if err != nil || got.GetState() != vehiclev1.ReportState_REPORT_STATE_READY {
		t.Errorf("GetReport: got %v, %v, want READY", got, err)
	}
	look, err := svc.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN})
	if err != nil || look.GetOrderId() != sold[0] || look.GetPurchased() {
		t.Errorf("lookup: got %v, %v, want the resolved order reused", look, err)
	}
	if n := svc.sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases, want 1", n)
	}
}

// TestOperatorResolvesLostPurchaseNotApplied: resolved NOT_APPLIED, the
// request_id is refused with OPERATION_NOT_APPLIED, and a new one buys.
func TestOperatorResolvesLostPurchaseNotApplied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := start(t, setup{})
	lose(svc)
	req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "lost-2"}
	if _, err := svc.grpc.OrderReport(ctx, req); status.Code(err) != codes.Unknown {
		t.Fatalf("got %v, want Unknown", err)
	}
	resp, err := svc.grpc.ResolveOperation(ctx, &vehiclev1.ResolveOperationRequest{RequestId: "lost-2",
		Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED, Note: "not in the vendor's order list"})
	if err != nil || resp.GetOperation().GetState() != vehiclev1.OperationState_OPERATION_STATE_NOT_APPLIED {
		t.Fatalf("got %v, %v, want NOT_APPLIED", resp, err)
	}
	for _, tr := range transports {
		if _, st := tr.order(ctx, svc, req); st.Code() != codes.FailedPrecondition || reason(st) != "OPERATION_NOT_APPLIED" {
			t.Errorf("%s repeat: got %v (%s), want FailedPrecondition OPERATION_NOT_APPLIED", tr.name, st, reason(st))
		}
	}
	if n := svc.sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases, want 1 (the lost one)", n)
	}
	if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "lost-2-again"}); err != nil {
		t.Errorf("new request_id: got %v, want a purchase", err)
	}
}

func TestResolveOperationRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := start(t, setup{})
	if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "fine-1"}); err != nil {
		t.Fatal(err)
	}
	lose(svc)
	if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "lost-3"}); status.Code(err) != codes.Unknown {
		t.Fatalf("got %v, want Unknown", err)
	}
	fine, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "fine-1"})
	if err != nil {
		t.Fatal(err)
	}
	applied := vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED
	tests := []struct {
		name   string
		req    *vehiclev1.ResolveOperationRequest
		code   codes.Code
		reason string
	}{
		{"unknown request_id", &vehiclev1.ResolveOperationRequest{RequestId: "nope", Outcome: applied, OrderId: "o", Note: "n"},
			codes.NotFound, "OPERATION_NOT_FOUND"},
		{"a purchase with a known outcome", &vehiclev1.ResolveOperationRequest{RequestId: "fine-1", Outcome: applied, OrderId: "o", Note: "n"},
			codes.FailedPrecondition, "OPERATION_OUTCOME_KNOWN"},
		{"APPLIED without order_id", &vehiclev1.ResolveOperationRequest{RequestId: "lost-3", Outcome: applied, Note: "n"},
			codes.InvalidArgument, "INVALID_ARGUMENT"},
		{"no note", &vehiclev1.ResolveOperationRequest{RequestId: "lost-3", Outcome: applied, OrderId: "o"},
			codes.InvalidArgument, "INVALID_ARGUMENT"},
		{"another purchase's order", &vehiclev1.ResolveOperationRequest{RequestId: "lost-3", Outcome: applied, OrderId: fine.GetOrderId(), Note: "n"},
			codes.InvalidArgument, "INVALID_ARGUMENT:order_id:ORDER_ID_TAKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, st := resolveREST(ctx, svc, tt.req)
			got := reason(st)
			if _, bad := details(st); strings.Count(tt.reason, ":") == 2 && len(bad.GetFieldViolations()) == 1 {
				v := bad.GetFieldViolations()[0]
				got += ":" + v.GetField() + ":" + v.GetReason()
			}
			if st.Code() != tt.code || got != tt.reason {
				t.Errorf("got %v (reason %s), want %v %s", st, got, tt.code, tt.reason)
			}
		})
	}
}

// TestRequestIDInFlightOnAnotherReplica: a purchase in flight on one
// replica (another server on the same Postgres, the vendor holding its
// call) makes a repeat on the other ABORTED with a retry delay, over gRPC
// and REST, and nothing more is bought.
func TestRequestIDInFlightOnAnotherReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := sqlstoretest.PostgresURL(t, "vehicle_test")
	first := start(t, setup{databaseURL: url})
	other := start(t, setup{databaseURL: url, sim: first.sim})
	entered, release := first.sim.Hold(maintenancesim.PathOrder)
	defer release()
	req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "busy-1"}
	done := make(chan *status.Status, 1)
	go func() {
		_, st := transports[0].order(ctx, first, req)
		done <- st
	}()
	<-entered
	for _, tr := range transports {
		_, st := tr.order(ctx, other, req)
		if info, _ := details(st); st.Code() != codes.Aborted || info.GetReason() != "REQUEST_ID_IN_FLIGHT" ||
			info.GetMetadata()["request_id"] != "busy-1" {
			t.Errorf("%s: got %v (%v), want Aborted REQUEST_ID_IN_FLIGHT naming busy-1", tr.name, st, info)
		}
	}
	release()
	if st := <-done; st != nil {
		t.Fatalf("first: got %v, want OK", st)
	}
	if resp, st := transports[1].order(ctx, other, req); st != nil || !resp.GetReplayed() {
		t.Errorf("repeat on the other replica: got %v, %v, want the order replayed", resp, st)
	}
	if n := first.sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases, want 1", n)
	}
}

// TestRequestIDExpires: after REQUEST_ID_TTL a request_id buys again.
func TestRequestIDExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The engine's clock moves only when the test moves it: a slow run
	// neither expires the request_id early nor needs to sleep for it.
	clock := newTestClock(0)
	svc := start(t, setup{requestIDTTL: 300 * time.Millisecond, requestIDNow: clock.Now})
	req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "ttl-1"}
	first, err := svc.grpc.OrderReport(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := svc.grpc.OrderReport(ctx, req); err != nil || !again.GetReplayed() || again.GetOrderId() != first.GetOrderId() {
		t.Errorf("within the TTL: got %v, %v, want the first order replayed", again, err)
	}
	clock.Advance(299 * time.Millisecond)
	if again, err := svc.grpc.OrderReport(ctx, req); err != nil || !again.GetReplayed() || again.GetOrderId() != first.GetOrderId() {
		t.Errorf("just within the TTL: got %v, %v, want the first order replayed", again, err)
	}
	clock.Advance(101 * time.Millisecond)
	later, err := svc.grpc.OrderReport(ctx, req)
	if err != nil || later.GetReplayed() || later.GetOrderId() == first.GetOrderId() {
		t.Errorf("after the TTL: got %v, %v, want a new purchase", later, err)
	}
	if n := svc.sim.Purchases(); n != 2 {
		t.Errorf("got %d purchases, want 2", n)
	}
}

// TestSandboxLostReplyVIN: the simulator's LostReplyVIN sells and loses
// the answer, and its order id is the one the README's operator flow
// resolves with.
func TestSandboxLostReplyVIN(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := start(t, setup{})
	req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.LostReplyVIN, RequestId: "sandbox-lost"}
	if _, err := svc.grpc.OrderReport(ctx, req); status.Code(err) != codes.Unknown {
		t.Fatalf("got %v, want Unknown", err)
	}
	if _, err := svc.grpc.ResolveOperation(ctx, &vehiclev1.ResolveOperationRequest{RequestId: "sandbox-lost",
		Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, OrderId: maintenancesim.LostOrderID(1), Note: "console"}); err != nil {
		t.Fatal(err)
	}
	got, err := svc.grpc.GetReport(ctx, &vehiclev1.GetReportRequest{OrderId: maintenancesim.LostOrderID(1)})
	if err != nil || got.GetState() != vehiclev1.ReportState_REPORT_STATE_READY {
		t.Errorf("got %v, %v, want its report READY", got, err)
	}
}
