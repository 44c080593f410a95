// Package store keeps the logistics service's 30post money movements and
// their operator resolutions, and damaijia's shared login token, in SQL
// (SQLite or Postgres, through internal/sqlstore), so that no movement is
// sent twice and replicas log in once per expiry, across restarts and
// replicas.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is where goose records the logistics migrations it ran.
const versionTable = "logistics_goose_db_version"

// Kind is what a movement does.
type Kind string

// The movement kinds.
const (
	KindRecharge  Kind = "RECHARGE"
	KindDeduction Kind = "DEDUCTION"
)

// State is where a movement stands.
type State string

// The movement states.
const (
	// StatePending is recorded and sent, with no answer yet. Its sender
	// holds a lock that spans replicas while it is out; a PENDING row
	// whose lock is free was left by a process that died (see MarkUnknown).
	StatePending State = "PENDING"
	// StateSucceeded was applied (success 1).
	StateSucceeded State = "SUCCEEDED"
	// StateFailed was refused (success 0).
	StateFailed State = "FAILED"
	// StateUnknown got no usable answer: it may have been applied.
	StateUnknown State = "UNKNOWN"
	// StateApplied is UNKNOWN resolved as applied by an operator.
	StateApplied State = "APPLIED"
	// StateNotApplied is UNKNOWN resolved as not applied by an operator.
	StateNotApplied State = "NOT_APPLIED"
)

// Errors of the store.
var (
	// ErrNotFound is a request id with no operation.
	ErrNotFound = errors.New("store: no such operation")
	// ErrNotResolvable is a resolution of an operation whose outcome is known.
	ErrNotResolvable = errors.New("store: the operation's outcome is known")
)

// Operation is one money movement.
type Operation struct {
	RequestID                       string
	Kind                            Kind
	Phone, Email, Amount, ExpressNo string
	State                           State
	VendorMessage                   string
	CreatedAt                       time.Time
	// Resolutions are the operators' findings, oldest first.
	Resolutions []Resolution
}

// Resolution is one operator's finding.
type Resolution struct {
	// Outcome is StateApplied or StateNotApplied.
	Outcome    State
	Note       string
	ResolvedAt time.Time
}

// Store is the operation repository. It is safe for concurrent use.
type Store struct {
	db *sqlstore.DB
}

// Open opens the database at url (see sqlstore.Open) and migrates it.
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	db, err := sqlstore.OpenMigrated(ctx, url, migrations, "migrations", versionTable, log)
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// DB is the store's database, for the packages that share it (request_id
// records, cross-replica locks).
func (s *Store) DB() *sqlstore.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Begin records op in StatePending before its vendor call. When the
// request id is taken, it returns the operation already recorded and
// false: the database decides which of two concurrent requests is sent.
// An operation of the same request id created before expiredBefore whose
// outcome is known (SUCCEEDED, FAILED, APPLIED, NOT_APPLIED) has outlived
// REQUEST_ID_TTL: it is deleted, with its resolutions, and op takes its
// place. An unresolved one (PENDING, UNKNOWN) never expires.
func (s *Store) Begin(ctx context.Context, op Operation, expiredBefore time.Time) (Operation, bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Operation{}, false, fmt.Errorf("store: begin operation: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	known := []any{op.RequestID, expiredBefore.UnixMilli(), StateSucceeded, StateFailed, StateApplied, StateNotApplied}
	const expired = `request_id = $1 AND created_at < $2 AND state IN ($3, $4, $5, $6)`
	if _, err := tx.ExecContext(ctx, `DELETE FROM logistics_resolutions WHERE request_id IN (
		SELECT request_id FROM logistics_operations WHERE `+expired+`)`, known...); err != nil {
		return Operation{}, false, fmt.Errorf("store: expire operation: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM logistics_operations WHERE `+expired, known...); err != nil {
		return Operation{}, false, fmt.Errorf("store: expire operation: %w", err)
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO logistics_operations (request_id, kind, phone, email, amount, express_no, state, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (request_id) DO NOTHING`,
		op.RequestID, op.Kind, op.Phone, op.Email, op.Amount, op.ExpressNo, StatePending, op.CreatedAt.UnixMilli())
	if err != nil {
		return Operation{}, false, fmt.Errorf("store: begin operation: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Operation{}, false, fmt.Errorf("store: begin operation: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Operation{}, false, fmt.Errorf("store: begin operation: %w", err)
	}
	if n == 1 {
		op.State = StatePending
		return op, true, nil
	}
	got, err := s.Get(ctx, op.RequestID)
	return got, false, err
}

// MarkUnknown turns a PENDING operation into UNKNOWN and reports whether
// it was PENDING. Call it only while holding the operation's lock: then a
// PENDING row is one whose sender died with the call out.
func (s *Store) MarkUnknown(ctx context.Context, requestID, vendorMessage string, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `
		UPDATE logistics_operations SET state = $2, vendor_message = $3, finished_at = $4
		WHERE request_id = $1 AND state = $5`,
		requestID, StateUnknown, vendorMessage, at.UnixMilli(), StatePending)
	if err != nil {
		return false, fmt.Errorf("store: mark unknown: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: mark unknown: %w", err)
	}
	return n == 1, nil
}

// Pending returns the request ids of the PENDING operations, oldest
// first, at most limit.
func (s *Store) Pending(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT request_id FROM logistics_operations WHERE state = $1 ORDER BY created_at, request_id LIMIT $2`,
		StatePending, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: pending: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Finish records a pending operation's outcome: StateSucceeded,
// StateFailed or StateUnknown, with the vendor's message and echoed
// tracking number.
func (s *Store) Finish(ctx context.Context, requestID string, state State, vendorMessage string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE logistics_operations SET state = $2, vendor_message = $3, finished_at = $4
		WHERE request_id = $1 AND state = $5`,
		requestID, state, vendorMessage, at.UnixMilli(), StatePending)
	if err != nil {
		return fmt.Errorf("store: finish operation: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: finish operation: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

const opColumns = `request_id, kind, phone, email, amount, express_no, state, vendor_message, created_at`

func scanOp(row interface{ Scan(...any) error }) (Operation, error) {
	var op Operation
	var created int64
	err := row.Scan(&op.RequestID, &op.Kind, &op.Phone, &op.Email, &op.Amount, &op.ExpressNo, &op.State, &op.VendorMessage, &created)
	op.CreatedAt = time.UnixMilli(created).UTC()
	return op, err
}

// Get returns the operation requestID with its resolutions.
func (s *Store) Get(ctx context.Context, requestID string) (Operation, error) {
	op, err := scanOp(s.db.QueryRowContext(ctx, `SELECT `+opColumns+` FROM logistics_operations WHERE request_id = $1`, requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return Operation{}, ErrNotFound
	}
	if err != nil {
		return Operation{}, fmt.Errorf("store: get operation: %w", err)
	}
	op.Resolutions, err = s.resolutions(ctx, requestID)
	return op, err
}

func (s *Store) resolutions(ctx context.Context, requestID string) ([]Resolution, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT outcome, note, resolved_at FROM logistics_resolutions
		WHERE request_id = $1 ORDER BY resolved_at, id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("store: resolutions: %w", err)
	}
	defer rows.Close()
	var out []Resolution
	for rows.Next() {
		var r Resolution
		var at int64
		if err := rows.Scan(&r.Outcome, &r.Note, &at); err != nil {
			return nil, fmt.Errorf("store: resolutions: %w", err)
		}
		r.ResolvedAt = time.UnixMilli(at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// Resolve records an operator's finding (StateApplied or StateNotApplied)
// about an operation that is UNKNOWN or resolved already (a correction);
// every resolution is kept and the last one is the operation's state.
func (s *Store) Resolve(ctx context.Context, requestID string, outcome State, note string, at time.Time) (Operation, error) {
	id, err := newID()
	if err != nil {
		return Operation{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Operation{}, fmt.Errorf("store: resolve: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, `
		UPDATE logistics_operations SET state = $2
		WHERE request_id = $1 AND state IN ($3, $4, $5)`,
		requestID, outcome, StateUnknown, StateApplied, StateNotApplied)
	if err != nil {
		return Operation{}, fmt.Errorf("store: resolve: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Operation{}, fmt.Errorf("store: resolve: %w", err)
	} else if n == 0 {
		if _, err := s.Get(ctx, requestID); err != nil {
			return Operation{}, err
		}
		return Operation{}, ErrNotResolvable
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO logistics_resolutions (id, request_id, outcome, note, resolved_at) VALUES ($1, $2, $3, $4, $5)`,
		id, requestID, outcome, note, at.UnixMilli()); err != nil {
		return Operation{}, fmt.Errorf("store: resolve: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Operation{}, fmt.Errorf("store: resolve: %w", err)
	}
	return s.Get(ctx, requestID)
}

// Cursor is a position in the list of unresolved operations.
type Cursor struct {
	CreatedAt time.Time
	RequestID string
}

// ListUnresolved returns up to limit UNKNOWN operations, oldest first,
// after cursor (zero: from the start).
func (s *Store) ListUnresolved(ctx context.Context, after Cursor, limit int) ([]Operation, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+opColumns+` FROM logistics_operations
		WHERE state = $1 AND (created_at > $2 OR (created_at = $2 AND request_id > $3))
		ORDER BY created_at, request_id LIMIT $4`,
		StateUnknown, after.CreatedAt.UnixMilli(), after.RequestID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list unresolved: %w", err)
	}
	var out []Operation
	for rows.Next() {
		op, err := scanOp(rows)
		if err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("store: list unresolved: %w", err)
		}
		out = append(out, op)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Resolutions, err = s.resolutions(ctx, out[i].RequestID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CountUnresolved counts what ListUnresolved would list.
func (s *Store) CountUnresolved(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM logistics_operations WHERE state = $1`, StateUnknown).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count unresolved: %w", err)
	}
	return n, nil
}

func newID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
