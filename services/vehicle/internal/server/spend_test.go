package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

// fakeLedger counts the bookings of a server's purchases.
type fakeLedger struct {
	mu       sync.Mutex
	booked   []int64 // the price of every booking
	released int     // bookings released as not applied
	refuse   bool    // refuse every booking, as over a cap
}

func (l *fakeLedger) Reserve(_ context.Context, costFen int64) (func(applied bool), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refuse {
		return nil, domainerr.ResourceExhausted("DAILY_SPEND_CAP_REACHED", "over the cap", nil)
	}
	l.booked = append(l.booked, costFen)
	return func(applied bool) {
		if !applied {
			l.mu.Lock()
			l.released++
			l.mu.Unlock()
		}
	}, nil
}

func (l *fakeLedger) Report(_ context.Context, start, end *timestamppb.Timestamp) (*usagev1.UsageReport, error) {
	return &usagev1.UsageReport{Service: "fake", StartTime: start, EndTime: end}, nil
}

// counts returns the bookings so far and how many were released.
func (l *fakeLedger) counts() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.booked), l.released
}

// TestSpendBooking: every purchase, and only a purchase, is booked at the
// report's price before the vendor call: concurrent lookups sharing one
// purchase book once, a stored report and a repeated request_id book
// nothing, a purchase the vendor refused is released, one of unknown
// outcome is kept, and a refused booking reaches no vendor.
func TestSpendBooking(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ledger := &fakeLedger{}
	svc := start(t, setup{readyAfter: 50 * time.Millisecond, ledger: ledger})
	check := func(what string, wantBooked, wantReleased, wantPurchases int) {
		t.Helper()
		booked, released := ledger.counts()
		if booked != wantBooked || released != wantReleased || svc.sim.Purchases() != wantPurchases {
			t.Errorf("%s: got %d bookings, %d released, %d purchases; want %d, %d, %d",
				what, booked, released, svc.sim.Purchases(), wantBooked, wantReleased, wantPurchases)
		}
	}

	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := svc.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN}); err != nil {
				t.Errorf("lookup: %v", err)
			}
		})
	}
	wg.Wait()
	check("10 concurrent lookups", 1, 0, 1)
	if _, err := svc.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: maintenancesim.SampleVIN}); err != nil {
		t.Fatal(err)
	}
	check("a stored lookup", 1, 0, 1)

	req := &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN, RequestId: "spend-1"}
	for range 2 {
		if _, err := svc.grpc.OrderReport(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	check("an order and its repeat", 2, 0, 2)

	svc.sim.Inject(maintenancesim.PathOrder, maintenancesim.Fault{Code: "10010", Message: "余额不足"})
	if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("refused purchase: got %v, want FailedPrecondition", err)
	}
	check("a purchase the vendor refused", 3, 1, 2)

	svc.sim.Inject(maintenancesim.PathOrder, maintenancesim.Fault{Status: 502, Body: "<html>bad gateway</html>", AfterHandling: true})
	if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN}); status.Code(err) != codes.Unknown {
		t.Fatalf("lost reply: got %v, want Unknown", err)
	}
	check("a purchase of unknown outcome", 4, 1, 3)

	ledger.mu.Lock()
	ledger.refuse = true
	ledger.mu.Unlock()
	calls := svc.sim.CallsTo(maintenancesim.PathOrder)
	if _, err := svc.grpc.OrderReport(ctx, &vehiclev1.OrderReportRequest{Vin: maintenancesim.SampleVIN}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("over the cap: got %v, want ResourceExhausted", err)
	}
	if _, err := svc.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: "LSVNV2182E2100001"}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("lookup over the cap: got %v, want ResourceExhausted", err)
	}
	if n := svc.sim.CallsTo(maintenancesim.PathOrder); n != calls {
		t.Errorf("got %d order calls, want %d: a refused booking reached the vendor", n, calls)
	}
	for _, fen := range ledger.booked {
		if fen != 1700 {
			t.Errorf("got a booking of %d fen, want 1700 (¥17)", fen)
		}
	}
}

// TestGetUsage answers from the ledger, and is UNIMPLEMENTED without one.
func TestGetUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	req := &vehiclev1.GetUsageRequest{StartTime: timestamppb.New(time.Now().Add(-time.Hour)), EndTime: timestamppb.Now()}
	with := start(t, setup{ledger: &fakeLedger{}})
	resp, err := with.grpc.GetUsage(ctx, req)
	if err != nil || resp.GetReport().GetService() != "fake" {
		t.Errorf("got %v, %v, want the ledger's report", resp, err)
	}
	if _, err := with.grpc.GetUsage(ctx, &vehiclev1.GetUsageRequest{EndTime: timestamppb.Now()}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("without start_time: got %v, want InvalidArgument", err)
	}
	without := start(t, setup{})
	if _, err := without.grpc.GetUsage(ctx, req); status.Code(err) != codes.Unimplemented {
		t.Errorf("without a ledger: got %v, want Unimplemented", err)
	}
}
