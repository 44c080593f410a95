package server_test

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

// TestGetHistoryNeverCallsTheVendor checks GetHistory, over gRPC and over
// REST's GET: NOT_FOUND before any lookup, the stored report after one,
// NOT_FOUND again once the report is older than the freshness, and not one
// vendor call of its own throughout.
func TestGetHistoryNeverCallsTheVendor(t *testing.T) {
	t.Parallel()
	// The report is ready 30 ms after its purchase, and the use-case's
	// clock moves 1 ms a reading, so that its bought and ready times
	// differ; it moves past the freshness when the test says so.
	clock := newTestClock(time.Millisecond)
	svc := start(t, setup{freshness: 2 * time.Second, readyAfter: 30 * time.Millisecond, reportsNow: clock.Now})
	vin := maintenancesim.SampleVIN
	get := func(t *testing.T) (*vehiclev1.GetHistoryResponse, codes.Code) {
		t.Helper()
		before := svc.sim.Calls()
		resp, err := svc.grpc.GetHistory(t.Context(), &vehiclev1.GetHistoryRequest{Vin: " " + vin + " "})
		restResp := &vehiclev1.GetHistoryResponse{}
		restErr := rest(t.Context(), svc, http.MethodGet, "/v1/vehicle/vins/"+vin+"/history", nil, restResp)
		if got, want := restErr.Code(), status.Code(err); got != want {
			t.Errorf("REST GET: got %s, want %s as over gRPC", got, want)
		}
		if n := svc.sim.Calls() - before; n != 0 {
			t.Errorf("GetHistory made %d vendor calls, want 0", n)
		}
		return resp, status.Code(err)
	}

	if _, code := get(t); code != codes.NotFound {
		t.Fatalf("before any lookup: got %s, want NOT_FOUND", code)
	}
	if purchases := svc.sim.Purchases(); purchases != 0 {
		t.Fatalf("got %d purchases, want 0", purchases)
	}
	looked, err := svc.grpc.LookupHistory(t.Context(), &vehiclev1.LookupHistoryRequest{Vin: vin})
	if err != nil {
		t.Fatal(err)
	}
	got, code := get(t)
	if code != codes.OK {
		t.Fatalf("after a lookup: got %s, want OK", code)
	}
	if got.GetOrderId() != looked.GetOrderId() || got.GetState() != vehiclev1.ReportState_REPORT_STATE_READY ||
		got.GetReport().GetBrand() != looked.GetReport().GetBrand() || got.GetVin() != vin {
		t.Errorf("got %v, want the stored report of order %s", got, looked.GetOrderId())
	}
	if !proto.Equal(got.GetBoughtTime(), looked.GetBoughtTime()) || !proto.Equal(got.GetReadyTime(), looked.GetReadyTime()) {
		t.Errorf("got bought %v ready %v, want the lookup's bought %v ready %v", got.GetBoughtTime(), got.GetReadyTime(),
			looked.GetBoughtTime(), looked.GetReadyTime())
	}
	clock.Advance(2100 * time.Millisecond) // past the 2 s freshness
	if _, code := get(t); code != codes.NotFound {
		t.Errorf("after the freshness: got %s, want NOT_FOUND", code)
	}
	if purchases := svc.sim.Purchases(); purchases != 1 {
		t.Errorf("got %d purchases, want the lookup's 1", purchases)
	}
	if _, err := svc.grpc.GetHistory(t.Context(), &vehiclev1.GetHistoryRequest{Vin: "SBL666666BM9D933"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a malformed VIN: got %v, want INVALID_ARGUMENT", err)
	}
}
