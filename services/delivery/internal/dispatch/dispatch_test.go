package dispatch

import (
	"context"
	"errors"
	"testing"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// read is one answer of fakeVendor.GetOrder.
type read struct {
	order *Order
	err   error
}

// fakeVendor is a hand-written Vendor: GetOrder gives reads in turn (the
// last one again when they run out), CreateOrder and CancelOrder answer
// sendErr, and every send is counted.
type fakeVendor struct {
	Vendor // the calls these tests never make

	reads   []read
	sendErr error
	sends   int
	gets    int
}

func (v *fakeVendor) GetOrder(context.Context, string) (*Order, error) {
	r := v.reads[min(v.gets, len(v.reads)-1)]
	v.gets++
	return r.order, r.err
}

func (v *fakeVendor) GetShop(context.Context, string, string, string) (*Shop, error) {
	return nil, &vendorerr.Error{Kind: vendorerr.KindNotFound}
}

func (v *fakeVendor) CreateOrder(context.Context, NewOrder) (string, error) {
	v.sends++
	return "sent", v.sendErr
}

func (v *fakeVendor) CancelOrder(context.Context, string, uint32, string) (string, error) {
	v.sends++
	return "cancel sent", v.sendErr
}

func (v *fakeVendor) UpsertShop(context.Context, ShopUpsert) (string, error) {
	v.sends++
	return "upsert sent", v.sendErr
}

func (v *fakeVendor) IssueToken(context.Context, TokenRequest) (string, error) {
	v.sends++
	return "token", v.sendErr
}

func (v *fakeVendor) DuplicateOrigin(originID string) error {
	return &vendorerr.Error{Kind: vendorerr.KindAlreadyExists, Message: "origin_id " + originID + " is another order's"}
}

func (v *fakeVendor) SuccessMessage() string { return "confirmed" }

// fakeTracker counts the orders it observes.
type fakeTracker struct{ observed int }

func (*fakeTracker) CallbackURL(context.Context, string) (string, error) { return "https://cb", nil }

func (t *fakeTracker) Observe(context.Context, *Order, store.Source) (store.Event, error) {
	t.observed++
	return store.Event{}, nil
}

// fakeUsage records what each booking was released as.
type fakeUsage struct{ released []bool }

func (u *fakeUsage) Reserve(context.Context, int64) (func(bool), error) {
	return func(applied bool) { u.released = append(u.released, applied) }, nil
}

var (
	sent      = NewOrder{OriginID: "A1", ReceiverName: "林冲", ReceiverPhone: "18942249050"}
	ours      = read{order: &Order{OriginID: "A1", ReceiverName: "林冲", ReceiverPhone: "18942249050"}}
	another   = read{order: &Order{OriginID: "A1", ReceiverName: "林冲", ReceiverPhone: "13812345678"}}
	noOrder   = read{err: &vendorerr.Error{Kind: vendorerr.KindNotFound}}
	cannotAsk = read{err: &vendorerr.Error{Kind: vendorerr.KindUnavailable}}
)

// TestCreate: a dispatch is sent at most once; an interrupted one is
// resolved by reading it back, and sent again only when the vendor shows
// no order under its origin_id.
func TestCreate(t *testing.T) {
	t.Parallel()
	duplicate := &vendorerr.Error{Kind: vendorerr.KindAlreadyExists}
	tests := []struct {
		name         string
		attempt      idempotency.Attempt
		reads        []read
		sendErr      error
		wantMsg      string
		wantSends    int
		wantObserved int
		wantErr      func(error) bool
	}{
		{name: "first attempt", reads: []read{noOrder}, wantMsg: "sent", wantSends: 1},
		{name: "resolved applied", attempt: idempotency.Attempt{Applied: true}, reads: []read{noOrder}, wantMsg: "confirmed"},
		{name: "interrupted, ours", attempt: idempotency.Attempt{Interrupted: true}, reads: []read{ours},
			wantMsg: "confirmed", wantObserved: 1},
		{name: "interrupted, another receiver's", attempt: idempotency.Attempt{Interrupted: true}, reads: []read{another},
			wantErr: func(err error) bool { return vendorerr.IsKind(err, vendorerr.KindAlreadyExists) }},
		{name: "interrupted, not there", attempt: idempotency.Attempt{Interrupted: true}, reads: []read{noOrder},
			wantMsg: "sent", wantSends: 1},
		{name: "interrupted, landed after the read", attempt: idempotency.Attempt{Interrupted: true},
			reads: []read{noOrder, ours}, sendErr: duplicate, wantMsg: "confirmed", wantSends: 1, wantObserved: 1},
		{name: "interrupted, vendor cannot be asked", attempt: idempotency.Attempt{Interrupted: true}, reads: []read{cannotAsk},
			wantErr: func(err error) bool { return errors.Is(err, idempotency.ErrCannotTell) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &fakeVendor{reads: tt.reads, sendErr: tt.sendErr}
			tr := &fakeTracker{}
			d := New(v, nil, Options{Tracker: tr})
			got, err := d.Create(context.Background(), tt.attempt, sent)
			if tt.wantErr != nil {
				if !tt.wantErr(err) {
					t.Fatalf("got %v, want a matching error", err)
				}
			} else if err != nil || got != (Created{OriginID: "A1", VendorMessage: tt.wantMsg}) {
				t.Fatalf("got %+v, %v, want message %q", got, err, tt.wantMsg)
			}
			if v.sends != tt.wantSends {
				t.Errorf("got %d sends, want %d", v.sends, tt.wantSends)
			}
			if tr.observed != tt.wantObserved {
				t.Errorf("got %d orders observed, want %d", tr.observed, tt.wantObserved)
			}
		})
	}
}

// TestCreateBooksTheDispatch: a dispatch's booking is kept when it may have
// happened and released when it certainly did not.
func TestCreateBooksTheDispatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		sendErr error
		want    bool
	}{
		{"dispatched", nil, true},
		{"refused", &vendorerr.Error{Kind: vendorerr.KindRefused}, false},
		{"duplicate", &vendorerr.Error{Kind: vendorerr.KindAlreadyExists}, false},
		{"outcome unknown", &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := &fakeUsage{}
			d := New(&fakeVendor{sendErr: tt.sendErr}, nil, Options{Usage: u, DispatchPriceFen: 500})
			_, _ = d.Create(context.Background(), idempotency.Attempt{}, sent)
			if len(u.released) != 1 || u.released[0] != tt.want {
				t.Errorf("got releases %v, want [%v]", u.released, tt.want)
			}
		})
	}
}

// TestCancel: an interrupted cancel is not sent again when the order shows
// cancelled.
func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		reads     []read
		wantMsg   string
		wantSends int
	}{
		{"cancelled", []read{{order: &Order{RawStatus: "5"}}}, "", 0},
		{"waiting", []read{{order: &Order{RawStatus: "0"}}}, "cancel sent", 1},
		{"a status the map does not name", []read{{order: &Order{RawStatus: "9"}}}, "cancel sent", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &fakeVendor{reads: tt.reads}
			msg, err := New(v, statuses{}, Options{}).Cancel(context.Background(), idempotency.Attempt{Interrupted: true}, "A1", 1, "")
			if err != nil || msg != tt.wantMsg || v.sends != tt.wantSends {
				t.Errorf("got %q, %v, %d sends, want %q, %d sends", msg, err, v.sends, tt.wantMsg, tt.wantSends)
			}
		})
	}
}

// TestIssueTokenResolvedApplied: a token found issued cannot be rebuilt.
func TestIssueTokenResolvedApplied(t *testing.T) {
	t.Parallel()
	v := &fakeVendor{}
	_, err := New(v, nil, Options{}).IssueToken(context.Background(), "r1", idempotency.Attempt{Applied: true}, TokenRequest{})
	d, ok := domainerr.As(err)
	if !ok || d.Kind != domainerr.KindFailedPrecondition || d.Reason != reasonTokenNotRecorded {
		t.Errorf("got %v, want FAILED_PRECONDITION %s", err, reasonTokenNotRecorded)
	}
	if v.sends != 0 {
		t.Errorf("got %d sends, want 0", v.sends)
	}
}
