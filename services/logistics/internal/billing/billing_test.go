package billing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/billing"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
)

// vendor is a 30post stand-in that answers err, counting its calls.
type vendor struct {
	calls int
	err   error
}

func (v *vendor) Recharge(context.Context, post30.Account, string) (post30.Reply, error) {
	v.calls++
	if v.err != nil {
		return post30.Reply{}, v.err
	}
	return post30.Reply{Message: "ok"}, nil
}

func (v *vendor) Deduct(ctx context.Context, a post30.Account, amount, _ string) (post30.Reply, error) {
	return v.Recharge(ctx, a, amount)
}

func (v *vendor) CloseBatch(ctx context.Context, _ string) (post30.Reply, error) {
	return v.Recharge(ctx, post30.Account{}, "")
}

// records is the engine's records holding one operation.
type records struct{ op idempotency.Operation }

func (r records) Get(context.Context, string) (idempotency.Operation, error) { return r.op, nil }

func TestCheckAmounts(t *testing.T) {
	t.Parallel()
	s := billing.New(&vendor{}, records{}, billing.Options{MaxAmountFen: 100_000})
	for amount, want := range map[string]string{"100.5": "100.50", "1": "1.00", "0.01": "0.01", "1000.00": "1000.00"} {
		r, err := s.Check(billing.Request{Kind: billing.KindRecharge, Phone: "+61412345678", Amount: amount})
		if err != nil || r.Amount != want {
			t.Errorf("Check(%q): got %q, %v; want %q", amount, r.Amount, err, want)
		}
	}
	for amount, reason := range map[string]string{"1.001": billing.ReasonAmountMalformed, "0": billing.ReasonAmountNotPositive,
		"1000.01": billing.ReasonAmountTooLarge, ".5": billing.ReasonAmountMalformed, "1.": billing.ReasonAmountMalformed} {
		_, err := s.Check(billing.Request{Kind: billing.KindRecharge, Amount: amount})
		if d, ok := domainerr.As(err); !ok || d.Reason != reason || d.Field != "amount" {
			t.Errorf("Check(%q): got %v, want amount %s", amount, err, reason)
		}
	}
}

// TestMoveVerdicts: what a vendor failure means to the engine. Only a
// failure that certainly did not apply frees the request_id; anything else
// is an unknown outcome.
func TestMoveVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		err         error
		mayHaveMove bool
	}{
		{"refused", &vendorerr.Error{Kind: vendorerr.KindRefused, Vendor: post30.Vendor, Message: "余额不足"}, false},
		{"circuit open", &vendorerr.Error{Kind: vendorerr.KindCircuitOpen, Vendor: post30.Vendor}, false},
		{"dial refused", &vendorerr.Error{Kind: vendorerr.KindUnavailable, Vendor: post30.Vendor, NotSent: true}, false},
		{"unsendable", &vendorerr.Error{Kind: vendorerr.KindUnsendable, Vendor: post30.Vendor}, false},
		{"reply lost", &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: post30.Vendor}, true},
		{"unclassified 4xx", &vendorerr.Error{Kind: vendorerr.KindUnknown, Vendor: post30.Vendor, Endpoint: "/r", HTTPStatus: 418}, true},
		{"plain error", errors.New("something else"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := billing.New(&vendor{err: tt.err}, records{}, billing.Options{MaxAmountFen: 100_000})
			_, err := s.Move(context.Background(), "rid", idempotency.Attempt{}, billing.Request{Kind: billing.KindRecharge, Phone: "+61412345678", Amount: "1.00"})
			if got := idempotency.MayHaveApplied(err); got != tt.mayHaveMove {
				t.Errorf("got %v (may have applied %v), want may have applied %v", err, got, tt.mayHaveMove)
			}
			if !tt.mayHaveMove && !errors.Is(err, tt.err) {
				t.Errorf("got %v, want the vendor's error as it is", err)
			}
		})
	}
}

// TestMoveAttempts: a repeat of an unknown outcome never reaches 30post
// (ErrCannotTell); a movement resolved applied is rebuilt from the record.
func TestMoveAttempts(t *testing.T) {
	t.Parallel()
	created := time.UnixMilli(1_700_000_000_000).UTC()
	res := []idempotency.Resolution{{Outcome: idempotency.Applied, By: "ops", Note: "console", At: created.Add(time.Hour)}}
	v := &vendor{}
	s := billing.New(v, records{op: idempotency.Operation{RequestID: "rid", CreatedAt: created, Resolutions: res}}, billing.Options{MaxAmountFen: 100_000})
	r := billing.Request{Kind: billing.KindDeduction, Phone: "+61412345678", Amount: "1.00", ExpressNo: "A1"}
	ctx := context.Background()
	if _, err := s.Move(ctx, "rid", idempotency.Attempt{Interrupted: true}, r); !errors.Is(err, idempotency.ErrCannotTell) {
		t.Errorf("interrupted: got %v, want ErrCannotTell", err)
	}
	m, err := s.Move(ctx, "rid", idempotency.Attempt{Applied: true}, r)
	if err != nil || m.State != billing.StateApplied || !m.CreatedAt.Equal(created) || len(m.Resolutions) != 1 || m.ExpressNo != "A1" {
		t.Errorf("applied: got %+v, %v; want the movement rebuilt APPLIED", m, err)
	}
	if v.calls != 0 {
		t.Errorf("got %d vendor calls, want 0", v.calls)
	}
	m, err = s.Move(ctx, "rid", idempotency.Attempt{}, r)
	if err != nil || m.State != billing.StateSucceeded || m.VendorMessage != "ok" || v.calls != 1 {
		t.Errorf("fresh: got %+v, %v, %d calls; want SUCCEEDED after one call", m, err, v.calls)
	}
}
