// Package billing is what is particular to 30post's money movements
// (recharges and deductions): the amount rules, the vendor calls, and what
// their results mean to internal/idempotency, the one at-most-once engine,
// which keeps every request_id, answers repeats, and holds an unknown
// outcome until an operator resolves it.
//
// 30post offers no way to ask whether a movement happened: a movement whose
// answer never came is an unknown outcome (vendorerr.KindOutcomeUnknown),
// and a repeat of it (idempotency.Attempt.Interrupted) is
// idempotency.ErrCannotTell, never a second send. A movement that was never
// sent, or that 30post refused, certainly did not apply: its error goes
// back as it is, and the engine frees the request_id.
package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/vendorgate/vendorgate/internal/crashpoint"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/money"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
)

// The RPCs of the money movements, as the engine records them
// (idempotency.Operation.Method).
const (
	MethodRecharge = "Recharge"
	MethodDeduct   = "Deduct"
)

// ErrorInfo reasons of this package (field amount).
const (
	ReasonAmountMalformed   = "AMOUNT_MALFORMED"
	ReasonAmountNotPositive = "AMOUNT_NOT_POSITIVE"
	ReasonAmountTooLarge    = "AMOUNT_TOO_LARGE"
)

// Kind is what a movement does.
type Kind string

// The movement kinds.
const (
	KindRecharge  Kind = "RECHARGE"
	KindDeduction Kind = "DEDUCTION"
)

// Method is the RPC of kind k.
func (k Kind) Method() string {
	if k == KindDeduction {
		return MethodDeduct
	}
	return MethodRecharge
}

// State is where a movement stands, as a caller is told.
type State string

// The states a movement's answer has.
const (
	// StateSucceeded: 30post answered success 1.
	StateSucceeded State = "SUCCEEDED"
	// StateApplied: the outcome was unknown and an operator found it
	// applied.
	StateApplied State = "APPLIED"
)

// Request is one money movement.
type Request struct {
	// Kind is KindRecharge or KindDeduction.
	Kind Kind
	// Phone and Email name the account.
	Phone, Email string
	// Amount is a positive decimal string; Check renders it with 2
	// decimals.
	Amount string
	// ExpressNo is the deduction's tracking number.
	ExpressNo string
}

// Movement is a movement's answer.
type Movement struct {
	Request
	// RequestID is the caller's idempotency key.
	RequestID string
	// State is StateSucceeded or StateApplied.
	State State
	// VendorMessage is 30post's message, if any.
	VendorMessage string
	// CreatedAt is when the movement was first asked for.
	CreatedAt time.Time
	// Resolutions are the findings that settled an unknown outcome.
	Resolutions []idempotency.Resolution
}

// Vendor is what billing needs of 30post.
type Vendor interface {
	Recharge(ctx context.Context, a post30.Account, amount string) (post30.Reply, error)
	Deduct(ctx context.Context, a post30.Account, amount, expressNo string) (post30.Reply, error)
	CloseBatch(ctx context.Context, batchName string) (post30.Reply, error)
}

// Records is what billing needs of the engine's records
// (*idempotency.Store): an operation, to rebuild an applied movement, and
// the unresolved ones, for the gauge.
type Records interface {
	Get(ctx context.Context, requestID string) (idempotency.Operation, error)
}

// Options configure a Service.
type Options struct {
	// MaxAmountFen is the largest amount accepted, in fen (cents)
	// (POST30_MAX_AMOUNT).
	MaxAmountFen int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service runs money movements.
type Service struct {
	vendor  Vendor
	records Records
	opts    Options
}

// New returns a Service over 30post and the engine's records.
func New(v Vendor, records Records, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{vendor: v, records: records, opts: opts}
}

// Check applies the amount rules and returns r with its amount as sent
// ("100.5" becomes "100.50"), so that two spellings of one amount are one
// request under a request_id.
func (s *Service) Check(r Request) (Request, error) {
	fen, err := money.ParseYuan(r.Amount)
	if err != nil {
		return Request{}, domainerr.InvalidArgument("amount", ReasonAmountMalformed, err.Error())
	}
	if fen <= 0 {
		return Request{}, domainerr.InvalidArgument("amount", ReasonAmountNotPositive, "must be positive")
	}
	if fen > s.opts.MaxAmountFen {
		return Request{}, domainerr.InvalidArgument("amount", ReasonAmountTooLarge,
			fmt.Sprintf("must be at most %s, is %s", money.Yuan(s.opts.MaxAmountFen), money.Yuan(fen)))
	}
	r.Amount = money.Yuan(fen)
	return r, nil
}

// Move is the engine's call for the movement r (checked) under requestID:
// it sends r once on a fresh attempt, rebuilds its answer without sending
// when it was resolved applied, and answers idempotency.ErrCannotTell to a
// repeat of an unknown outcome, since 30post cannot be asked.
func (s *Service) Move(ctx context.Context, requestID string, a idempotency.Attempt, r Request) (Movement, error) {
	m := Movement{Request: r, RequestID: requestID}
	switch {
	case a.Applied:
		op, err := s.records.Get(ctx, requestID)
		if err != nil {
			return Movement{}, err
		}
		m.State, m.CreatedAt, m.Resolutions = StateApplied, op.CreatedAt, op.Resolutions
		return m, nil
	case a.Interrupted:
		return Movement{}, idempotency.ErrCannotTell
	}
	m.CreatedAt = s.opts.Now().UTC().Truncate(time.Millisecond)
	// The call runs to its end even when the caller leaves, so that its
	// outcome is recorded; vendorcall bounds it with its own timeout.
	ctx = context.WithoutCancel(ctx)
	acct := post30.Account{Phone: r.Phone, Email: r.Email}
	var (
		reply post30.Reply
		err   error
	)
	if r.Kind == KindDeduction {
		reply, err = s.vendor.Deduct(ctx, acct, r.Amount, r.ExpressNo)
	} else {
		reply, err = s.vendor.Recharge(ctx, acct, r.Amount)
	}
	// A test kills the process here: 30post has answered and nothing is
	// recorded yet.
	crashpoint.Hit("billing.after-vendor:" + string(r.Kind))
	if err != nil {
		return Movement{}, verdict(err)
	}
	m.State, m.VendorMessage = StateSucceeded, reply.Message
	return m, nil
}

// verdict is what a failed movement means to the engine: a failure that
// certainly did not apply (never sent, refused, throttled) goes back as it
// is and frees the request_id; anything else may have moved money and is an
// unknown outcome, kept for an operator.
func verdict(err error) error {
	if vendorerr.NotApplied(err) || idempotency.MayHaveApplied(err) {
		return err
	}
	out := &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: post30.Vendor,
		Message: "30post's answer does not say whether the movement was applied", Err: err}
	if ve, ok := vendorerr.As(err); ok {
		out.Endpoint, out.HTTPStatus, out.Code = ve.Endpoint, ve.HTTPStatus, ve.Code
		if ve.Message != "" {
			out.Message += ": " + ve.Message
		}
	}
	return out
}

// CloseBatch closes 30post's batch batchName and returns 30post's
// message. It moves no money: a failure goes back as it is.
func (s *Service) CloseBatch(ctx context.Context, batchName string) (string, error) {
	r, err := s.vendor.CloseBatch(ctx, batchName)
	if err != nil {
		return "", err
	}
	return r.Message, nil
}
