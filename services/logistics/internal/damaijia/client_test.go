package damaijia_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/vendorcall/vendorcalltest"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
)

// TestLoginRefusedIsNotALoop: wrong credentials fail the call once, as
// our misconfiguration naming the variables, and are never retried in a
// loop; the secret is not in the error.
func TestLoginRefusedIsNotALoop(t *testing.T) {
	t.Parallel()
	sim := damaijiasim.New(damaijiasim.Options{AppID: "id", AppSecret: "right"})
	var logins atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == damaijia.PathLogin {
			logins.Add(1)
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	c, err := damaijia.New(srv.Client(), srv.URL, damaijia.Options{AppID: "id", AppSecret: "wrong-secret", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListWarehouses(context.Background())
	if !vendorerr.IsKind(err, vendorerr.KindAuth) {
		t.Fatalf("got %v, want a KindAuth error", err)
	}
	for _, name := range []string{"DAMAIJIA_APP_ID", "DAMAIJIA_APP_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("got %q, want it to name %s", err, name)
		}
	}
	if ve, _ := vendorerr.As(err); ve.Config != "DAMAIJIA_APP_ID, DAMAIJIA_APP_SECRET" {
		t.Errorf("Config: got %q, want the variables to check, for the status", ve.Config)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("the error quotes the secret: %q", err)
	}
	if n := logins.Load(); n != 1 {
		t.Errorf("got %d logins, want 1", n)
	}
	if got := failedLogins(t, reg); got != 1 {
		t.Errorf("failed-login metric: got %v, want 1", got)
	}
}

func failedLogins(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vendorgate_vendor_logins_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == "failed" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestLostCreateIsNotResent: order_create's reply is lost after damaijia
// created the order; the client answers an unknown outcome and sends
// nothing more (FindOrder, the one read-back, then finds the order).
func TestLostCreateIsNotResent(t *testing.T) {
	t.Parallel()
	sim := damaijiasim.New(damaijiasim.Options{AppID: "id", AppSecret: "secret"})
	var lose atomic.Bool
	srv := vendorcalltest.NewLostReplyServer(t, sim.Handler(), func(r *http.Request) bool {
		return r.URL.Path == damaijia.PathCreate && lose.CompareAndSwap(true, false)
	})
	c, err := damaijia.New(srv.Client(), srv.URL, damaijia.Options{AppID: "id", AppSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.ListWarehouses(ctx); err != nil {
		t.Fatal(err)
	}
	lose.Store(true)
	o := damaijia.Order{SiteOrderID: "LOST-1", ProductID: "P001", ProductNumber: 1, Source: damaijia.SourceJD,
		Consignees: []damaijia.Consignee{{Consignee: "张三", Mobile: "13800138000", Province: "浙江省", City: "杭州市", District: "西湖区", Address: "文三路 1 号"}}}
	if _, err := c.CreateOrder(ctx, o); !vendorerr.IsKind(err, vendorerr.KindOutcomeUnknown) {
		t.Fatalf("got %v, want an unknown outcome", err)
	}
	if got := sim.Received(damaijia.PathCreate); got != 1 {
		t.Errorf("got %d order_create requests, want 1 (never re-sent)", got)
	}
	sn, err := c.FindOrder(ctx, "LOST-1")
	if err != nil || sn == "" {
		t.Errorf("FindOrder: got %q, %v; want the order created by the lost call", sn, err)
	}
}
