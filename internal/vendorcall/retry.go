package vendorcall

import (
	"context"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// Retryable reports whether a failed call may be repeated when the call
// itself is safe to repeat: the vendor may not have seen it, or asked us to
// slow down.
func Retryable(err error) bool {
	ve, ok := vendorerr.As(err)
	if !ok {
		return false
	}
	return ve.Kind == vendorerr.KindUnavailable || ve.Kind == vendorerr.KindThrottled
}

// RetryPolicy bounds the retries of DoIdempotent.
type RetryPolicy struct {
	// Tries is the most attempts, the first included. Zero means 3.
	Tries uint
	// InitialInterval is the first back-off. Zero means 100ms.
	InitialInterval time.Duration
}

// DoIdempotent is Do for calls that are safe to repeat (reads): it retries
// Retryable failures with exponential back-off, within ctx. build is called
// for each attempt so that every attempt has a fresh body.
func (c *Caller) DoIdempotent(ctx context.Context, endpoint string, p RetryPolicy, build func() (*http.Request, error), decode Decoder) error {
	if p.Tries == 0 {
		p.Tries = 3
	}
	// The first attempt runs outside the back-off machinery: it is the
	// one that nearly always succeeds, and this is a hot path.
	req, err := build()
	if err != nil {
		return err
	}
	err = c.Do(ctx, endpoint, req, decode)
	if err == nil || !Retryable(err) || p.Tries == 1 {
		return err
	}
	p.Tries--
	b := backoff.NewExponentialBackOff()
	if p.InitialInterval > 0 {
		b.InitialInterval = p.InitialInterval
	} else {
		b.InitialInterval = 100 * time.Millisecond
	}
	select {
	case <-ctx.Done():
		return err
	case <-time.After(b.NextBackOff()):
	}
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		req, err := build()
		if err != nil {
			return struct{}{}, backoff.Permanent(err)
		}
		err = c.Do(ctx, endpoint, req, decode)
		if err != nil && !Retryable(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(p.Tries), backoff.WithMaxElapsedTime(0))
	return err
}
