package server_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
)

// TestPackageTimeAsText: a damaijia that sends create_time as
// "2026-12-06 12:19:24" (China time) still lists the package, at that
// instant.
func TestPackageTimeAsText(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 12, 6, 4, 19, 24, 0, time.UTC) // 12:19:24 in Shanghai
	svc := start(t, setup{dmj: damaijiasim.Options{TimeFormat: damaijiasim.TimeText, ShipAfter: time.Hour,
		Now: func() time.Time { return created }}})
	ctx := ctxT(t)
	if _, err := svc.parcels.CreateParcelOrder(ctx, order("S-TEXT", "P001")); err != nil {
		t.Fatal(err)
	}
	resp, err := svc.parcels.ListPackages(ctx, &logisticsv1.ListPackagesRequest{SiteOrderId: "S-TEXT"})
	if err != nil {
		t.Fatal(err)
	}
	pkgs := resp.GetPackages()
	if len(pkgs) != 1 || !pkgs[0].GetCreateTime().AsTime().Equal(created) {
		t.Fatalf("got %v, want one package created at %s", pkgs, created)
	}
}

// TestDriftedReplyIsUnreadable: a package list whose create_time no
// decoder reads is INTERNAL VENDOR_RESPONSE_UNREADABLE, never retried and
// never held against damaijia: after 20 of them (the breaker opens after
// 3 unavailabilities) the breaker is closed and an order goes through.
func TestDriftedReplyIsUnreadable(t *testing.T) {
	t.Parallel()
	svc := start(t, setup{dmj: damaijiasim.Options{TimeFormat: damaijiasim.TimeDrifted, ShipAfter: time.Hour}, dmjBreaker: 3})
	ctx := ctxT(t)
	if _, err := svc.parcels.CreateParcelOrder(ctx, order("S-DRIFT", "P001")); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		_, err := svc.parcels.ListPackages(ctx, &logisticsv1.ListPackagesRequest{SiteOrderId: "S-DRIFT"})
		st := status.Convert(err)
		if st.Code() != codes.Internal || reasonOf(st) != "VENDOR_RESPONSE_UNREADABLE" {
			t.Fatalf("list %d: got %v (reason %q), want INTERNAL VENDOR_RESPONSE_UNREADABLE", i, err, reasonOf(st))
		}
	}
	if got := svc.dmj.Received("/package_get_list"); got != 20 {
		t.Errorf("got %d package_get_list requests, want 20 (none retried)", got)
	}
	if got := circuitState(t, svc, "damaijia"); got != 0 {
		t.Errorf("damaijia's circuit state: got %v, want 0 (closed)", got)
	}
	if _, err := svc.parcels.CreateParcelOrder(ctx, order("S-DRIFT-2", "P001")); err != nil {
		t.Errorf("an order right after: got %v, want it created", err)
	}
}

// circuitState is vendorgate_vendor_circuit_state of vendor.
func circuitState(t *testing.T, svc *service, vendor string) float64 {
	t.Helper()
	mfs, err := svc.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vendorgate_vendor_circuit_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "vendor" && l.GetValue() == vendor {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no vendorgate_vendor_circuit_state for %s", vendor)
	return 0
}
