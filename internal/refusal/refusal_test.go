package refusal_test

import (
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/refusal"
)

// TestBudgetAndSampling: a source is refused freely within its burst, then
// throttled; its refusals are logged once a second at most; another source
// is not affected.
func TestBudgetAndSampling(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	table := refusal.New(func() time.Time { return now })
	logged, throttled := 0, 0
	for range 100 {
		v := table.Note("192.0.2.1:1234")
		if v.Log {
			logged++
		}
		if v.RetryAfter > 0 {
			throttled++
		}
	}
	if logged != 1 || throttled != 80 {
		t.Errorf("got %d lines and %d throttled of 100, want 1 and 80", logged, throttled)
	}
	if d := table.Throttled("192.0.2.1:999"); d <= 0 {
		t.Errorf("the flooding source: got Throttled %v, want > 0", d)
	}
	if d := table.Throttled("198.51.100.7:1"); d != 0 {
		t.Errorf("another source: got Throttled %v, want 0", d)
	}
	now = now.Add(10 * time.Second)
	if d := table.Throttled("192.0.2.1:999"); d != 0 {
		t.Errorf("after 10 s: got Throttled %v, want 0", d)
	}
}
