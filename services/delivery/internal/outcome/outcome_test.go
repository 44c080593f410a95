package outcome

import (
	"context"
	"errors"
	"testing"

	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
)

// vendor is a hand-written Reader: the order under every origin_id is
// order, or the read fails with err.
type vendor struct {
	order *dispatch.Order
	err   error
}

func (v vendor) GetOrder(context.Context, string) (*dispatch.Order, error) { return v.order, v.err }

func (v vendor) GetShop(context.Context, string, string, string) (*dispatch.Shop, error) {
	return &dispatch.Shop{}, v.err
}

// statuses knows "5" as cancelled and "0" as waiting.
type statuses struct{}

func (statuses) Cancelled(raw string) (bool, bool) { return raw == "5", raw == "5" || raw == "0" }

var notFound = &vendorerr.Error{Kind: vendorerr.KindNotFound}

func TestCreated(t *testing.T) {
	t.Parallel()
	sent := dispatch.NewOrder{OriginID: "A1", ReceiverName: "林冲", ReceiverPhone: "18942249050"}
	tests := []struct {
		name    string
		v       vendor
		want    idempotency.Outcome
		wantErr bool
	}{
		{"ours", vendor{order: &dispatch.Order{ReceiverName: "林冲", ReceiverPhone: "18942249050"}}, idempotency.Applied, false},
		{"ours, receiver not reported", vendor{order: &dispatch.Order{}}, idempotency.Applied, false},
		{"another phone", vendor{order: &dispatch.Order{ReceiverName: "林冲", ReceiverPhone: "13812345678"}}, idempotency.NotApplied, false},
		{"another name", vendor{order: &dispatch.Order{ReceiverName: "宋江", ReceiverPhone: "18942249050"}}, idempotency.NotApplied, false},
		{"no such order", vendor{err: notFound}, idempotency.NotApplied, false},
		{"vendor unavailable", vendor{err: &vendorerr.Error{Kind: vendorerr.KindUnavailable}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Created(context.Background(), tt.v, sent)
			if (err != nil) != tt.wantErr || f.Outcome != tt.want {
				t.Errorf("got %+v, %v, want outcome %q (error %v)", f, err, tt.want, tt.wantErr)
			}
			if f.Outcome != "" && f.Note == "" {
				t.Error("got no note for the operator")
			}
		})
	}
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    vendor
		want idempotency.Outcome
	}{
		{"cancelled", vendor{order: &dispatch.Order{RawStatus: "5"}}, idempotency.Applied},
		{"waiting", vendor{order: &dispatch.Order{RawStatus: "0"}}, idempotency.NotApplied},
		{"a status the map does not name", vendor{order: &dispatch.Order{RawStatus: "9"}}, ""},
		{"no such order", vendor{err: notFound}, idempotency.NotApplied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Cancelled(context.Background(), tt.v, statuses{}, "A1")
			if err != nil || f.Outcome != tt.want {
				t.Errorf("got %+v, %v, want outcome %q", f, err, tt.want)
			}
		})
	}
	boom := errors.New("boom")
	if _, err := Cancelled(context.Background(), vendor{err: boom}, statuses{}, "A1"); !errors.Is(err, boom) {
		t.Errorf("a failed read: got %v, want it returned", err)
	}
}

func TestShopCreated(t *testing.T) {
	t.Parallel()
	s := dispatch.ShopUpsert{PerUserID: "m1", Username: "shop1"}
	if f, err := ShopCreated(context.Background(), vendor{}, s); err != nil || f.Outcome != idempotency.Applied {
		t.Errorf("found: got %+v, %v, want APPLIED", f, err)
	}
	if f, err := ShopCreated(context.Background(), vendor{err: notFound}, s); err != nil || f.Outcome != idempotency.NotApplied {
		t.Errorf("not found: got %+v, %v, want NOT_APPLIED", f, err)
	}
}
