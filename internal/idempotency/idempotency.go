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
	"time"

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

// ErrorInfo reasons of this package; the field is always request_id.
const (
	// ReasonReused: the request_id was first used for another request.
	ReasonReused = "REQUEST_ID_REUSED"
	// ReasonInFlight: the request_id's first request is still running.
	ReasonInFlight = "REQUEST_ID_IN_FLIGHT"
)

// DefaultTTL is how long a record is kept when Options.TTL is 0.
const DefaultTTL = 24 * time.Hour

// inFlightRetryAfter is the retry-after hint of ReasonInFlight.
const inFlightRetryAfter = time.Second

// The record states.
const (
	stateInFlight    = "IN_FLIGHT"
	stateDone        = "DONE"
	stateInterrupted = "INTERRUPTED"
)

// Options configure a Store.
type Options struct {
	// TTL is how long a record lives (REQUEST_ID_TTL); 0 means DefaultTTL.
	// An expired request_id is new again.
	TTL time.Duration
	// Locks hold a request_id while its call runs; nil means
	// coord.NewLocks(db). Pass the service's own to share them.
	Locks coord.Locks
	// Logger receives commit failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store keeps one service's request_id records. It is safe for concurrent
// use, by any number of replicas sharing the database.
type Store struct {
	db      *sqlstore.DB
	service string
	ttl     time.Duration
	locks   coord.Locks
	log     *slog.Logger
	now     func() time.Time
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
	s := &Store{db: db, service: service, ttl: opts.TTL, locks: opts.Locks, log: opts.Logger, now: opts.Now}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
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
	return s, nil
}

// Attempt tells a call what came before it under its request_id.
type Attempt struct {
	// Interrupted is true when an earlier attempt with this request_id may
	// have reached the vendor without its outcome being recorded: its
	// process died mid-call, or the vendor's answer never came. The call
	// must find out from the vendor's state (e.g. read the order back by
	// the vendor's own duplicate key) or, where the vendor cannot tell,
	// fail with an UNKNOWN outcome for an operator; it must not simply send
	// again.
	Interrupted bool
}

// Run runs call at most once per request_id (see the package comment) and
// returns its response, or the response recorded for an earlier identical
// request. An empty requestID runs call without a record. method names the
// RPC; the request's fingerprint is its deterministic protobuf encoding
// without its request_id field.
func Run[Resp proto.Message](ctx context.Context, s *Store, method, requestID string, req proto.Message,
	call func(context.Context, Attempt) (Resp, error)) (Resp, error) {
	return RunFingerprint(ctx, s, method, requestID, Fingerprint(req), call)
}

// RunFingerprint is Run with a fingerprint of the caller's making, for a
// request that is not one message (e.g. a streamed upload: Fingerprint of
// its header and of its bytes' hash).
func RunFingerprint[Resp proto.Message](ctx context.Context, s *Store, method, requestID, fingerprint string,
	call func(context.Context, Attempt) (Resp, error)) (Resp, error) {
	var zero Resp
	if requestID == "" {
		return call(ctx, Attempt{})
	}
	unlock, ok, err := s.locks.TryLock(ctx, s.service+"/request_id/"+requestID)
	if err != nil {
		return zero, fmt.Errorf("idempotency: hold request_id: %w", err)
	}
	if !ok {
		return zero, domainerr.Aborted(ReasonInFlight,
			"request_id "+requestID+" is still being processed; retry after it finishes", inFlightRetryAfter)
	}
	defer unlock()

	rec, found, err := s.get(ctx, requestID)
	if err != nil {
		return zero, err
	}
	attempt := Attempt{}
	switch {
	case !found:
		if err := s.begin(ctx, requestID, method, fingerprint); err != nil {
			return zero, err
		}
	case rec.method != method || rec.fingerprint != fingerprint:
		return zero, domainerr.InvalidArgument("request_id", ReasonReused,
			"was used before for a different request; use a new request_id for a new request")
	case rec.state == stateDone:
		resp := zero.ProtoReflect().New().Interface().(Resp)
		if err := proto.Unmarshal(rec.response, resp); err != nil {
			return zero, fmt.Errorf("idempotency: decode the recorded response of %s: %w", requestID, err)
		}
		return resp, nil
	default:
		// IN_FLIGHT with nobody holding it (its process died), or
		// INTERRUPTED: the vendor may have applied it.
		attempt.Interrupted = true
	}

	resp, err := call(ctx, attempt)
	if err != nil {
		s.failed(requestID, err)
		return zero, err
	}
	crashpoint.Hit("idempotency.before-commit:" + method)
	if err := s.done(requestID, resp); err != nil {
		// The work is done and the caller gets its answer; a repeat finds
		// the record IN_FLIGHT and resolves it as interrupted.
		s.log.Error("request_id outcome not recorded; a repeat will re-check the vendor",
			"service", s.service, "method", method, "request_id", requestID, "error", err)
	}
	return resp, nil
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

// Sweep deletes the records older than the TTL and returns how many.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_records WHERE service = $1 AND created_at < $2`,
		s.service, s.now().Add(-s.ttl).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("idempotency: sweep: %w", err)
	}
	return res.RowsAffected()
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

// get reads requestID's live record; one older than the TTL is not found.
func (s *Store) get(ctx context.Context, requestID string) (record, bool, error) {
	var (
		r        record
		response string
	)
	err := s.db.QueryRowContext(ctx, `SELECT method, fingerprint, state, response FROM idempotency_records
		WHERE service = $1 AND request_id = $2 AND created_at >= $3`,
		s.service, requestID, s.now().Add(-s.ttl).UnixMilli()).Scan(&r.method, &r.fingerprint, &r.state, &response)
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

// begin records requestID IN_FLIGHT, replacing an expired record. It is
// committed before the call is sent, so that a process dying mid-call leaves
// it behind for the next attempt to find.
func (s *Store) begin(ctx context.Context, requestID, method, fingerprint string) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO idempotency_records (service, request_id, method, fingerprint, state, response, created_at)
		VALUES ($1, $2, $3, $4, $5, '', $6)
		ON CONFLICT (service, request_id) DO UPDATE SET method = excluded.method, fingerprint = excluded.fingerprint,
			state = excluded.state, response = '', created_at = excluded.created_at, finished_at = NULL`,
		s.service, requestID, method, fingerprint, stateInFlight, s.now().UnixMilli())
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

// failed settles the record of a call that failed: kept INTERRUPTED when
// the vendor may have applied it, deleted (the request_id may be used
// again) when it surely did not.
func (s *Store) failed(requestID string, callErr error) {
	var err error
	if MayHaveApplied(callErr) {
		err = s.finish(requestID, stateInterrupted, "")
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = s.db.ExecContext(ctx, `DELETE FROM idempotency_records WHERE service = $1 AND request_id = $2 AND state <> $3`,
			s.service, requestID, stateDone)
	}
	if err != nil {
		s.log.Error("request_id failure not recorded", "service", s.service, "request_id", requestID, "error", err)
	}
}

func (s *Store) finish(requestID, state, response string) error {
	// The caller's context may be over (its deadline is often why the call
	// failed); the record must still be written.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
