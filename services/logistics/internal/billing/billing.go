// Package billing moves money on 30post accounts at most once. Every
// recharge and deduction carries the caller's request_id and is recorded
// before the vendor is called; a repeat gets the first outcome without a
// vendor call; nothing is retried; a call whose answer never came is
// UNKNOWN until an operator resolves it, and is counted in a gauge.
//
// While a movement is out, its sender holds a lock on its request_id that
// spans replicas (coord.Locks: a Postgres advisory lock, released by the
// database when the process dies). A repeat that finds the lock held, on
// any replica, is ABORTED with a retry-after; a PENDING record whose lock
// is free was left by a process that died with the call out: it becomes
// UNKNOWN, is never re-sent, and is listed for an operator.
package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/crashpoint"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
	"github.com/vendorgate/vendorgate/services/logistics/internal/store"
)

// ErrorInfo reasons of this package.
const (
	ReasonOutcomeUnknown     = "OUTCOME_UNKNOWN"
	ReasonRequestIDReused    = "REQUEST_ID_REUSED"
	ReasonInProgress         = "OPERATION_IN_PROGRESS"
	ReasonNotApplied         = "OPERATION_NOT_APPLIED"
	ReasonVendorRefused      = "VENDOR_REFUSED"
	ReasonOperationNotFound  = "OPERATION_NOT_FOUND"
	ReasonOutcomeKnown       = "OPERATION_OUTCOME_KNOWN"
	ReasonAmountTooLarge     = "AMOUNT_TOO_LARGE"
	ReasonAmountNotPositive  = "AMOUNT_NOT_POSITIVE"
	metaRequestID            = "request_id"
	metaVendor               = "vendor"
	metaVendorMessage        = "vendor_message"
	defaultTTL               = 24 * time.Hour
	maxReclaimed             = 1000
	gaugeName                = "vendorgate_billing_unresolved_operations"
	gaugeScrapeTimeout       = 2 * time.Second
	inProgressRetryAfterHint = time.Second
)

// Vendor is what billing needs of 30post.
type Vendor interface {
	Recharge(ctx context.Context, a post30.Account, amount string) (post30.Reply, error)
	Deduct(ctx context.Context, a post30.Account, amount, expressNo string) (post30.Reply, error)
}

// Locker takes locks that span replicas (coord.Locks). TryLock does not
// wait: ok is false while another holder, in any replica, has key.
type Locker interface {
	TryLock(ctx context.Context, key string) (unlock func(), ok bool, err error)
}

// Request is one money movement.
type Request struct {
	// RequestID is the caller's idempotency key.
	RequestID string
	// Kind is store.KindRecharge or store.KindDeduction.
	Kind store.Kind
	// Phone and Email name the account.
	Phone, Email string
	// Amount is a positive decimal string with at most 2 decimals.
	Amount string
	// ExpressNo is the deduction's tracking number.
	ExpressNo string
}

// Options configure a Service.
type Options struct {
	// MaxAmountFen is the largest amount accepted, in fen (cents).
	MaxAmountFen int64
	// Locks hold a movement's request_id while it is out (required).
	Locks Locker
	// TTL is how long a request_id with a known outcome is remembered
	// (REQUEST_ID_TTL); 0 means 24 h. Unresolved movements never expire.
	TTL time.Duration
	// Registerer receives the unresolved gauge; nil records none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service runs money movements.
type Service struct {
	vendor Vendor
	store  *store.Store
	opts   Options
}

// New returns a Service and registers its gauge.
func New(v Vendor, st *store.Store, opts Options) (*Service, error) {
	if opts.Locks == nil {
		return nil, errors.New("billing: Locks is required")
	}
	if opts.TTL <= 0 {
		opts.TTL = defaultTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{vendor: v, store: st, opts: opts}
	if opts.Registerer != nil {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: gaugeName,
			Help: "30post money movements whose outcome is unknown and awaits an operator's ResolveOperation.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), gaugeScrapeTimeout)
			defer cancel()
			if err := s.reclaim(ctx); err != nil {
				return -1
			}
			n, err := st.CountUnresolved(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		})
		if err := opts.Registerer.Register(g); err != nil {
			return nil, fmt.Errorf("billing: %w", err)
		}
	}
	return s, nil
}

// lockKey is the lock a movement's sender holds while it is out.
func lockKey(requestID string) string { return "logistics.billing:" + requestID }

// inFlight is the answer to a repeat while the first call is out.
func inFlight(requestID string) error {
	return &domainerr.Error{Kind: domainerr.KindAborted, Reason: ReasonInProgress,
		Message: "this request_id is being sent; ask again shortly", RetryAfter: inProgressRetryAfterHint,
		Metadata: map[string]string{metaRequestID: requestID}}
}

// msgDied is the vendor_message of a movement whose sender died with the
// call out.
const msgDied = "the process sending this movement stopped before 30post's answer was recorded"

// reclaimOne turns requestID's PENDING record into UNKNOWN when no
// replica holds its lock (its sender died). held reports a live sender.
func (s *Service) reclaimOne(ctx context.Context, requestID string) (held bool, err error) {
	unlock, ok, err := s.opts.Locks.TryLock(ctx, lockKey(requestID))
	if err != nil {
		return false, err
	}
	if !ok {
		return true, nil
	}
	defer unlock()
	_, err = s.store.MarkUnknown(ctx, requestID, msgDied, s.opts.Now())
	return false, err
}

// reclaim turns every PENDING record whose sender died into UNKNOWN, so
// that the operator's list and the gauge show it.
func (s *Service) reclaim(ctx context.Context) error {
	ids, err := s.store.Pending(ctx, maxReclaimed)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.reclaimOne(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// ParseFen parses a positive decimal amount with at most 2 decimals into
// fen.
func ParseFen(amount string) (int64, error) {
	whole, frac, hasFrac := strings.Cut(amount, ".")
	if whole == "" || len(frac) > 2 || (hasFrac && frac == "") {
		return 0, fmt.Errorf("%q is not a decimal with at most 2 decimals", amount)
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err := strconv.ParseUint(whole, 10, 40)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal with at most 2 decimals", amount)
	}
	f, err := strconv.ParseUint(frac, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal with at most 2 decimals", amount)
	}
	return int64(w)*100 + int64(f), nil
}

// FormatFen renders fen as a decimal string with 2 decimals.
func FormatFen(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

// Move runs r at most once and returns its operation. A repeat returns the
// first outcome without calling the vendor.
func (s *Service) Move(ctx context.Context, r Request) (store.Operation, error) {
	fen, err := ParseFen(r.Amount)
	if err != nil {
		return store.Operation{}, domainerr.InvalidArgument("amount", "AMOUNT_MALFORMED", err.Error())
	}
	if fen <= 0 {
		return store.Operation{}, domainerr.InvalidArgument("amount", ReasonAmountNotPositive, "must be positive")
	}
	if fen > s.opts.MaxAmountFen {
		return store.Operation{}, domainerr.InvalidArgument("amount", ReasonAmountTooLarge,
			fmt.Sprintf("must be at most %s, is %s", FormatFen(s.opts.MaxAmountFen), FormatFen(fen)))
	}
	r.Amount = FormatFen(fen)
	reused := func(op store.Operation) error {
		if op.Kind != r.Kind || op.Phone != r.Phone || op.Email != r.Email || op.Amount != r.Amount || op.ExpressNo != r.ExpressNo {
			return domainerr.InvalidArgument("request_id", ReasonRequestIDReused,
				"was used for a different request; choose a new request_id for a new movement")
		}
		return nil
	}
	unlock, ok, err := s.opts.Locks.TryLock(ctx, lockKey(r.RequestID))
	if err != nil {
		return store.Operation{}, fmt.Errorf("lock request_id %s: %w", r.RequestID, err)
	}
	if !ok {
		// Another call with this request_id is out, here or on another
		// replica; a different request under the same id is told so.
		if op, err := s.store.Get(ctx, r.RequestID); err == nil {
			if err := reused(op); err != nil {
				return store.Operation{}, err
			}
		}
		return store.Operation{}, inFlight(r.RequestID)
	}
	defer unlock()
	now := s.opts.Now()
	op, created, err := s.store.Begin(ctx, store.Operation{
		RequestID: r.RequestID, Kind: r.Kind, Phone: r.Phone, Email: r.Email, Amount: r.Amount, ExpressNo: r.ExpressNo,
		CreatedAt: now.Truncate(time.Millisecond), // as the store keeps it
	}, now.Add(-s.opts.TTL))
	if err != nil {
		return store.Operation{}, err
	}
	if !created {
		if err := reused(op); err != nil {
			return store.Operation{}, err
		}
		if op.State == store.StatePending {
			// We hold its lock, so its sender died with the call out: the
			// movement may have been applied. Never re-sent.
			if _, err := s.store.MarkUnknown(ctx, r.RequestID, msgDied, s.opts.Now()); err != nil {
				return store.Operation{}, err
			}
			op.State, op.VendorMessage = store.StateUnknown, msgDied
		}
		return s.outcome(op)
	}

	// The call runs to its end even when the caller leaves, so that its
	// outcome is recorded; vendorcall bounds it with its own timeout.
	callCtx := context.WithoutCancel(ctx)
	acct := post30.Account{Phone: r.Phone, Email: r.Email}
	var reply post30.Reply
	if r.Kind == store.KindDeduction {
		reply, err = s.vendor.Deduct(callCtx, acct, r.Amount, r.ExpressNo)
	} else {
		reply, err = s.vendor.Recharge(callCtx, acct, r.Amount)
	}
	// A test kills the process here: the vendor has answered and nothing
	// is recorded yet.
	crashpoint.Hit("billing.after-vendor:" + string(r.Kind))
	state, msg := StateOf(err), reply.Message
	if ve, ok := vendorerr.As(err); ok {
		msg = ve.Message
	}
	if err != nil && msg == "" {
		msg = err.Error()
	}
	if ferr := s.store.Finish(callCtx, r.RequestID, state, msg, s.opts.Now()); ferr != nil {
		return store.Operation{}, errors.Join(fmt.Errorf("record outcome %s of %s: %w", state, r.RequestID, ferr), err)
	}
	op.State, op.VendorMessage = state, msg
	if err != nil && state == store.StateFailed && !vendorerr.IsKind(err, vendorerr.KindRefused) {
		// Not sent, or refused before it could apply: the caller learns why.
		return store.Operation{}, err
	}
	return s.outcome(op)
}

// StateOf is the state a vendor call's result leaves an operation in: a
// refusal, or a failure known to come before the request could apply, is
// FAILED; a lost or unreadable answer, or anything unclassified, is
// UNKNOWN.
func StateOf(err error) store.State {
	if err == nil {
		return store.StateSucceeded
	}
	ve, ok := vendorerr.As(err)
	if !ok {
		return store.StateUnknown
	}
	switch ve.Kind {
	case vendorerr.KindOutcomeUnknown, vendorerr.KindUnknown:
		return store.StateUnknown
	}
	return store.StateFailed
}

// outcome is what a caller gets for op.
func (s *Service) outcome(op store.Operation) (store.Operation, error) {
	meta := map[string]string{metaRequestID: op.RequestID}
	switch op.State {
	case store.StateSucceeded, store.StateApplied:
		return op, nil
	case store.StateFailed:
		meta[metaVendor], meta[metaVendorMessage] = post30.Vendor, op.VendorMessage
		return store.Operation{}, &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Reason: ReasonVendorRefused,
			Message: "30post refused the movement: " + op.VendorMessage, Metadata: meta}
	case store.StateNotApplied:
		return store.Operation{}, &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Reason: ReasonNotApplied,
			Message: "an operator found that this movement was not applied; use a new request_id to try again", Metadata: meta}
	case store.StatePending:
		return store.Operation{}, inFlight(op.RequestID)
	}
	return store.Operation{}, &domainerr.Error{Kind: domainerr.KindUnknown, Reason: ReasonOutcomeUnknown,
		Message:  "30post's answer never came: the movement may or may not have been applied; an operator must resolve it (ResolveOperation)",
		Metadata: meta}
}

// Resolve records an operator's finding about an unresolved operation.
func (s *Service) Resolve(ctx context.Context, requestID string, applied bool, note string) (store.Operation, error) {
	outcome := store.StateNotApplied
	if applied {
		outcome = store.StateApplied
	}
	held, err := s.reclaimOne(ctx, requestID)
	if err != nil {
		return store.Operation{}, err
	}
	if held {
		return store.Operation{}, inFlight(requestID)
	}
	op, err := s.store.Resolve(ctx, requestID, outcome, note, s.opts.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Operation{}, domainerr.NotFound(ReasonOperationNotFound, fmt.Sprintf("no operation has request_id %q", requestID))
	case errors.Is(err, store.ErrNotResolvable):
		return store.Operation{}, domainerr.FailedPrecondition(ReasonOutcomeKnown,
			fmt.Sprintf("operation %q has a known outcome; only UNKNOWN operations are resolved", requestID))
	}
	return op, err
}

// ListUnresolved returns up to limit unresolved operations after cursor.
func (s *Service) ListUnresolved(ctx context.Context, after store.Cursor, limit int) ([]store.Operation, error) {
	if err := s.reclaim(ctx); err != nil {
		return nil, err
	}
	return s.store.ListUnresolved(ctx, after, limit)
}
