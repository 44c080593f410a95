package idempotency

import "context"

// Tick runs one of Run's ticks and reports whether it ran a pass.
func (r *Reconciler) Tick(ctx context.Context) bool { return r.tick(ctx) }
