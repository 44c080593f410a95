package usage_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/usage"
)

// BenchmarkLedgerWrite records batches of calls and flushes each, on each
// store (postgres skips when the test server is unreachable), writing
// them as the ledger did before (row-at-a-time: one INSERT per row in a
// transaction) and as it does now (batched: one COPY on Postgres, multi-row
// INSERTs in one transaction on SQLite). ns/call is the time per recorded
// call, Record and its share of the flush; cpu-ns/call is this process's
// CPU time (user and system, getrusage) per recorded call, which leaves
// out the Postgres server's.
func BenchmarkLedgerWrite(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			for _, batch := range []int{200} { // the default Options.BatchSize
				for _, mode := range []string{"row-at-a-time", "batched"} {
					b.Run(mode, func(b *testing.B) {
						l, _ := openLedger(b, d)
						usage.SetRowAtATime(l, mode == "row-at-a-time")
						ctx := context.Background()
						// Calls come in time order, as they do in service.
						at := time.Now()
						sample := make([]usage.Call, batch)
						for i := range sample {
							sample[i] = call(i, at)
						}
						calls := 0
						cpu0 := cpuTime()
						for b.Loop() {
							for i, c := range sample {
								c.At = at.Add(time.Duration(i) * time.Millisecond)
								l.Record(c)
							}
							at = at.Add(time.Duration(batch) * time.Millisecond)
							if err := l.Flush(ctx); err != nil {
								b.Fatal(err)
							}
							calls += batch
						}
						b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(calls), "ns/call")
						b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(calls), "cpu-ns/call")
					})
				}
			}
		})
	}
}

// cpuTime is the CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
