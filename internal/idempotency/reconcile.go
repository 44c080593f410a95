package idempotency

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vendorgate/vendorgate/internal/domainerr"
)

// DefaultReconcileInterval is how often a Reconciler runs when Run is
// given no interval (<SERVICE>_RECONCILE_INTERVAL).
const DefaultReconcileInterval = 30 * time.Second

// Finding is what a Checker learned from the vendor about an operation.
type Finding struct {
	// Outcome is what the vendor's state shows; "" when it cannot tell
	// yet (the operation stays unresolved).
	Outcome Outcome
	// Response is what a repeat of the request_id returns for Applied; nil
	// means the service rebuilds it (Attempt.Applied).
	Response proto.Message
	// Note says how the vendor showed it, for the operator.
	Note string
}

// Checker asks the vendor about one unresolved operation of its method,
// with reads only: it never sends the operation again.
type Checker func(ctx context.Context, op Operation) (Finding, error)

// Reconciler resolves unknown outcomes whose vendor can be asked, without
// an operator: every interval it lists the unresolved operations and asks
// the Checker of each one's method. Operations of a method with no Checker
// (a vendor with no way to ask) are left to an operator. On PostgreSQL one
// replica at a time reconciles, behind a lock.
type Reconciler struct {
	store  *Store
	checks map[string]Checker

	// Run's: whether its last pass found nothing to do on a store only
	// this process writes, and store.begun when that pass started.
	idle   bool
	idleAt uint64
	// firstDone is closed when Run's first pass has ended.
	firstDone chan struct{}
}

// NewReconciler returns the Reconciler of s with a Checker per method.
func (s *Store) NewReconciler(checks map[string]Checker) *Reconciler {
	return &Reconciler{store: s, checks: checks, firstDone: make(chan struct{})}
}

// FirstPassDone is closed when Run's first pass, the one it runs at once,
// has ended, whatever it found.
func (r *Reconciler) FirstPassDone() <-chan struct{} { return r.firstDone }

// Once runs one pass and returns how many operations it resolved. It does
// nothing when another replica's pass holds the lock.
func (r *Reconciler) Once(ctx context.Context) (int, error) {
	resolved, _, err := r.pass(ctx)
	return resolved, err
}

// pass is Once, and also reports whether it found the store empty: no
// record in flight and none unknown, so that a pass until the next begin
// would find nothing either.
func (r *Reconciler) pass(ctx context.Context) (resolved int, empty bool, err error) {
	s := r.store
	unlock, ok, err := s.locks.TryLock(ctx, s.service+"/reconciler")
	if err != nil {
		return 0, false, err
	}
	if !ok {
		return 0, false, nil
	}
	defer unlock()
	inFlight, err := s.reap(ctx)
	if err != nil {
		return 0, false, domainerr.StoreUnavailable(err)
	}
	empty = inFlight == 0
	var after Cursor
	for {
		ops, err := s.listUnknown(ctx, after, 100)
		if err != nil {
			return resolved, false, err
		}
		if len(ops) > 0 {
			empty = false
		}
		for _, op := range ops {
			after = Cursor{CreatedAt: op.CreatedAt, RequestID: op.RequestID}
			check := r.checks[op.Method]
			if check == nil {
				continue
			}
			ok, err := r.reconcile(ctx, op, check)
			if err != nil {
				return resolved, false, err
			}
			if ok {
				resolved++
			}
		}
		if len(ops) < 100 {
			return resolved, empty, nil
		}
	}
}

// reconcile asks check about op and records what it found, under a root
// span of its own (SpanReconcile), so that its vendor calls form a trace.
// It reports whether it resolved op; an error is the store's, and ends
// the pass.
func (r *Reconciler) reconcile(ctx context.Context, op Operation, check Checker) (bool, error) {
	s := r.store
	ctx, span := s.startReconcileSpan(ctx, op)
	f, err := check(ctx, op)
	if err != nil {
		endReconcileSpan(span, "error", err)
		s.log.WarnContext(ctx, "reconciler could not ask the vendor; trying again next pass", "service", s.service,
			"request_id", op.RequestID, "method", op.Method, "error", err)
		return false, nil
	}
	if f.Outcome == "" {
		endReconcileSpan(span, "unknown", nil)
		return false, nil
	}
	note := f.Note
	if note == "" {
		note = "read back from the vendor"
	}
	_, err = s.Resolve(ctx, op.RequestID, f.Outcome, f.Response, ResolvedByReconciler, note)
	var de *domainerr.Error
	switch {
	case err == nil:
		endReconcileSpan(span, string(f.Outcome), nil)
		return true, nil
	case errors.As(err, &de) && (de.Reason == ReasonInFlight || de.Reason == ReasonOutcomeKnown):
		// A repeat of the request_id is resolving it right now.
		endReconcileSpan(span, string(f.Outcome), nil)
		return false, nil
	default:
		endReconcileSpan(span, "error", err)
		return false, err
	}
}

// Run runs a pass at once, so that what a previous process left in flight
// is resolved when a service starts, and then every interval
// (DefaultReconcileInterval when 0) until ctx ends, logging failures.
//
// On a store that only this process writes (SQLite: its file lock refuses
// a second one), a pass that found nothing to do stands until this
// process begins another call: no other writer can add a record in
// between, so the ticks until then ask the store nothing, and an idle
// service runs no query every interval (0.6-1 MiB less resident memory,
// docs/benchmarks.md). With replicas (PostgreSQL) every tick runs its
// pass.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReconcileInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	r.tick(ctx)
	close(r.firstDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.tick(ctx)
		}
	}
}

// tick is one of Run's ticks: a pass, unless the last one found nothing
// to do on a store only this process writes and no call has begun since.
// It reports whether it ran the pass.
func (r *Reconciler) tick(ctx context.Context) bool {
	s := r.store
	begun := s.begun.Load()
	if r.idle && begun == r.idleAt {
		return false
	}
	n, empty, err := r.pass(ctx)
	r.idle, r.idleAt = empty && s.db.OneProcessOnly(), begun
	if err != nil && ctx.Err() == nil {
		s.log.Warn("reconciler pass failed", "service", s.service, "error", err)
	}
	if n > 0 {
		s.log.Info("reconciler resolved unknown outcomes", "service", s.service, "resolved", n)
	}
	return true
}
