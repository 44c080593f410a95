package vendorcall

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// Retryable reports whether a failed read may be repeated: the vendor was
// unavailable (no answer, a 5xx, a timeout, a refused dial) or asked us to
// slow down (the next attempt waits for its hint). It is never consulted
// for a mutation.
func Retryable(err error) bool {
	return vendorerr.IsKind(err, vendorerr.KindUnavailable) || vendorerr.IsKind(err, vendorerr.KindThrottled)
}

// RetryPolicy bounds the retries of a read. The zero value is the default
// policy: three attempts, exponential back-off from 100ms, within the
// caller's deadline.
type RetryPolicy struct {
	// Tries is the most attempts, the first included. Zero means 3.
	Tries uint
	// InitialInterval is the first back-off. Zero means 100ms.
	InitialInterval time.Duration
}

// NoRetry sends a read once, for a caller whose own loop owns the retrying
// (one retry policy per call, never nested).
var NoRetry = RetryPolicy{Tries: 1}

// retryable reports whether a read's first failure is retried under p.
func retryable(err error, p RetryPolicy) bool {
	return p.Tries != 1 && Retryable(err)
}

// retry repeats attempt, whose first try failed retryably with first,
// under p: Retryable failures with exponential back-off
// (cenkalti/backoff/v5) within ctx.
func (c *Caller) retry(ctx context.Context, p RetryPolicy, first error, attempt func() error) error {
	if p.Tries == 0 {
		p.Tries = 3
	}
	once := func() (struct{}, error) {
		err := attempt()
		if err != nil && !Retryable(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	if p.InitialInterval > 0 {
		b.InitialInterval = p.InitialInterval
	}
	// backoff.Retry starts with an attempt; wait the first interval here.
	select {
	case <-ctx.Done():
		return first
	case <-time.After(b.NextBackOff()):
	}
	_, err := backoff.Retry(ctx, once, backoff.WithBackOff(b), backoff.WithMaxTries(p.Tries-1), backoff.WithMaxElapsedTime(0))
	var permanent *backoff.PermanentError
	if errors.As(err, &permanent) {
		return permanent.Unwrap()
	}
	return err
}
