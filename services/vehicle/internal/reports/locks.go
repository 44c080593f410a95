package reports

import "context"

// Locks are named mutual-exclusion locks held across every replica that
// shares the store (coord.Locks: Postgres advisory locks). A lookup holds
// its VIN's lock while it buys; the request_id engine, given the same
// Locks, holds a purchase's request_id while it is in flight.
type Locks interface {
	// TryLock takes key if no one holds it; ok is false when someone does.
	TryLock(ctx context.Context, key string) (unlock func(), ok bool, err error)
	// Lock waits until it takes key or ctx ends.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// vinKey is the lock of a VIN's lookup purchase.
func vinKey(vin string) string { return "vehicle/vin/" + vin }
