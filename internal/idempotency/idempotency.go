// Package idempotency gives every mutating RPC an optional request_id
// (AIP-155) whose guarantees hold across restarts and replicas: the first
// result of a request_id is recorded in the shared store and returned to
// every repeat without another vendor call; a different request under the
// same id is refused; a repeat while the first is in flight, on any
// replica, is told to retry later; and an attempt cut off after it may have
// reached the vendor (its process died, or the vendor's answer never came)
// is flagged to the next one, which must resolve it by reading the vendor's
// state, never by sending blindly again.
package idempotency

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/crashpoint"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

//go:embed migrations/*.sql
var migrations embed.FS

// The wire contract of every request_id, in every service (README,
// "Failures and retries"): the ErrorInfo reasons of this package. Every
// answer about a request_id carries it in the ErrorInfo metadata
// "request_id".
const (
	// ReasonReused: the request_id was first used for another request
	// (INVALID_ARGUMENT, field request_id).
	ReasonReused = "REQUEST_ID_REUSED"
	// ReasonInFlight: the request_id's first request is still running, on
	// this replica or another (ABORTED, RetryInfo).
	ReasonInFlight = "REQUEST_ID_IN_FLIGHT"
	// ReasonOutcomeUnknown: the call may or may not have been applied
	// (UNKNOWN), on the first answer and on every repeat until the
	// service's reconciler or an operator resolves it.
	ReasonOutcomeUnknown = vendorerr.ReasonOutcomeUnknown
	// ReasonNotApplied: the reconciler or an operator found that the call
	// was not applied; a new request_id may try again
	// (FAILED_PRECONDITION).
	ReasonNotApplied = "OPERATION_NOT_APPLIED"
	// ReasonOperationNotFound: ResolveOperation of a request_id with no
	// record (NOT_FOUND).
	ReasonOperationNotFound = "OPERATION_NOT_FOUND"
	// ReasonOutcomeKnown: ResolveOperation of a request_id whose outcome
	// is known (FAILED_PRECONDITION).
	ReasonOutcomeKnown = "OPERATION_OUTCOME_KNOWN"
)

// metaRequestID is the ErrorInfo metadata key naming the request_id.
const metaRequestID = "request_id"

// DefaultTTL is how long a record is kept when Options.TTL is 0.
const DefaultTTL = 24 * time.Hour

// DefaultStoreTimeout bounds each store call when Options.StoreTimeout is 0.
const DefaultStoreTimeout = 5 * time.Second

// inFlightRetryAfter is the retry-after hint of ReasonInFlight.
const inFlightRetryAfter = time.Second

// The record states.
const (
	stateInFlight = "IN_FLIGHT"
	stateDone     = "DONE"
	// stateUnknown: the call may have been applied and no answer says so.
	stateUnknown = "UNKNOWN"
	// stateApplied: resolved applied without a recorded response; a repeat
	// runs the call with Attempt.Applied to rebuild it without sending.
	stateApplied    = "APPLIED"
	stateNotApplied = "NOT_APPLIED"
)

// Outcome is a resolution's finding.
type Outcome string

// The outcomes of a resolution.
const (
	// Applied: the vendor applied the call.
	Applied Outcome = "APPLIED"
	// NotApplied: the vendor did not apply it.
	NotApplied Outcome = "NOT_APPLIED"
)

// ResolvedByReconciler is the Resolution.By of the service's reconciler.
const ResolvedByReconciler = "reconciler"

// Options configure a Store.
type Options struct {
	// TTL is how long a record with a known outcome lives
	// (REQUEST_ID_TTL); 0 means DefaultTTL. An expired request_id is new
	// again. Unknown outcomes never expire.
	TTL time.Duration
	// StoreTimeout bounds every store call (<SERVICE>_DATABASE_TIMEOUT);
	// 0 means DefaultStoreTimeout.
	StoreTimeout time.Duration
	// Locks hold a request_id while its call runs; nil means
	// coord.NewLocks(db). Pass the service's own to share them.
	Locks coord.Locks
	// Logger receives commit failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TracerProvider starts the root span of each operation the
	// Reconciler checks with its vendor (the service's provider, the one
	// its servers trace with), so that the vendor and store spans of that
	// background work form a trace; nil records none.
	TracerProvider trace.TracerProvider
}

// Store keeps one service's request_id records. It is safe for concurrent
// use, by any number of replicas sharing the database.
type Store struct {
	db      *sqlstore.DB
	service string
	ttl     time.Duration
	timeout time.Duration
	locks   coord.Locks
	log     *slog.Logger
	now     func() time.Time

	onResolve func(ctx context.Context, requestID string, applied bool) error
	tracer    trace.Tracer

	// begun counts begin's writes, each once it returned, whether it
	// failed or not: every record that can become unresolved starts as
	// one, so while the count stands still this process has added none
	// (Reconciler.Run).
	begun atomic.Uint64
	// written counts the writes to the service's records by every Store
	// on this handle, each once it returned, whether it failed or not;
	// counted is CountUnresolved's last answer on a store only this
	// process writes, good while written stands still.
	written *atomic.Uint64
	counted countMemo
}

// writtenKey keys a service's write count among its handle's values.
type writtenKey struct{ service string }

// OnResolve sets f to learn of every resolution after it is recorded, e.g.
// the usage ledger's usage.Ledger.Resolve, which turns the cost booked for
// an unknown outcome into a known one or takes it back. A failure of f is
// logged; the resolution stands.
func (s *Store) OnResolve(f func(ctx context.Context, requestID string, applied bool) error) {
	s.onResolve = f
}

// New returns the records of service (e.g. "delivery") in db, creating
// their table when missing.
func New(ctx context.Context, db *sqlstore.DB, service string, opts Options) (*Store, error) {
	if service == "" {
		return nil, errors.New("idempotency: empty service name")
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := sqlstore.Migrate(ctx, db, sub, service+"_idempotency_goose_db_version", opts.Logger); err != nil {
		return nil, err
	}
	s := &Store{db: db, service: service, ttl: opts.TTL, timeout: opts.StoreTimeout, locks: opts.Locks, log: opts.Logger, now: opts.Now,
		written: db.Value(writtenKey{service}, func() any { return new(atomic.Uint64) }).(*atomic.Uint64)}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.timeout <= 0 {
		s.timeout = DefaultStoreTimeout
	}
	if s.locks == nil {
		s.locks = coord.NewLocks(db)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	s.tracer = tp.Tracer(tracerName)
	return s, nil
}

// Attempt tells a call what came before it under its request_id.
type Attempt struct {
	// Interrupted is true when an earlier attempt with this request_id may
	// have reached the vendor without its outcome being recorded: its
	// process died mid-call, or the vendor's answer never came. The call
	// must find out from the vendor's state (e.g. read the order back by
	// the vendor's own duplicate key) or, where the vendor cannot tell,
	// return ErrCannotTell; it must not simply send again.
	Interrupted bool
	// Applied is true when the reconciler or an operator found the call
	// applied without a response to record: the call must build its
	// response without sending (e.g. from the vendor's state, or from the
	// request), or return ErrCannotTell.
	Applied bool

	found *Outcome // where Found records, for the engine
}

// Found tells the engine what an Interrupted attempt learned from the
// vendor about the earlier call: Applied (it had landed, late or not) or
// NotApplied (it had not, and this attempt sent it anew). The cost the
// usage ledger booked for the earlier call, while its outcome was unknown,
// then becomes known or goes away (OnResolve). An interrupted attempt that
// succeeds and says nothing is taken as having found the earlier call
// applied.
func (a Attempt) Found(o Outcome) {
	if a.found != nil {
		*a.found = o
	}
}

// ErrCannotTell is what a call returns for an Interrupted attempt whose
// vendor offers no way to learn the outcome: the record stays UNKNOWN and
// the caller gets UNKNOWN OUTCOME_UNKNOWN again, until an operator resolves
// it.
var ErrCannotTell = errors.New("the vendor cannot tell whether the call was applied")

// ResolvedByService is the Resolution.By of an interrupted attempt that
// found the outcome itself (FoundNotApplied).
const ResolvedByService = "vendorgate"

// foundNotApplied marks an interrupted attempt's error that settles the
// earlier call as not applied.
type foundNotApplied struct{ err error }

func (f foundNotApplied) Error() string { return f.err.Error() }
func (f foundNotApplied) Unwrap() error { return f.err }

// FoundNotApplied wraps the error an Interrupted attempt returns when it
// found for certain, from the vendor's state, that the earlier call was not
// applied as asked (e.g. the vendor holds other content under the id): the
// record is resolved NOT_APPLIED at once (by "vendorgate", with err's text as
// the note), every later repeat gets OPERATION_NOT_APPLIED, and this
// attempt's caller gets err.
func FoundNotApplied(err error) error { return foundNotApplied{err} }

// InFlight is the answer to a request_id whose first request is running.
func InFlight(requestID string) error {
	return &domainerr.Error{Kind: domainerr.KindAborted, Reason: ReasonInFlight, RetryAfter: inFlightRetryAfter,
		Message:  "request_id " + requestID + " is still being processed; retry after it finishes",
		Metadata: map[string]string{metaRequestID: requestID}}
}

// Reused is the answer to a request_id first used for another request.
func Reused(requestID string) error {
	e := domainerr.InvalidArgument("request_id", ReasonReused,
		"was used before for a different request; use a new request_id for a new request")
	e.Metadata = map[string]string{metaRequestID: requestID}
	return e
}

// OutcomeUnknown is the answer to a request_id whose call may or may not
// have been applied. cause, when it is a vendor failure, adds the vendor's
// words to the metadata; it is kept for the log.
func OutcomeUnknown(requestID string, cause error) error {
	meta := map[string]string{metaRequestID: requestID}
	if ve, ok := vendorerr.As(cause); ok {
		meta["vendor"], meta["endpoint"], meta["vendor_message"] = ve.Vendor, ve.Endpoint, ve.Message
	}
	e := &domainerr.Error{Kind: domainerr.KindUnknown, Reason: ReasonOutcomeUnknown, Metadata: meta,
		Message: "the call under request_id " + requestID + " may or may not have been applied, and no answer says which; " +
			"do not send it again under a new request_id: repeat this request_id later, once the service's reconciler " +
			"or an operator (ListUnresolvedOperations, ResolveOperation) has resolved it"}
	return e.WithCause(cause)
}

// NotAppliedError is the answer to a request_id found not applied.
func NotAppliedError(requestID string) error {
	return &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Reason: ReasonNotApplied,
		Message:  "the call under request_id " + requestID + " was found not applied; use a new request_id to try again",
		Metadata: map[string]string{metaRequestID: requestID}}
}

// Run runs call at most once per request_id (see the package comment) and
// returns its response, or the response recorded for an earlier identical
// request. An empty requestID runs call without a record. method names the
// RPC; the request's fingerprint is its deterministic protobuf encoding
// without its request_id field, and the request is kept for the
// reconciler and the operator.
func Run[Resp proto.Message](ctx context.Context, s *Store, method, requestID string, req proto.Message,
	call func(context.Context, Attempt) (Resp, error)) (Resp, error) {
	var kept []byte
	if requestID != "" && req != nil {
		kept, _ = proto.MarshalOptions{Deterministic: true}.Marshal(req)
	}
	return run(ctx, s, method, requestID, Fingerprint(req), kept, call)
}

// RunFingerprint is Run with a fingerprint of the caller's making, for a
// request that is not one message (e.g. a streamed upload: Fingerprint of
// its header and of its bytes' hash). kept is what the reconciler gets as
// Operation.Request (e.g. the header's encoding), or nil.
func RunFingerprint[Resp proto.Message](ctx context.Context, s *Store, method, requestID, fingerprint string, kept []byte,
	call func(context.Context, Attempt) (Resp, error)) (Resp, error) {
	return run(ctx, s, method, requestID, fingerprint, kept, call)
}

func run[Resp proto.Message](ctx context.Context, s *Store, method, requestID, fingerprint string, kept []byte,
	call func(context.Context, Attempt) (Resp, error)) (Resp, error) {
	var zero Resp
	if requestID == "" {
		return call(ctx, Attempt{})
	}
	// A resolution this attempt finds is passed on to OnResolve's hook
	// after the lock is released (deferred before the unlock, so it runs
	// after it).
	var settle func()
	defer func() {
		if settle != nil {
			settle()
		}
	}()
	unlock, ok, err := s.tryLock(ctx, requestID)
	if err != nil {
		return zero, err
	}
	if !ok {
		return zero, InFlight(requestID)
	}
	defer unlock()

	rec, found, err := s.get(ctx, requestID)
	if err != nil {
		return zero, domainerr.StoreUnavailable(err)
	}
	attempt := Attempt{}
	switch {
	case !found:
		if err := s.begin(ctx, requestID, method, fingerprint, kept); err != nil {
			return zero, domainerr.StoreUnavailable(err)
		}
	case rec.method != method || rec.fingerprint != fingerprint:
		return zero, Reused(requestID)
	case rec.state == stateDone:
		resp := zero.ProtoReflect().New().Interface().(Resp)
		if err := proto.Unmarshal(rec.response, resp); err != nil {
			return zero, fmt.Errorf("idempotency: decode the recorded response of %s: %w", requestID, err)
		}
		return resp, nil
	case rec.state == stateNotApplied:
		return zero, NotAppliedError(requestID)
	case rec.state == stateApplied:
		attempt.Applied = true
	default:
		// IN_FLIGHT with nobody holding it (its process died), or
		// UNKNOWN: the vendor may have applied it.
		attempt.Interrupted = true
	}
	var finding Outcome
	attempt.found = &finding

	resp, err := call(ctx, attempt)
	if attempt.Interrupted && finding != "" {
		settle = func() { s.settled(context.WithoutCancel(ctx), requestID, finding == Applied) }
	}
	var settled foundNotApplied
	switch {
	case err == nil:
	case attempt.Applied && (errors.Is(err, ErrCannotTell) || MayHaveApplied(err)):
		// Resolved applied, and the response cannot be rebuilt now: the
		// resolution stands, and the caller is told as much as is known.
		return zero, OutcomeUnknown(requestID, err)
	case attempt.Applied:
		// The resolution stands; the caller learns why the response
		// could not be rebuilt this time.
		return zero, err
	case attempt.Interrupted && errors.As(err, &settled):
		if _, rerr := s.resolveHeld(ctx, requestID, NotApplied, nil, ResolvedByService, settled.err.Error()); rerr != nil {
			s.log.Error("a call found not applied could not be recorded so; it stays unknown", "service", s.service,
				"request_id", requestID, "error", rerr)
			s.unknown(requestID, method, err)
		} else {
			settle = func() { s.settled(context.WithoutCancel(ctx), requestID, false) }
		}
		return zero, settled.err
	case errors.Is(err, ErrCannotTell) || MayHaveApplied(err):
		s.unknown(requestID, method, err)
		return zero, OutcomeUnknown(requestID, err)
	case attempt.Interrupted:
		// A read-back that failed (the vendor unavailable, say) leaves
		// the outcome as unknown as it was; the caller may retry.
		s.unknown(requestID, method, err)
		return zero, err
	default:
		s.forget(requestID)
		return zero, err
	}
	crashpoint.Hit("idempotency.before-commit:" + method)
	if err := s.done(requestID, resp); err != nil {
		// The vendor applied the call and its answer cannot be recorded:
		// the caller is told the outcome is unknown (never INTERNAL, which
		// would invite a new request_id and a second application), and
		// the record is marked UNKNOWN as soon as the store is back, for
		// the reconciler or an operator.
		s.log.Error("request_id outcome not recorded: answering OUTCOME_UNKNOWN; the record becomes UNKNOWN when the store is back",
			"service", s.service, "method", method, "request_id", requestID, "error", err)
		go s.markUnknownWhenBack(requestID, method, "the vendor answered, and its answer could not be recorded: "+err.Error())
		return zero, OutcomeUnknown(requestID, err)
	}
	if attempt.Interrupted && finding == "" {
		// The attempt succeeded and said nothing of the earlier call
		// (Found): it is taken as applied, which errs on the money side.
		settle = func() { s.settled(context.WithoutCancel(ctx), requestID, true) }
	}
	return resp, nil
}

// tryLock takes requestID's lock within the store timeout; a store that
// does not answer is STORE_UNAVAILABLE.
func (s *Store) tryLock(ctx context.Context, requestID string) (func(), bool, error) {
	lctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	unlock, ok, err := s.locks.TryLock(lctx, s.lockKey(requestID))
	if err != nil {
		return nil, false, domainerr.StoreUnavailable(fmt.Errorf("idempotency: hold request_id %s: %w", requestID, err))
	}
	return unlock, ok, nil
}

func (s *Store) lockKey(requestID string) string { return s.service + "/request_id/" + requestID }

// unknown records that requestID's call may have been applied.
func (s *Store) unknown(requestID, method string, cause error) {
	note := "no answer came"
	if cause != nil {
		note = cause.Error()
	}
	if err := s.markUnknown(requestID, note); err != nil {
		s.log.Error("unknown outcome not recorded; retrying until the store is back", "service", s.service,
			"method", method, "request_id", requestID, "error", err)
		go s.markUnknownWhenBack(requestID, method, note)
	}
}

// markUnknownWhenBack retries marking requestID UNKNOWN for up to an hour,
// with growing waits: the store was down when its outcome became unknown.
// Until it succeeds the record reads IN_FLIGHT, which a repeat or the
// reconciler treats as unknown once no process holds its lock.
func (s *Store) markUnknownWhenBack(requestID, method, note string) {
	wait := time.Second
	for deadline := time.Now().Add(time.Hour); time.Now().Before(deadline); {
		time.Sleep(wait)
		if err := s.markUnknown(requestID, note); err == nil {
			s.log.Warn("unknown outcome recorded now that the store is back", "service", s.service,
				"method", method, "request_id", requestID)
			return
		}
		wait = min(2*wait, time.Minute)
	}
}

// markUnknown sets requestID's record UNKNOWN with note, unless it has a
// known outcome.
func (s *Store) markUnknown(requestID, note string) error {
	defer s.written.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `UPDATE idempotency_records SET state = $3, finished_at = $4
		WHERE service = $1 AND request_id = $2 AND state IN ($5, $3)`,
		s.service, requestID, stateUnknown, s.now().UnixMilli(), stateInFlight); err != nil {
		return fmt.Errorf("idempotency: record unknown outcome of %s: %w", requestID, err)
	}
	// The first note says most (e.g. what the vendor answered before the
	// record failed); a repeat's "cannot tell" does not replace it.
	_, err := s.db.ExecContext(ctx, `UPDATE idempotency_requests SET note = $3 WHERE service = $1 AND request_id = $2 AND note = ''`,
		s.service, requestID, note)
	return err
}

// forget deletes requestID's record after a call that surely was not
// applied: the request_id may be sent again.
func (s *Store) forget(requestID string) {
	defer s.written.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	_, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_records WHERE service = $1 AND request_id = $2 AND state = $3`,
		s.service, requestID, stateInFlight)
	if err == nil {
		_, err = s.db.ExecContext(ctx, `DELETE FROM idempotency_requests WHERE service = $1 AND request_id = $2`, s.service, requestID)
	}
	if err != nil {
		// The record stays IN_FLIGHT: a repeat treats it as interrupted
		// and reads the vendor back, or answers UNKNOWN, never sends
		// blindly.
		s.log.Error("request_id of a call that was not applied not released", "service", s.service, "request_id", requestID, "error", err)
	}
}

// Fingerprint is the SHA-256 (hex) of msg's deterministic protobuf encoding
// without a top-level request_id field, followed by extra (e.g. the hash of
// an uploaded file).
func Fingerprint(msg proto.Message, extra ...[]byte) string {
	h := sha256.New()
	if msg != nil {
		m := proto.Clone(msg)
		if f := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name("request_id")); f != nil {
			m.ProtoReflect().Clear(f)
		}
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		_, _ = h.Write([]byte(m.ProtoReflect().Descriptor().FullName()))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write(b)
	}
	for _, e := range extra {
		_, _ = h.Write([]byte{0})
		_, _ = h.Write(e)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Sweep deletes the records with a known outcome older than the TTL and
// returns how many. Unknown outcomes stay until they are resolved.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	defer s.written.Add(1)
	res, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_records WHERE service = $1 AND created_at < $2 AND state IN ($3, $4, $5)`,
		s.service, s.now().Add(-s.ttl).UnixMilli(), stateDone, stateNotApplied, stateApplied)
	if err != nil {
		return 0, fmt.Errorf("idempotency: sweep: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	for _, table := range []string{"idempotency_requests", "idempotency_resolutions"} {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE service = $1 AND NOT EXISTS (
			SELECT 1 FROM idempotency_records r WHERE r.service = `+table+`.service AND r.request_id = `+table+`.request_id)`, s.service); err != nil {
			return n, fmt.Errorf("idempotency: sweep %s: %w", table, err)
		}
	}
	return n, nil
}

// SweepEvery runs Sweep every interval until ctx ends, logging failures.
func (s *Store) SweepEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("request_id sweep failed", "service", s.service, "error", err)
			}
		}
	}
}

type record struct {
	method, fingerprint, state string
	response                   []byte
}

// get reads requestID's live record; one with a known outcome older than
// the TTL is not found.
func (s *Store) get(ctx context.Context, requestID string) (record, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var (
		r        record
		response string
	)
	err := s.db.QueryRowContext(ctx, `SELECT method, fingerprint, state, response FROM idempotency_records
		WHERE service = $1 AND request_id = $2 AND (created_at >= $3 OR state IN ($4, $5))`,
		s.service, requestID, s.now().Add(-s.ttl).UnixMilli(), stateInFlight, stateUnknown).Scan(&r.method, &r.fingerprint, &r.state, &response)
	if errors.Is(err, sql.ErrNoRows) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, fmt.Errorf("idempotency: read request_id %s: %w", requestID, err)
	}
	if r.response, err = base64.StdEncoding.DecodeString(response); err != nil {
		return record{}, false, fmt.Errorf("idempotency: read request_id %s: %w", requestID, err)
	}
	return r, true, nil
}

// begin records requestID IN_FLIGHT, replacing an expired record, and
// keeps the request. It is committed before the call is sent, so that a
// process dying mid-call leaves it behind for the next attempt to find.
func (s *Store) begin(ctx context.Context, requestID, method, fingerprint string, kept []byte) error {
	defer s.begun.Add(1)
	defer s.written.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO idempotency_records (service, request_id, method, fingerprint, state, response, created_at)
		VALUES ($1, $2, $3, $4, $5, '', $6)
		ON CONFLICT (service, request_id) DO UPDATE SET method = excluded.method, fingerprint = excluded.fingerprint,
			state = excluded.state, response = '', created_at = excluded.created_at, finished_at = NULL`,
		s.service, requestID, method, fingerprint, stateInFlight, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("idempotency: record request_id %s: %w", requestID, err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO idempotency_requests (service, request_id, request, note) VALUES ($1, $2, $3, '')
		ON CONFLICT (service, request_id) DO UPDATE SET request = excluded.request, note = ''`,
		s.service, requestID, base64.StdEncoding.EncodeToString(kept))
	if err != nil {
		return fmt.Errorf("idempotency: record request_id %s: %w", requestID, err)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM idempotency_resolutions WHERE service = $1 AND request_id = $2`, s.service, requestID)
	if err != nil {
		return fmt.Errorf("idempotency: record request_id %s: %w", requestID, err)
	}
	return nil
}

// done records the response of requestID.
func (s *Store) done(requestID string, resp proto.Message) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(resp)
	if err != nil {
		return err
	}
	return s.finish(requestID, stateDone, base64.StdEncoding.EncodeToString(b))
}

func (s *Store) finish(requestID, state, response string) error {
	defer s.written.Add(1)
	// The caller's context may be over (its deadline is often why the call
	// failed); the record must still be written.
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	_, err := s.db.ExecContext(ctx, `UPDATE idempotency_records SET state = $3, response = $4, finished_at = $5
		WHERE service = $1 AND request_id = $2`,
		s.service, requestID, state, response, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("idempotency: record outcome of request_id %s: %w", requestID, err)
	}
	return nil
}

// MayHaveApplied reports whether a call that failed with err may still have
// been applied by the vendor: its outcome is unknown (the request left and
// no answer came), or the service said so with an UNKNOWN domain error.
func MayHaveApplied(err error) bool {
	if vendorerr.IsKind(err, vendorerr.KindOutcomeUnknown) {
		return true
	}
	if d, ok := domainerr.As(err); ok && d.Kind == domainerr.KindUnknown {
		return true
	}
	return false
}
