package dispatch

import (
	"context"
	"errors"
	"testing"

	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// vendor is a hand-written reader: the order under every origin_id is
// order, or the read fails with err.
type vendor struct {
	order *Order
	err   error
}

func (v vendor) GetOrder(context.Context, string) (*Order, error) { return v.order, v.err }

func (v vendor) GetShop(context.Context, string, string, string) (*Shop, error) {
	return &Shop{}, v.err
}

// statuses knows "5" as cancelled and "0" as waiting.
type statuses struct{}

func (statuses) Cancelled(raw string) (bool, bool) { return raw == "5", raw == "5" || raw == "0" }

var notFound = &vendorerr.Error{Kind: vendorerr.KindNotFound}

func TestCreated(t *testing.T) {
	t.Parallel()
	sent := NewOrder{OriginID: "A1", ReceiverName: "林冲", ReceiverPhone: "18942249050"}
	tests := []struct {
		name    string
		v       vendor
		want    idempotency.Outcome
		wantErr bool
	}{
		{"ours", vendor{order: &Order{ReceiverName: "林冲", ReceiverPhone: "18942249050"}}, idempotency.Applied, false},
		{"ours, receiver not reported", vendor{order: &Order{}}, idempotency.Applied, false},
		{"another phone", vendor{order: &Order{ReceiverName: "林冲", ReceiverPhone: "13812345678"}}, idempotency.NotApplied, false},
		{"another name", vendor{order: &Order{ReceiverName: "宋江", ReceiverPhone: "18942249050"}}, idempotency.NotApplied, false},
		{"no such order", vendor{err: notFound}, idempotency.NotApplied, false},
		{"vendor unavailable", vendor{err: &vendorerr.Error{Kind: vendorerr.KindUnavailable}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := created(context.Background(), tt.v, sent)
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
		{"cancelled", vendor{order: &Order{RawStatus: "5"}}, idempotency.Applied},
		{"waiting", vendor{order: &Order{RawStatus: "0"}}, idempotency.NotApplied},
		{"a status the map does not name", vendor{order: &Order{RawStatus: "9"}}, ""},
		{"no such order", vendor{err: notFound}, idempotency.NotApplied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := cancelled(context.Background(), tt.v, statuses{}, "A1")
			if err != nil || f.Outcome != tt.want {
				t.Errorf("got %+v, %v, want outcome %q", f, err, tt.want)
			}
		})
	}
	boom := errors.New("boom")
	if _, err := cancelled(context.Background(), vendor{err: boom}, statuses{}, "A1"); !errors.Is(err, boom) {
		t.Errorf("a failed read: got %v, want it returned", err)
	}
}

func TestShopCreated(t *testing.T) {
	t.Parallel()
	s := ShopUpsert{PerUserID: "m1", Username: "shop1"}
	if f, err := shopCreated(context.Background(), vendor{}, s); err != nil || f.Outcome != idempotency.Applied {
		t.Errorf("found: got %+v, %v, want APPLIED", f, err)
	}
	if f, err := shopCreated(context.Background(), vendor{err: notFound}, s); err != nil || f.Outcome != idempotency.NotApplied {
		t.Errorf("not found: got %+v, %v, want NOT_APPLIED", f, err)
	}
}
