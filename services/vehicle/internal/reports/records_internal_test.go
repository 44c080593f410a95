package reports

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency"
)

// TestPurchaseOf reads what was asked from the purchase's row, else from
// the request the engine kept, with every field of one type distinct, so
// that swapping two of them fails.
func TestPurchaseOf(t *testing.T) {
	t.Parallel()
	kept := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		op   idempotency.Operation
		row  Order
		want Purchase
	}{
		{"row", idempotency.Operation{RequestID: "r1", Method: viaOrderReport,
			Request: kept(&vehiclev1.OrderReportRequest{Vin: "KEPTVIN", EngineNumber: "KEPT-E", PlateNumber: "KEPT-P"})},
			Order{ID: "p1", VIN: "ROWVIN", EngineNumber: "ROW-E", PlateNumber: "ROW-P", RequestID: "r1"},
			Purchase{VIN: "ROWVIN", EngineNumber: "ROW-E", PlateNumber: "ROW-P", RequestID: "r1"}},
		{"OrderReport kept", idempotency.Operation{RequestID: "r2", Method: viaOrderReport,
			Request: kept(&vehiclev1.OrderReportRequest{Vin: "KEPTVIN", EngineNumber: "KEPT-E", PlateNumber: "KEPT-P", RequestId: "r2"})},
			Order{}, Purchase{VIN: "KEPTVIN", EngineNumber: "KEPT-E", PlateNumber: "KEPT-P", RequestID: "r2"}},
		{"LookupHistory kept", idempotency.Operation{RequestID: "lookup-1", Method: viaLookupHistory,
			Request: kept(&vehiclev1.LookupHistoryRequest{Vin: "KEPTVIN"})},
			Order{}, Purchase{VIN: "KEPTVIN", RequestID: "lookup-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, purchaseOf(tt.op, tt.row)); diff != "" {
				t.Errorf("got a different purchase (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReceiptOf reads a recorded response back field by field.
func TestReceiptOf(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	resp := orderResponse(Order{OrderID: "o1", VIN: "V1", BoughtAt: at})
	resp.Replayed = true
	want := Receipt{OrderID: "o1", VIN: "V1", BoughtAt: at, Replayed: true}
	if diff := cmp.Diff(want, receiptOf(resp)); diff != "" {
		t.Errorf("got a different receipt (-want +got):\n%s", diff)
	}
	if got := receiptOf(orderResponse(Order{OrderID: "o2", VIN: "V2"})); !got.BoughtAt.IsZero() {
		t.Errorf("got bought at %v, want zero for a response without bought_time", got.BoughtAt)
	}
}
