package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
)

// TestAdoptEarlierPurchases: purchases recorded before the request_id
// engine kept vehicle's request ids (rows without an engine record) are
// handed to it at start: the unknown ones are listed and answer UNKNOWN,
// a recent order is returned to a repeat of its request_id instead of
// being bought again; a second start hands over nothing.
func TestAdoptEarlierPurchases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := start(t, setup{})
	const otherVIN = "LSVAU2180N2183294"
	at := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Millisecond)
	for _, p := range []reports.Purchase{{VIN: maintenancesim.SampleVIN, PlateNumber: "沪A12345", RequestID: "old-unknown"},
		{VIN: otherVIN, RequestID: "lookup-old"}} {
		if _, err := svc.store.Begin(ctx, p, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.store.MarkUnknownByRequestID(ctx, "old-unknown"); err != nil {
		t.Fatal(err)
	}
	id, err := svc.store.Begin(ctx, reports.Purchase{VIN: maintenancesim.SampleVIN, RequestID: "old-bought"}, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.store.Bought(ctx, id, "old-order", at); err != nil {
		t.Fatal(err)
	}

	if n, err := svc.reports.Adopt(ctx, time.Now().Add(-time.Hour)); err != nil || n != 3 {
		t.Fatalf("got %d adopted, %v, want 3", n, err)
	}
	list, err := svc.grpc.ListUnresolvedOperations(ctx, &vehiclev1.ListUnresolvedOperationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]string{}
	for _, op := range list.GetOperations() {
		methods[op.GetRequestId()] = op.GetMethod()
	}
	if len(methods) != 2 || methods["old-unknown"] != "OrderReport" || methods["lookup-old"] != "LookupHistory" {
		t.Errorf("got %v, want old-unknown (OrderReport) and lookup-old (LookupHistory) listed", list.GetOperations())
	}
	_, err = svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, PlateNumber: "沪A12345", RequestId: "old-unknown"})
	if st := status.Convert(err); st.Code() != codes.Unknown || reason(st) != "OUTCOME_UNKNOWN" {
		t.Errorf("repeat of the unknown one: got %v, want Unknown OUTCOME_UNKNOWN", st)
	}
	resp, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "old-bought"})
	if err != nil || resp.GetOrderId() != "old-order" || !resp.GetReplayed() {
		t.Errorf("repeat of the bought one: got %v, %v, want old-order replayed", resp, err)
	}
	if _, err := svc.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: otherVIN}); status.Code(err) != codes.Unknown {
		t.Errorf("lookup of the VIN held back: got %v, want Unknown", err)
	}
	if n := svc.sim.Purchases(); n != 0 {
		t.Errorf("got %d purchases, want 0", n)
	}
	if n, err := svc.reports.Adopt(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("second start: got %d adopted, %v, want 0", n, err)
	}
}
