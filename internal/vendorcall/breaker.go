package vendorcall

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// breaker is a vendor's circuit breaker: gobreaker's two-step breaker,
// counting only unavailability as failure, with its state as a gauge.
type breaker struct {
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	openFor  time.Duration
	openedAt atomic.Int64 // unix nanoseconds of the last opening
}

func newBreaker(vendor string, cfg Config, m *metrics, log *slog.Logger) *breaker {
	b := &breaker{openFor: cfg.BreakerOpenFor}
	var gauge interface{ Set(float64) }
	if m != nil {
		g := m.breaker.WithLabelValues(vendor)
		g.Set(0)
		gauge = g
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:    vendor,
		Timeout: cfg.BreakerOpenFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= cfg.BreakerFailures
		},
		IsSuccessful: func(err error) bool { return !unavailability(err) },
		// The caller's own cancellation or sink failure says nothing
		// about the vendor.
		IsExcluded: func(err error) bool {
			_, ok := vendorerr.As(err)
			return err != nil && !ok
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openedAt.Store(time.Now().UnixNano())
			}
			if gauge != nil {
				gauge.Set(float64(to))
			}
			log.Warn("vendor circuit breaker changed state", "vendor", name, "from", from.String(), "to", to.String())
		},
	})
	return b
}

// allow asks whether a call may go; done must be called with its result.
func (b *breaker) allow() (done func(error), err error) {
	return b.cb.Allow()
}

// retryAfter is how long until the open breaker lets a probe through.
func (b *breaker) retryAfter() time.Duration {
	left := b.openFor - time.Since(time.Unix(0, b.openedAt.Load()))
	if left < time.Second {
		// Half-open: the probe is in flight; try again shortly.
		return time.Second
	}
	return left.Round(time.Second)
}

// unavailability reports whether err says the vendor could not serve us:
// the one kind of failure that opens the breaker. A refusal, a throttle,
// an unreadable answer, an unknown outcome and our own unsendable request
// say nothing about whether the vendor is up, and never do.
func unavailability(err error) bool {
	return vendorerr.IsKind(err, vendorerr.KindUnavailable)
}
