package vendorcall

import (
	"context"
	"errors"
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
	attempt := func() (struct{}, error) {
		req, err := build()
		if err != nil {
			return struct{}{}, backoff.Permanent(err)
		}
		err = c.Do(ctx, endpoint, req, decode)
		if err != nil && !Retryable(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}
	// The first attempt runs outside the back-off machinery: it is the
	// one that nearly always succeeds, and this is a hot path.
	_, err := attempt()
	var permanent *backoff.PermanentError
	if err == nil || errors.As(err, &permanent) || p.Tries == 1 {
		return unwrapPermanent(err)
	}
	b := backoff.NewExponentialBackOff()
	if p.InitialInterval > 0 {
		b.InitialInterval = p.InitialInterval
	} else {
		b.InitialInterval = 100 * time.Millisecond
	}
	// backoff.Retry starts with an attempt; wait the first interval here.
	select {
	case <-ctx.Done():
		return err
	case <-time.After(b.NextBackOff()):
	}
	_, err = backoff.Retry(ctx, attempt, backoff.WithBackOff(b), backoff.WithMaxTries(p.Tries-1), backoff.WithMaxElapsedTime(0))
	return err
}

// unwrapPermanent returns the error a backoff.Permanent wraps.
func unwrapPermanent(err error) error {
	var permanent *backoff.PermanentError
	if errors.As(err, &permanent) {
		return permanent.Unwrap()
	}
	return err
}
