package usage

import "context"

// SetRowAtATime makes l write its batches one INSERT per row, as it did
// before batched writes: the "before" of BenchmarkLedgerWrite.
func SetRowAtATime(l *Ledger, on bool) { l.rowAtATime = on }

// Write writes batch as Flush does, keeping the row ids it draws in batch
// for a next attempt.
func Write(ctx context.Context, l *Ledger, batch []Call) error { return l.write(ctx, batch) }

// Fold folds batch in place as Record does, for tests that write batches
// themselves.
func Fold(batch []Call) []Call {
	var f folder
	out := batch[:0]
	for _, c := range batch {
		out = f.add(out, c)
	}
	return out
}
