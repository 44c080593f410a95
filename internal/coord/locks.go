// Package coord coordinates replicas of a service through the database they
// share: locks (PostgreSQL advisory locks) and notifications (PostgreSQL
// LISTEN/NOTIFY). On SQLite, which serves one process only (sqlstore
// refuses a second), the same interfaces are served in process.
package coord

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

// Locks are named mutual-exclusion locks, held across every replica that
// shares the database. It is safe for concurrent use.
type Locks interface {
	// TryLock takes the lock named key if nobody holds it. ok is false
	// when another holder (in any replica) has it. unlock releases it.
	TryLock(ctx context.Context, key string) (unlock func(), ok bool, err error)
	// Lock waits until it holds the lock named key, or ctx ends.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// NewLocks returns the locks of db: PostgreSQL session advisory locks, or
// in-process locks for SQLite, the same for every call with one handle.
func NewLocks(db *sqlstore.DB) Locks {
	if db.Dialect == sqlstore.Postgres {
		return &pgLocks{db: db.DB}
	}
	return db.Value(localLocksKey{}, func() any { return &localLocks{held: map[string]chan struct{}{}} }).(*localLocks)
}

// localLocksKey keys a handle's in-process locks in sqlstore.DB.Value.
type localLocksKey struct{}

// lockWaitMin and lockWaitMax bound the pause between two attempts of Lock
// on PostgreSQL. Polling with pg_try_advisory_lock, instead of waiting in
// pg_advisory_lock, holds a connection only while trying, so that many
// waiters do not exhaust the server's connections.
const (
	lockWaitMin = 10 * time.Millisecond
	lockWaitMax = 100 * time.Millisecond
)

// pgLocks are session advisory locks, each held on a connection of its own
// for as long as it is held: a replica that dies releases its locks with
// its connections.
type pgLocks struct {
	db *sql.DB

	schemaMu sync.Mutex
	schema   *string // nil until read
}

// lockID maps a key to PostgreSQL's 64-bit advisory lock id. Advisory
// locks belong to the whole database: the schema is part of the id, so
// that deployments (or tests) in separate schemas of one database never
// wait for each other's keys.
func lockID(schema, key string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("vendorgate:" + schema + ":" + key))
	return int64(h.Sum64())
}

// currentSchema reads the connections' schema, once it succeeds.
func (l *pgLocks) currentSchema(ctx context.Context) (string, error) {
	l.schemaMu.Lock()
	defer l.schemaMu.Unlock()
	if l.schema != nil {
		return *l.schema, nil
	}
	var s sql.NullString
	if err := l.db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&s); err != nil {
		return "", err
	}
	l.schema = &s.String
	return s.String, nil
}

func (l *pgLocks) TryLock(ctx context.Context, key string) (func(), bool, error) {
	schema, err := l.currentSchema(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("coord: lock %q: read schema: %w", key, err)
	}
	id := lockID(schema, key)
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("coord: lock %q: %w", key, err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, id).Scan(&ok); err != nil {
		discard(conn)
		return nil, false, fmt.Errorf("coord: lock %q: %w", key, err)
	}
	if !ok {
		_ = conn.Close()
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// The unlock must not depend on the caller's context, which
			// may be over; a connection that cannot unlock is discarded,
			// which ends its session and so its locks.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var released bool
			if err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, id).Scan(&released); err != nil || !released {
				discard(conn)
				return
			}
			_ = conn.Close()
		})
	}, true, nil
}

func (l *pgLocks) Lock(ctx context.Context, key string) (func(), error) {
	wait := lockWaitMin
	for {
		unlock, ok, err := l.TryLock(ctx, key)
		if err != nil {
			return nil, err
		}
		if ok {
			return unlock, nil
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("coord: wait for lock %q: %w", key, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, lockWaitMax)
	}
}

// discard closes conn's session instead of returning it to the pool.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// localLocks are the locks of one process.
type localLocks struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when released
}

func (l *localLocks) TryLock(_ context.Context, key string) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, busy := l.held[key]; busy {
		return nil, false, nil
	}
	return l.take(key), true, nil
}

func (l *localLocks) Lock(ctx context.Context, key string) (func(), error) {
	for {
		l.mu.Lock()
		released, busy := l.held[key]
		if !busy {
			unlock := l.take(key)
			l.mu.Unlock()
			return unlock, nil
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("coord: wait for lock %q: %w", key, context.Cause(ctx))
		case <-released:
		}
	}
}

// take marks key held; l.mu must be held.
func (l *localLocks) take(key string) func() {
	ch := make(chan struct{})
	l.held[key] = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.held, key)
			l.mu.Unlock()
			close(ch)
		})
	}
}
