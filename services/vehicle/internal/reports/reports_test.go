package reports_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// newService is the use-case over a SQLite store and the simulator on
// loopback, with no gRPC in front: the rules are tested as the handlers
// call them. The server package's tests cover the same rules end to end,
// statuses included.
func newService(t *testing.T) (*reports.Service, *maintenancesim.Simulator) {
	t.Helper()
	sim := maintenancesim.New(maintenancesim.Options{Keys: map[string]string{"AKIDsim": "sim-secret-key"}})
	vendor := httptest.NewServer(sim.Handler())
	t.Cleanup(vendor.Close)
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: "AKIDsim", SecretKey: "sim-secret-key", Base: vendor.Client().Transport}}
	client, err := maintenance.New(hc, vendor.URL, maintenance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), sqlstoretest.SQLiteURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	locks := coord.NewLocks(st.DB())
	requests, err := idempotency.New(context.Background(), st.DB(), "vehicle", idempotency.Options{Locks: locks})
	if err != nil {
		t.Fatal(err)
	}
	s, err := reports.New(client, st, reports.Options{
		Freshness:       time.Hour,
		PollInterval:    5 * time.Millisecond,
		PollMaxInterval: 20 * time.Millisecond,
		LookupWait:      10 * time.Second,
		Requests:        requests,
		Locks:           locks,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, sim
}

// reason is err's domain reason, "" for none.
func reason(err error) string {
	if d, ok := domainerr.As(err); ok {
		return d.Reason
	}
	return ""
}

func TestLookupBuysOnceThenReuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, sim := newService(t)
	first, err := s.Lookup(ctx, maintenancesim.SampleVIN)
	if err != nil || !first.Purchased || first.Order.State != reports.StateReady {
		t.Fatalf("first lookup: got %+v, %v, want a ready report purchased", first, err)
	}
	r, err := first.Order.DecodedReport()
	if err != nil || r == nil || r.Brand == "" {
		t.Errorf("first lookup's report: got %+v, %v, want the sample decoded", r, err)
	}
	again, err := s.Lookup(ctx, maintenancesim.SampleVIN)
	if err != nil || again.Purchased || again.Order.OrderID != first.Order.OrderID {
		t.Errorf("second lookup: got %+v, %v, want order %s reused", again, err, first.Order.OrderID)
	}
	stored, err := s.Stored(ctx, maintenancesim.SampleVIN)
	if err != nil || stored.OrderID != first.Order.OrderID {
		t.Errorf("stored: got %+v, %v, want order %s", stored, err, first.Order.OrderID)
	}
	if n := sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases, want 1", n)
	}
}

func TestOrderReplaysItsRequestID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, sim := newService(t)
	asked := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "r1"}
	p := reports.Purchase{VIN: maintenancesim.SampleVIN}
	first, err := s.Order(ctx, "r1", asked, p)
	if err != nil || first.Replayed || first.OrderID == "" || first.VIN != maintenancesim.SampleVIN || first.BoughtAt.IsZero() {
		t.Fatalf("first: got %+v, %v, want a fresh purchase", first, err)
	}
	again, err := s.Order(ctx, "r1", asked, p)
	if err != nil || !again.Replayed || again.OrderID != first.OrderID || !again.BoughtAt.Equal(first.BoughtAt) {
		t.Errorf("repeat: got %+v, %v, want %+v replayed", again, err, first)
	}
	other := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, PlateNumber: "沪A12345", RequestId: "r1"}
	if _, err := s.Order(ctx, "r1", other, reports.Purchase{VIN: maintenancesim.SampleVIN, PlateNumber: "沪A12345"}); reason(err) != idempotency.ReasonReused {
		t.Errorf("another request under r1: got %v, want %s", err, idempotency.ReasonReused)
	}
	o, err := s.Get(ctx, first.OrderID)
	if err != nil || o.RequestID != "r1" || !o.State.Finished() {
		t.Errorf("get: got %+v, %v, want the finished order of r1", o, err)
	}
	if n := sim.Purchases(); n != 1 {
		t.Errorf("got %d purchases, want 1", n)
	}
}

func TestReadsNeverBuy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, sim := newService(t)
	if _, err := s.Stored(ctx, maintenancesim.SampleVIN); reason(err) != "REPORT_NOT_STORED" {
		t.Errorf("stored: got %v, want REPORT_NOT_STORED", err)
	}
	if _, err := s.Get(ctx, "no-such-order"); reason(err) != "ORDER_NOT_FOUND" {
		t.Errorf("get: got %v, want ORDER_NOT_FOUND", err)
	}
	if n := sim.Purchases(); n != 0 {
		t.Errorf("got %d purchases, want none", n)
	}
}
