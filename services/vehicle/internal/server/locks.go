package server

import (
	"context"
	"sync"
)

// Locks are named mutual-exclusion locks held across every replica that
// shares the store (coord.Locks: Postgres advisory locks). A purchase
// holds the lock of its request id while it is in flight, so that a
// purchase in StateBuying whose lock is free was left behind by a process
// that died; a lookup holds its VIN's lock while it buys.
type Locks interface {
	// TryLock takes key if no one holds it; ok is false when someone does.
	TryLock(ctx context.Context, key string) (unlock func(), ok bool, err error)
	// Lock waits until it takes key or ctx ends.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Lock keys.
func requestKey(requestID string) string { return "vehicle/request/" + requestID }
func vinKey(vin string) string           { return "vehicle/vin/" + vin }

// localLocks are Locks within one process, for a Server given none: right
// for one process only.
type localLocks struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed on release
}

func newLocalLocks() *localLocks { return &localLocks{held: make(map[string]chan struct{})} }

func (l *localLocks) TryLock(_ context.Context, key string) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.held[key]; ok {
		return nil, false, nil
	}
	return l.take(key), true, nil
}

func (l *localLocks) Lock(ctx context.Context, key string) (func(), error) {
	for {
		l.mu.Lock()
		ch, ok := l.held[key]
		if !ok {
			unlock := l.take(key)
			l.mu.Unlock()
			return unlock, nil
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
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

// crashpointHit is crashpoint.Hit until the foundation package lands.
func crashpointHit(string) {}
