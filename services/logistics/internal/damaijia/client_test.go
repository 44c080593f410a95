package damaijia_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
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

// TestResume: an interrupted order is read back by site_order_id when
// damaijia has it (no order_create), and sent only when it has none; an
// interrupted cancel of a cancelled order makes no cancel call.
func TestResume(t *testing.T) {
	t.Parallel()
	sim := damaijiasim.New(damaijiasim.Options{AppID: "id", AppSecret: "secret"})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c, err := damaijia.New(srv.Client(), srv.URL, damaijia.Options{AppID: "id", AppSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := damaijia.Order{SiteOrderID: "RES-1", ProductID: "P001", ProductNumber: 1, Source: damaijia.SourceJD,
		Consignees: []damaijia.Consignee{{Consignee: "张三", Mobile: "13800138000", Province: "浙江省", City: "杭州市", District: "西湖区", Address: "文三路 1 号"}}}

	var charges []bool
	charge := func(context.Context) (func(bool), error) {
		charges = append(charges, false)
		i := len(charges) - 1
		return func(created bool) { charges[i] = created }, nil
	}
	sn, landed, err := c.ResumeCreateOrder(ctx, o, charge)
	if err != nil || sn == "" || landed || sim.Creates() != 1 {
		t.Fatalf("resume of an order damaijia lacks: got %q, landed %v, %v after %d creates; want it sent once", sn, landed, err, sim.Creates())
	}
	again, landed, err := c.ResumeCreateOrder(ctx, o, charge)
	if err != nil || again != sn || !landed || sim.Creates() != 1 {
		t.Errorf("resume of an order damaijia has: got %q, landed %v, %v after %d creates; want %q read back, no create", again, landed, err, sim.Creates(), sn)
	}
	if len(charges) != 1 || !charges[0] {
		t.Errorf("got charges %v, want one, kept (the send), none for the read-back", charges)
	}

	if err := c.ResumeCancelOrder(ctx, "RES-1"); err != nil || sim.Cancels() != 1 {
		t.Fatalf("resume of a cancel not applied: got %v after %d cancels; want it sent", err, sim.Cancels())
	}
	if err := c.ResumeCancelOrder(ctx, "RES-1"); err != nil || sim.Cancels() != 1 {
		t.Errorf("resume of an applied cancel: got %v after %d cancels; want success without a call", err, sim.Cancels())
	}
}

// TestCreateOrderCharge: the charge comes before the send; a refused
// charge sends nothing; damaijia's refusal (the caller's own duplicate
// site_order_id) undoes the booking; a created order keeps it.
func TestCreateOrderCharge(t *testing.T) {
	t.Parallel()
	sim := damaijiasim.New(damaijiasim.Options{AppID: "id", AppSecret: "secret"})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c, err := damaijia.New(srv.Client(), srv.URL, damaijia.Options{AppID: "id", AppSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := damaijia.Order{SiteOrderID: "CHG-1", ProductID: "P001", ProductNumber: 1, Source: damaijia.SourceJD,
		Consignees: []damaijia.Consignee{{Consignee: "张三", Mobile: "13800138000", Province: "浙江省", City: "杭州市", District: "西湖区", Address: "文三路 1 号"}}}

	capped := errors.New("over the cap")
	if _, err := c.CreateOrder(ctx, o, func(context.Context) (func(bool), error) { return nil, capped }); !errors.Is(err, capped) || sim.Received(damaijia.PathCreate) != 0 {
		t.Fatalf("refused charge: got %v after %d order_create requests, want the charge's error and none", err, sim.Received(damaijia.PathCreate))
	}
	var outcomes []bool
	charge := func(context.Context) (func(bool), error) {
		creates := sim.Creates()
		return func(created bool) {
			if sim.Creates() != creates+1 {
				t.Errorf("charge made after the send, or no send")
			}
			outcomes = append(outcomes, created)
		}, nil
	}
	if _, err := c.CreateOrder(ctx, o, charge); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateOrder(ctx, o, charge); !vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		t.Fatalf("duplicate site_order_id: got %v, want AlreadyExists", err)
	}
	if want := []bool{true, false}; !slices.Equal(outcomes, want) {
		t.Errorf("got outcomes %v, want %v (kept, then undone)", outcomes, want)
	}
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
	if _, err := c.CreateOrder(ctx, o, nil); !vendorerr.IsKind(err, vendorerr.KindOutcomeUnknown) {
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
