package idempotency

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/pagetoken"
)

// Operation is a request_id's record as the reconciler and an operator see
// it.
type Operation struct {
	// RequestID is the caller's idempotency key.
	RequestID string
	// Method is the RPC, e.g. "CreateOrder".
	Method string
	// Request is what Run kept of the request (its protobuf encoding), or
	// RunFingerprint's kept bytes.
	Request []byte
	// State is "UNKNOWN" for an unresolved operation; after a resolution,
	// "DONE" or "APPLIED" (applied) or "NOT_APPLIED".
	State string
	// Note says why the outcome became unknown.
	Note string
	// CreatedAt is when the request_id was first seen.
	CreatedAt time.Time
	// Resolutions are the findings about it, oldest first.
	Resolutions []Resolution
}

// Unresolved reports whether no finding settled the operation yet.
func (o Operation) Unresolved() bool { return o.State == stateUnknown || o.State == stateInFlight }

// Outcome is what the last resolution found, or "" while unresolved.
func (o Operation) Outcome() Outcome {
	switch o.State {
	case stateDone, stateApplied:
		return Applied
	case stateNotApplied:
		return NotApplied
	}
	return ""
}

// Resolution is one finding about an operation of unknown outcome.
type Resolution struct {
	// Outcome is what was found.
	Outcome Outcome
	// By is ResolvedByReconciler or the operator's caller name.
	By string
	// Note is how they know.
	Note string
	// At is when it was recorded.
	At time.Time
}

// Cursor is a position in the list of unresolved operations.
type Cursor struct {
	// CreatedAt and RequestID are the last operation listed; zero for the
	// start.
	CreatedAt time.Time
	RequestID string
}

// ListUnresolved returns up to limit operations whose outcome is unknown,
// oldest first, after cursor. Records left IN_FLIGHT by a process that
// died (no replica holds their lock) are marked UNKNOWN first, so that
// they are listed.
func (s *Store) ListUnresolved(ctx context.Context, after Cursor, limit int) ([]Operation, error) {
	if _, err := s.reap(ctx); err != nil {
		return nil, domainerr.StoreUnavailable(err)
	}
	return s.listUnknown(ctx, after, limit)
}

// listUnknown is ListUnresolved without the reaping: the UNKNOWN records
// only.
func (s *Store) listUnknown(ctx context.Context, after Cursor, limit int) ([]Operation, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT r.request_id, r.method, r.state, r.created_at, COALESCE(q.request, ''), COALESCE(q.note, '')
		FROM idempotency_records r LEFT JOIN idempotency_requests q ON q.service = r.service AND q.request_id = r.request_id
		WHERE r.service = $1 AND r.state = $2 AND (r.created_at > $3 OR (r.created_at = $3 AND r.request_id > $4))
		ORDER BY r.created_at, r.request_id LIMIT $5`,
		s.service, stateUnknown, after.CreatedAt.UnixMilli(), after.RequestID, limit)
	if err != nil {
		return nil, domainerr.StoreUnavailable(fmt.Errorf("idempotency: list unresolved: %w", err))
	}
	var ops []Operation
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			_ = rows.Close()
			return nil, err
		}
		ops = append(ops, op)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, domainerr.StoreUnavailable(fmt.Errorf("idempotency: list unresolved: %w", err))
	}
	for i := range ops {
		if ops[i].Resolutions, err = s.resolutions(ctx, ops[i].RequestID); err != nil {
			return nil, err
		}
	}
	return ops, nil
}

// CountUnresolved counts the operations whose outcome is unknown, of the
// given methods (every method when none), in one query: for a gauge, which
// must neither page through the records nor take their locks. A record
// whose process died in flight counts once Reap (or ListUnresolved, or
// the reconciler) has marked it unknown.
//
// On a store only this process writes (SQLite), a count is answered from
// the last one when no Store of the service on this handle has written a
// record since: an idle service's gauge then reads no pages back into
// memory every interval (docs/benchmarks.md).
func (s *Store) CountUnresolved(ctx context.Context, methods ...string) (int64, error) {
	key := strings.Join(methods, "\x00")
	written := s.written.Load()
	if n, ok := s.counted.get(key, written); ok {
		return n, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	query := `SELECT COUNT(*) FROM idempotency_records WHERE service = $1 AND state = $2`
	args := []any{s.service, stateUnknown}
	if len(methods) > 0 {
		marks := make([]string, len(methods))
		for i, m := range methods {
			args = append(args, m)
			marks[i] = fmt.Sprintf("$%d", len(args))
		}
		query += ` AND method IN (` + strings.Join(marks, ", ") + `)`
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, domainerr.StoreUnavailable(fmt.Errorf("idempotency: count unresolved: %w", err))
	}
	if s.db.OneProcessOnly() {
		s.counted.set(key, written, n)
	}
	return n, nil
}

// countMemo is one count of CountUnresolved: of which methods, how many,
// and Store.written when it began.
type countMemo struct {
	mu      sync.Mutex
	held    bool
	key     string
	written uint64
	n       int64
}

// get returns the count of key's methods if one began at written.
func (m *countMemo) get(key string, written uint64) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n, m.held && m.key == key && m.written == written
}

// set keeps n, the count of key's methods that began at written.
func (m *countMemo) set(key string, written uint64, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.held, m.key, m.written, m.n = true, key, written, n
}

// Get returns requestID's operation, or a NOT_FOUND domain error.
func (s *Store) Get(ctx context.Context, requestID string) (Operation, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	row := s.db.QueryRowContext(ctx, `SELECT r.request_id, r.method, r.state, r.created_at, COALESCE(q.request, ''), COALESCE(q.note, '')
		FROM idempotency_records r LEFT JOIN idempotency_requests q ON q.service = r.service AND q.request_id = r.request_id
		WHERE r.service = $1 AND r.request_id = $2`, s.service, requestID)
	op, err := scanOperation(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Operation{}, domainerr.NotFound(ReasonOperationNotFound, fmt.Sprintf("no operation has request_id %q", requestID))
	}
	if err != nil {
		return Operation{}, err
	}
	if op.Resolutions, err = s.resolutions(ctx, requestID); err != nil {
		return Operation{}, err
	}
	return op, nil
}

// Resolve records a finding about requestID's unknown outcome: by is
// ResolvedByReconciler or the operator's caller name. For Applied, resp is
// the response a repeat returns; nil means the service rebuilds it (a
// repeat runs the call with Attempt.Applied). It holds the request_id's
// lock, so that it never races the call it resolves; a call in flight is
// ABORTED REQUEST_ID_IN_FLIGHT. Only an unknown outcome is resolved: any
// other is FAILED_PRECONDITION OPERATION_OUTCOME_KNOWN, an unknown
// request_id NOT_FOUND.
func (s *Store) Resolve(ctx context.Context, requestID string, outcome Outcome, resp proto.Message, by, note string) (Operation, error) {
	if outcome != Applied && outcome != NotApplied {
		return Operation{}, fmt.Errorf("idempotency: resolve %s: outcome %q", requestID, outcome)
	}
	unlock, ok, err := s.tryLock(ctx, requestID)
	if err != nil {
		return Operation{}, err
	}
	if !ok {
		return Operation{}, InFlight(requestID)
	}
	op, err := s.resolveHeld(ctx, requestID, outcome, resp, by, note)
	unlock()
	if err == nil {
		// After the lock is released, so that a repeat waiting on the
		// request_id is not held up by the ledger.
		s.settled(ctx, requestID, outcome == Applied)
	}
	return op, err
}

// settled passes a resolution on to OnResolve's hook, if any.
func (s *Store) settled(ctx context.Context, requestID string, applied bool) {
	if s.onResolve == nil {
		return
	}
	if err := s.onResolve(ctx, requestID, applied); err != nil {
		s.log.Error("resolution not passed on to the usage ledger", "service", s.service, "request_id", requestID, "error", err)
	}
}

// resolveHeld is Resolve with requestID's lock already held.
func (s *Store) resolveHeld(ctx context.Context, requestID string, outcome Outcome, resp proto.Message, by, note string) (Operation, error) {
	op, err := s.Get(ctx, requestID)
	if err != nil {
		return Operation{}, err
	}
	if !op.Unresolved() {
		return Operation{}, &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Reason: ReasonOutcomeKnown,
			Message:  fmt.Sprintf("the operation with request_id %q has a known outcome; only unknown outcomes are resolved", requestID),
			Metadata: map[string]string{metaRequestID: requestID}}
	}
	state, response := stateNotApplied, ""
	if outcome == Applied {
		state = stateApplied
		if resp != nil {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(resp)
			if err != nil {
				return Operation{}, err
			}
			state, response = stateDone, base64.StdEncoding.EncodeToString(b)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	defer s.written.Add(1)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Operation{}, domainerr.StoreUnavailable(err)
	}
	defer func() { _ = tx.Rollback() }()
	now := s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE idempotency_records SET state = $3, response = $4, finished_at = $5
		WHERE service = $1 AND request_id = $2`, s.service, requestID, state, response, now.UnixMilli()); err != nil {
		return Operation{}, fmt.Errorf("idempotency: resolve %s: %w", requestID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency_resolutions (service, request_id, outcome, resolved_by, note, resolved_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, s.service, requestID, string(outcome), by, note, now.UnixMilli()); err != nil {
		return Operation{}, fmt.Errorf("idempotency: resolve %s: %w", requestID, err)
	}
	if err := tx.Commit(); err != nil {
		return Operation{}, fmt.Errorf("idempotency: resolve %s: %w", requestID, err)
	}
	s.log.Info("unknown outcome resolved", "service", s.service, "request_id", requestID, "method", op.Method,
		"outcome", string(outcome), "resolved_by", by)
	op.State = state
	op.Resolutions = append(op.Resolutions, Resolution{Outcome: outcome, By: by, Note: note, At: now.Truncate(time.Millisecond)})
	return op, nil
}

// Reap marks UNKNOWN the IN_FLIGHT records no process holds (their process
// died with the call out), so that Get and ListUnresolved show them as the
// unknown outcomes they are. A record whose call is in flight is left alone.
func (s *Store) Reap(ctx context.Context) error {
	if _, err := s.reap(ctx); err != nil {
		return domainerr.StoreUnavailable(err)
	}
	return nil
}

// reap is Reap without the error's classification. It returns how many
// IN_FLIGHT records it found, those it marked and those still held.
func (s *Store) reap(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT request_id FROM idempotency_records WHERE service = $1 AND state = $2 LIMIT 1000`,
		s.service, stateInFlight)
	if err != nil {
		return 0, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, id := range ids {
		unlock, ok, err := s.locks.TryLock(ctx, s.lockKey(id))
		if err != nil {
			return len(ids), err
		}
		if !ok {
			continue // in flight
		}
		err = s.markUnknown(id, "the process sending it stopped before the vendor's answer was recorded")
		unlock()
		if err != nil {
			return len(ids), err
		}
	}
	return len(ids), nil
}

func (s *Store) resolutions(ctx context.Context, requestID string) ([]Resolution, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT outcome, resolved_by, note, resolved_at FROM idempotency_resolutions
		WHERE service = $1 AND request_id = $2 ORDER BY resolved_at`, s.service, requestID)
	if err != nil {
		return nil, fmt.Errorf("idempotency: resolutions of %s: %w", requestID, err)
	}
	defer func() { _ = rows.Close() }()
	var out []Resolution
	for rows.Next() {
		var (
			r  Resolution
			o  string
			at int64
		)
		if err := rows.Scan(&o, &r.By, &r.Note, &at); err != nil {
			return nil, err
		}
		r.Outcome, r.At = Outcome(o), time.UnixMilli(at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanOperation(row scanner) (Operation, error) {
	var (
		op      Operation
		created int64
		request string
	)
	if err := row.Scan(&op.RequestID, &op.Method, &op.State, &created, &request, &op.Note); err != nil {
		return Operation{}, err
	}
	op.CreatedAt = time.UnixMilli(created).UTC()
	b, err := base64.StdEncoding.DecodeString(request)
	if err != nil {
		return Operation{}, fmt.Errorf("idempotency: request of %s: %w", op.RequestID, err)
	}
	op.Request = b
	return op, nil
}

// DefaultPageSize is ListUnresolvedPage's page size when the caller gives
// none.
const DefaultPageSize = 50

// pageCursor is the page token of ListUnresolvedPage (AIP-158).
type pageCursor struct {
	CreatedAt int64  `json:"t"`
	RequestID string `json:"r"`
	Size      int    `json:"s"`
}

// ListUnresolvedPage is ListUnresolved for a ListUnresolvedOperations RPC:
// pageSize (0 means DefaultPageSize) and pageToken as the caller sent them,
// and the token of the next page ("" on the last), so that every service
// pages its operations alike. A token from another page size, or not
// issued here, is INVALID_ARGUMENT PAGE_TOKEN_INVALID.
func (s *Store) ListUnresolvedPage(ctx context.Context, pageSize int, pageToken string) (ops []Operation, next string, err error) {
	size := pageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	var cur pageCursor
	if err := pagetoken.Decode(pageToken, &cur); err != nil {
		return nil, "", err
	}
	if pageToken != "" && (cur.Size != size || cur.RequestID == "") {
		return nil, "", pagetoken.Invalid(fmt.Sprintf("belongs to another request (its page_size was %d)", cur.Size))
	}
	after := Cursor{RequestID: cur.RequestID}
	if cur.RequestID != "" {
		after.CreatedAt = time.UnixMilli(cur.CreatedAt)
	}
	ops, err = s.ListUnresolved(ctx, after, size+1)
	if err != nil {
		return nil, "", err
	}
	if len(ops) > size {
		ops = ops[:size]
		last := ops[size-1]
		next = pagetoken.Encode(pageCursor{CreatedAt: last.CreatedAt.UnixMilli(), RequestID: last.RequestID, Size: size})
	}
	return ops, next, nil
}

// OutcomeOf maps a resolution request's "applied" to an Outcome.
func OutcomeOf(applied bool) Outcome {
	if applied {
		return Applied
	}
	return NotApplied
}
