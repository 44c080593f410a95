package parcels

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
)

// ledger is a usage ledger that books orders through reserve.
type ledger struct {
	reserve func(ctx context.Context) (func(bool), error)
}

func (l ledger) Reserve(ctx context.Context, _ int64) (func(bool), error) { return l.reserve(ctx) }

// newService is a Service over a damaijia simulator.
func newService(t *testing.T, l ledger) (*Service, *damaijiasim.Simulator) {
	t.Helper()
	sim := damaijiasim.New(damaijiasim.Options{AppID: "id", AppSecret: "secret"})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c, err := damaijia.New(srv.Client(), srv.URL, damaijia.Options{AppID: "id", AppSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return New(c, l, Options{OrderPriceFen: 100}), sim
}

func order(siteOrderID string) Order {
	return Order{SiteOrderID: siteOrderID, ProductID: "P001", ProductNumber: 1, Source: SourceJD,
		Consignees: []Consignee{{Consignee: "张三", Mobile: "13800138000", Province: "浙江省", City: "杭州市", District: "西湖区", Address: "文三路 1 号"}}}
}

// TestResume: an interrupted order is read back by site_order_id when
// damaijia has it (no order_create), and sent only when it has none; an
// interrupted cancel of a cancelled order makes no cancel call.
func TestResume(t *testing.T) {
	t.Parallel()
	var charges []bool
	s, sim := newService(t, ledger{reserve: func(context.Context) (func(bool), error) {
		charges = append(charges, false)
		i := len(charges) - 1
		return func(created bool) { charges[i] = created }, nil
	}})
	ctx := context.Background()
	o := order("RES-1")

	sn, landed, err := s.resumeCreate(ctx, o)
	if err != nil || sn == "" || landed || sim.Creates() != 1 {
		t.Fatalf("resume of an order damaijia lacks: got %q, landed %v, %v after %d creates; want it sent once", sn, landed, err, sim.Creates())
	}
	again, landed, err := s.resumeCreate(ctx, o)
	if err != nil || again != sn || !landed || sim.Creates() != 1 {
		t.Errorf("resume of an order damaijia has: got %q, landed %v, %v after %d creates; want %q read back, no create", again, landed, err, sim.Creates(), sn)
	}
	if len(charges) != 1 || !charges[0] {
		t.Errorf("got charges %v, want one, kept (the send), none for the read-back", charges)
	}

	if err := s.CancelOrder(ctx, idempotency.Attempt{Interrupted: true}, "RES-1"); err != nil || sim.Cancels() != 1 {
		t.Fatalf("resume of a cancel not applied: got %v after %d cancels; want it sent", err, sim.Cancels())
	}
	if err := s.CancelOrder(ctx, idempotency.Attempt{Interrupted: true}, "RES-1"); err != nil || sim.Cancels() != 1 {
		t.Errorf("resume of an applied cancel: got %v after %d cancels; want success without a call", err, sim.Cancels())
	}
}

// TestCreateOrderCharge: the charge comes before the send; a refused
// charge sends nothing; damaijia's refusal (the caller's own duplicate
// site_order_id) undoes the booking; a created order keeps it.
func TestCreateOrderCharge(t *testing.T) {
	t.Parallel()
	capped := errors.New("over the cap")
	s, sim := newService(t, ledger{reserve: func(context.Context) (func(bool), error) { return nil, capped }})
	ctx := context.Background()
	o := order("CHG-1")
	if _, err := s.CreateOrder(ctx, "r1", idempotency.Attempt{}, o); !errors.Is(err, capped) || sim.Received(damaijia.PathCreate) != 0 {
		t.Fatalf("refused charge: got %v after %d order_create requests, want the charge's error and none", err, sim.Received(damaijia.PathCreate))
	}

	var outcomes []bool
	s, sim = newService(t, ledger{reserve: func(context.Context) (func(bool), error) {
		creates := sim.Creates()
		return func(created bool) {
			if sim.Creates() != creates+1 {
				t.Errorf("charge made after the send, or no send")
			}
			outcomes = append(outcomes, created)
		}, nil
	}})
	if _, err := s.CreateOrder(ctx, "r2", idempotency.Attempt{}, o); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrder(ctx, "r3", idempotency.Attempt{}, o); !vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		t.Fatalf("duplicate site_order_id: got %v, want AlreadyExists", err)
	}
	if want := []bool{true, false}; !slices.Equal(outcomes, want) {
		t.Errorf("got outcomes %v, want %v (kept, then undone)", outcomes, want)
	}
}
