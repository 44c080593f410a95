package usage

// SetRowAtATime makes l write its batches one INSERT per row, as it did
// before batched writes: the "before" of BenchmarkLedgerWrite.
func SetRowAtATime(l *Ledger, on bool) { l.rowAtATime = on }
