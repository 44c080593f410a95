package server

import "context"

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
