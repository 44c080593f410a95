package vendorcall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// Decoder checks a 2xx response body, read whole (at most
// Config.MaxResponseBytes), and decodes it in one pass. It returns a
// *vendorerr.Error for a business refusal, classified as the status should
// say (e.g. KindNotFound for an unknown id): that is also what the metric
// counts. Any other error is an unreadable answer (KindUnavailable, or
// KindOutcomeUnknown for a mutation).
type Decoder func(body []byte) error

// StreamDecoder consumes a 2xx response body as a stream, for downloads.
// body yields at most Config.MaxStreamBytes and then fails with a
// *vendorerr.Error; a broken transfer also reads as a *vendorerr.Error.
// body is valid only until StreamDecoder returns. An error StreamDecoder
// returns that is not a *vendorerr.Error (e.g. the caller's own sink
// failing) is returned unchanged.
type StreamDecoder func(header http.Header, body io.Reader) error

// Classifier recognises a non-2xx reply: a gateway's or vendor's own error
// bodies and statuses. It returns nil to leave the reply to the default
// classification (401/403 auth, 429 throttled, 5xx unavailable, any other
// unknown). The Caller fills Vendor, Endpoint and HTTPStatus.
type Classifier func(status int, header http.Header, body []byte) *vendorerr.Error

// RequestSigner is a Transport that authenticates requests (e.g.
// cloudmarket.Signer) and can sign one in place. A Caller owns each
// attempt's request (Read builds it afresh, Mutate's caller hands it
// over), so it signs it itself just before sending it, and the Transport
// sends a request that carries its current signature as it is. As an
// http.RoundTripper it may not change the request it is given, so
// otherwise it signs a copy, with a header map of its own: two
// allocations and 0.7 KB of a GetOrder.
type RequestSigner interface {
	http.RoundTripper
	// SignRequest sets the request's authentication headers.
	SignRequest(*http.Request)
}

// Options are a Caller's collaborators, given in code by the service's
// run() or the vendor client.
type Options struct {
	// HTTPClient sends the requests; its Transport is the vendor's
	// authentication layer around a pooled transport, e.g.
	// &http.Client{Transport: &cloudmarket.Signer{…, Base: vendorcall.NewTransport()}}.
	// Its Timeout should be zero: Config.Timeout bounds each call. nil
	// means a client over NewTransport() with no authentication. A
	// Transport that is a RequestSigner signs each attempt's request in
	// place.
	HTTPClient *http.Client
	// Classify recognises the vendor's or gateway's non-2xx replies, e.g.
	// cloudmarket.Classify; nil uses the default classification only.
	Classify Classifier
	// Registerer receives the vendor-call metrics, shared by every Caller
	// on it; nil records none.
	Registerer prometheus.Registerer
	// Logger receives call failures (never a header value); nil discards.
	Logger *slog.Logger
	// Observe, when set, learns of every call that was sent or may have
	// been (not those refused before sending), e.g. the usage ledger's
	// usage.Ledger.Observe, and returns what the call cost in fen (0 for a
	// free one), for the call's span. ctx is the call's.
	Observe func(ctx context.Context, o Observation) (costFen int64)
}

// Observation is one vendor call, for Options.Observe.
type Observation struct {
	// Vendor and Endpoint name the call, e.g. "dingdang", "/open/order/createOrder".
	Vendor, Endpoint string
	// Outcome is "ok" or the failure's reason (a vendorerr kind).
	Outcome string
	// Latency is how long the call took.
	Latency time.Duration
}

// Caller sends one vendor's requests. It is safe for concurrent use.
type Caller struct {
	vendor   string
	cfg      Config
	client   *http.Client
	sign     func(*http.Request) // the client's RequestSigner, or nil
	classify Classifier
	observe  func(context.Context, Observation) int64
	limiter  *rate.Limiter
	pause    pause
	breaker  *breaker
	metrics  *metrics
	log      *slog.Logger

	unreadableLog logEvery
}

// New returns the Caller of vendor (its name in errors, logs and metrics,
// e.g. "dingdang"). It fails only when the metrics cannot be registered.
func New(vendor string, cfg Config, opts Options) (*Caller, error) {
	cfg = cfg.withDefaults()
	c := &Caller{vendor: vendor, cfg: cfg, classify: opts.Classify, log: opts.Logger, observe: opts.Observe}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.client = opts.HTTPClient
	if c.client == nil {
		c.client = &http.Client{Transport: NewTransport()}
	}
	if s, ok := c.client.Transport.(RequestSigner); ok {
		c.sign = s.SignRequest
	}
	if cfg.RateLimit > 0 {
		burst := cfg.RateBurst
		if burst <= 0 {
			burst = max(1, int(cfg.RateLimit+0.999999))
		}
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), burst)
	}
	if opts.Registerer != nil {
		m, err := newMetrics(opts.Registerer)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", vendor, err)
		}
		c.metrics = m
	}
	c.breaker = newBreaker(vendor, cfg, c.metrics, c.log)
	return c, nil
}

// Vendor returns the vendor's name.
func (c *Caller) Vendor() string { return c.vendor }

// Read sends a call that is safe to repeat. build makes the request (built
// without a context) afresh for every attempt, so a body can be re-sent;
// decode gets a 2xx body. Retryable failures are retried under p; pass
// NoRetry when a loop above owns the retrying. Every failure comes back as
// a *vendorerr.Error, except the caller's own cancellation, which comes
// back wrapping context.Canceled.
func (c *Caller) Read(ctx context.Context, endpoint string, p RetryPolicy, build func() (*http.Request, error), decode Decoder) error {
	return c.read(ctx, endpoint, p, build, decode, nil)
}

// ReadStream is Read for a response handed to consume as a stream (a
// download). Only failures before consume is called are retried.
func (c *Caller) ReadStream(ctx context.Context, endpoint string, p RetryPolicy, build func() (*http.Request, error), consume StreamDecoder) error {
	return c.read(ctx, endpoint, p, build, nil, consume)
}

// read runs a read's attempts, with either decode or consume.
func (c *Caller) read(ctx context.Context, endpoint string, p RetryPolicy, build func() (*http.Request, error), decode Decoder, consume StreamDecoder) error {
	attempt := 0
	once := func() error {
		attempt++
		req, err := build()
		if err != nil {
			return err
		}
		return c.call(ctx, endpoint, false, attempt, req, decode, consume)
	}
	// The first attempt runs outside the back-off machinery: it is the
	// one that nearly always succeeds, and this is a hot path.
	err := once()
	if err == nil || !retryable(err, p) {
		return err
	}
	return c.retry(ctx, p, err, once)
}

// Mutate sends a call that changes the vendor's state or costs money, at
// most once: there is no retry, and req is made non-replayable for
// net/http's Transport. req is built without a context; its Body may be a
// stream (e.g. formsign.Multipart), read once. A failure after the request
// may have left is vendorerr.KindOutcomeUnknown (wrapping the cause, e.g.
// context.DeadlineExceeded); a failure known to come before sending keeps
// its kind (KindUnavailable for a refused dial, KindRateLimited,
// KindCircuitOpen), and an answer keeps the vendor's classification.
func (c *Caller) Mutate(ctx context.Context, endpoint string, req *http.Request, decode Decoder) error {
	return c.call(ctx, endpoint, true, 1, req, decode, nil)
}

// MutateStream is Mutate for a response handed to consume as a stream.
func (c *Caller) MutateStream(ctx context.Context, endpoint string, req *http.Request, consume StreamDecoder) error {
	return c.call(ctx, endpoint, true, 1, req, nil, consume)
}

// unreadable marks an answer whose transfer broke before its end.
type unreadable struct{ err error }

func (u unreadable) Error() string { return u.err.Error() }
func (u unreadable) Unwrap() error { return u.err }

// undecodable marks an answer that arrived whole and that we cannot read:
// a shape the decoder does not take, or a body over its bound.
type undecodable struct {
	err  error
	body []byte
}

func (u undecodable) Error() string { return u.err.Error() }
func (u undecodable) Unwrap() error { return u.err }

// whole reads a 2xx body in one piece and hands it to decode. It returns
// a *vendorerr.Error for the vendor's refusal, an unreadable for a broken
// transfer and an undecodable for an answer we cannot read.
func (c *Caller) whole(resp *http.Response, decode Decoder) error {
	body, err := c.readBody(resp.Body, resp.ContentLength)
	if errors.Is(err, errTooLarge) {
		return undecodable{err: err, body: body}
	}
	if err != nil {
		return unreadable{err}
	}
	if err := decode(body); err != nil {
		if _, ok := vendorerr.As(err); ok {
			return err
		}
		return undecodable{err: fmt.Errorf("undecodable response: %w", err), body: body}
	}
	return nil
}

// stream hands a 2xx body to consume, bounded by MaxStreamBytes. It
// returns a *vendorerr.Error for the vendor's refusal, an undecodable for
// a body over its bound, an unreadable for a broken transfer and a
// callerError for consume's own failure.
func (c *Caller) stream(resp *http.Response, consume StreamDecoder) error {
	lr := &limitedReader{r: resp.Body, left: c.cfg.MaxStreamBytes, bound: c.cfg.MaxStreamBytes}
	err := consume(resp.Header, lr)
	if errors.Is(lr.err, errTooLarge) {
		return undecodable{err: lr.err}
	}
	if lr.err != nil {
		// The transfer itself failed (too large, or broken): that is
		// what happened, whatever consume made of it.
		return unreadable{lr.err}
	}
	if err != nil {
		if _, ok := vendorerr.As(err); ok {
			return err
		}
		return callerError{err}
	}
	return nil
}

// callerError is a StreamDecoder's own failure, returned unchanged.
type callerError struct{ err error }

func (e callerError) Error() string { return e.err.Error() }
func (e callerError) Unwrap() error { return e.err }

// limitedReader fails once more than left bytes were read, and remembers
// any read failure.
type limitedReader struct {
	r     io.Reader
	left  int64
	bound int64
	err   error
}

// errTooLarge is a body over its bound.
var errTooLarge = errors.New("response larger than its bound")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		l.err = fmt.Errorf("%w (%d bytes)", errTooLarge, l.bound)
		return int(l.left), l.err
	}
	l.left -= int64(n)
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// readBody reads a body whole, up to MaxResponseBytes.
func (c *Caller) readBody(r io.Reader, declared int64) ([]byte, error) {
	body, err := readAll(io.LimitReader(r, c.cfg.MaxResponseBytes+1), declared, c.cfg.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > c.cfg.MaxResponseBytes {
		return body[:min(len(body), excerptBytes)], fmt.Errorf("%w (%d bytes)", errTooLarge, c.cfg.MaxResponseBytes)
	}
	return body, nil
}

// call makes one attempt (attempt counts from 1): rate limit, breaker,
// send, classify, observe, each in a client span when ctx is traced. The
// body goes to decode, or to consume when decode is nil.
func (c *Caller) call(ctx context.Context, endpoint string, mutation bool, attempt int, req *http.Request, decode Decoder, consume StreamDecoder) error {
	ctx, span := startSpan(ctx, c.vendor, endpoint, mutation, attempt)
	start := time.Now()
	err := c.attempt(ctx, endpoint, mutation, req, decode, consume)
	if vendorerr.IsKind(err, vendorerr.KindThrottled) {
		c.pause.throttled(err)
	}
	outcome := c.record(ctx, endpoint, start, err)
	var cost int64
	if c.observe != nil && !vendorerr.NotSent(err) {
		cost = c.observe(ctx, Observation{Vendor: c.vendor, Endpoint: endpoint, Outcome: outcome, Latency: time.Since(start)})
	}
	endSpan(span, outcome, cost, err)
	if ce, ok := err.(callerError); ok {
		return ce.err
	}
	return err
}

// attempt sends req once and classifies what happened: every failure it
// returns is one of the six kinds of vendorerr.Kind's comment, or the
// caller's own cancellation, or a StreamDecoder's own failure.
func (c *Caller) attempt(ctx context.Context, endpoint string, mutation bool, req *http.Request, decode Decoder, consume StreamDecoder) (err error) {
	if err := c.wait(ctx, endpoint); err != nil {
		closeBody(req)
		return err
	}
	if err := unsendable(req); err != nil {
		closeBody(req)
		err.Vendor, err.Endpoint = c.vendor, endpoint
		return err
	}
	done, berr := c.breaker.allow()
	if berr != nil {
		closeBody(req)
		return &vendorerr.Error{Kind: vendorerr.KindCircuitOpen, Vendor: c.vendor, Endpoint: endpoint,
			Message: "circuit open after repeated unavailability", Err: berr, RetryAfter: c.breaker.retryAfter()}
	}
	defer func() { done(err) }()

	// A streamed call (an upload's body, a download) is bounded by its
	// progress, not by a fixed total: it fails when no byte moves for
	// IdleTimeout. A download's wait for its headers, and a call read
	// whole, is bounded by Timeout. The end of an upload's body is not the
	// vendor having it (socket buffers hold much of it), so its answer
	// gets the longer of the two.
	parent := ctx
	streamedBody := req.Body != nil && req.Body != http.NoBody && req.GetBody == nil
	var cancel context.CancelFunc
	var watch *watchdog
	if streamedBody || consume != nil {
		var cancelCause context.CancelCauseFunc
		ctx, cancelCause = context.WithCancelCause(ctx)
		cancel = func() { cancelCause(context.Canceled) }
		watch = newWatchdog(c.cfg.IdleTimeout, cancelCause)
		defer watch.stop()
		if streamedBody {
			req = withBody(req, &progressReader{r: req.Body, watch: watch, idle: c.cfg.IdleTimeout,
				waitAnswer: max(c.cfg.Timeout, c.cfg.IdleTimeout), upload: true})
		} else {
			watch.extend(c.cfg.Timeout)
		}
	} else {
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
	}
	defer cancel()
	if mutation {
		req = sendOnce(req)
	}
	// The request may have left once a connection was handed to it;
	// before that (dial, DNS, pool wait) it certainly had not.
	var sent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { sent.Store(true) },
	})
	if c.sign != nil {
		c.sign(req)
	}
	resp, err := c.client.Do(req.WithContext(ctx))
	if err != nil {
		if ve := refusedLocally(err); ve != nil && !sent.Load() {
			ve.Vendor, ve.Endpoint = c.vendor, endpoint
			return ve
		}
		return c.transportError(parent, ctx, endpoint, mutation, sent.Load(), 0, err)
	}
	defer resp.Body.Close()
	if watch != nil {
		watch.extend(c.cfg.IdleTimeout)
		resp.Body = &progressReader{r: resp.Body, watch: watch, idle: c.cfg.IdleTimeout}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.httpError(endpoint, mutation, resp)
	}
	if decode != nil {
		err = c.whole(resp, decode)
	} else {
		err = c.stream(resp, consume)
	}
	switch e := err.(type) {
	case unreadable:
		// The answer could not be read to its end: the connection broke.
		return c.transportError(parent, ctx, endpoint, mutation, true, resp.StatusCode, e.err)
	case undecodable:
		return c.undecodable(ctx, endpoint, mutation, resp.StatusCode, e)
	}
	return err
}

// wait holds a call while the vendor's throttle hint or our rate limit
// says so, within the caller's deadline; past it, the call is refused
// before anything is sent.
func (c *Caller) wait(ctx context.Context, endpoint string) error {
	if d := c.pause.left(); d > 0 {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return &vendorerr.Error{Kind: vendorerr.KindRateLimited, Vendor: c.vendor, Endpoint: endpoint,
				Message: "the vendor asked vendorgate to slow down, and the call's deadline comes first", RetryAfter: d}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: %w", c.vendor, endpoint, ctx.Err())
		case <-time.After(d):
		}
	}
	if c.limiter == nil {
		return nil
	}
	if werr := c.limiter.Wait(ctx); werr != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return fmt.Errorf("%s %s: %w", c.vendor, endpoint, context.Canceled)
		}
		return &vendorerr.Error{Kind: vendorerr.KindRateLimited, Vendor: c.vendor, Endpoint: endpoint,
			Message: "our rate limit for this vendor has no room within the call's deadline",
			Err:     werr, RetryAfter: time.Duration(float64(time.Second) / float64(c.limiter.Limit()))}
	}
	return nil
}

// closeBody closes the body of a request that will not be sent.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// transportError classifies a failure to get or read an answer. parent is
// the caller's context, ctx the attempt's; sent says the request may have
// reached the vendor.
func (c *Caller) transportError(parent, ctx context.Context, endpoint string, mutation, sent bool, status int, err error) error {
	callerGone := parent.Err() != nil
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		err = fmt.Errorf("%w: %w", cause, err) // the watchdog's word on why
	}
	stalled := errors.Is(context.Cause(ctx), errCallerStalled)
	switch {
	case mutation && sent:
		cause := err
		if errors.Is(parent.Err(), context.Canceled) {
			cause = fmt.Errorf("%w: %w", context.Canceled, err)
		} else if errors.Is(parent.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
			cause = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: c.vendor, Endpoint: endpoint,
			HTTPStatus: status, Message: "the request may have reached the vendor and no usable answer came back", Err: cause}
	case callerGone:
		// The caller left or ran out of its own time: that says nothing
		// about the vendor.
		return fmt.Errorf("%s %s: %w", c.vendor, endpoint, parent.Err())
	case stalled:
		// Our caller stopped sending its upload or taking the download:
		// the vendor is not at fault, and no breaker counts it.
		return fmt.Errorf("%s %s: %w for %s: %w", c.vendor, endpoint, errCallerStalled, c.cfg.IdleTimeout, context.DeadlineExceeded)
	default:
		msg := "no answer from the vendor"
		if ctx.Err() != nil {
			msg = fmt.Sprintf("the vendor did not answer within %s", c.cfg.Timeout)
			if errors.Is(context.Cause(ctx), errIdle) {
				msg = fmt.Sprintf("no byte moved for %s", c.cfg.IdleTimeout)
			}
		}
		return &vendorerr.Error{Kind: vendorerr.KindUnavailable, Vendor: c.vendor, Endpoint: endpoint,
			HTTPStatus: status, Message: msg, Err: err, NotSent: !sent}
	}
}

// undecodable classifies a 2xx answer the decoder could not take: a read's
// is unreadable (logged with an excerpt, at most once a minute per
// endpoint); a mutation's is an unknown outcome, since the vendor may well
// have applied it.
func (c *Caller) undecodable(ctx context.Context, endpoint string, mutation bool, status int, u undecodable) error {
	if c.unreadableLog.allow(endpoint) {
		c.log.ErrorContext(ctx, "vendor answered in a shape vendorgate cannot read; the decoder needs to learn it",
			"vendor", c.vendor, "endpoint", endpoint, "error", u.err.Error(), "excerpt", excerpt(u.body))
	}
	if mutation {
		return &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: c.vendor, Endpoint: endpoint, HTTPStatus: status,
			Message: "the vendor answered in a shape vendorgate cannot read: the request may have been applied", Err: u.err}
	}
	return &vendorerr.Error{Kind: vendorerr.KindUnreadable, Vendor: c.vendor, Endpoint: endpoint, HTTPStatus: status, Err: u.err}
}

// httpError classifies a non-2xx reply: the Classify hook first, then the
// default. A mutation's 5xx may come from a gateway whose upstream applied
// the call, so it is an unknown outcome.
func (c *Caller) httpError(endpoint string, mutation bool, resp *http.Response) error {
	body, _ := c.readBody(resp.Body, resp.ContentLength)
	var e *vendorerr.Error
	if c.classify != nil {
		e = c.classify(resp.StatusCode, resp.Header, body)
	}
	if e == nil {
		e = &vendorerr.Error{Kind: defaultKind(resp.StatusCode)}
	}
	e.Vendor, e.Endpoint, e.HTTPStatus = c.vendor, endpoint, resp.StatusCode
	if e.Code == "" {
		e.Code = strconv.Itoa(resp.StatusCode)
	}
	if e.Kind == vendorerr.KindThrottled && e.RetryAfter <= 0 {
		e.RetryAfter = retryAfterHeader(resp.Header)
	}
	if mutation && resp.StatusCode >= 500 && (e.Kind == vendorerr.KindUnavailable || e.Kind == vendorerr.KindUnknown) {
		e.Kind = vendorerr.KindOutcomeUnknown
	}
	if e.Kind == vendorerr.KindAuth {
		// Our credentials or clock are wrong: nothing a caller can fix.
		c.log.ErrorContext(resp.Request.Context(), "vendor rejected our signature or credentials: check the vendor's secret and the clock",
			"vendor", c.vendor, "endpoint", endpoint, "http_status", resp.StatusCode, "vendor_message", e.Message)
	}
	return e
}

// defaultKind is the vendor-neutral classification of an HTTP status.
func defaultKind(status int) vendorerr.Kind {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return vendorerr.KindAuth
	case status == http.StatusTooManyRequests:
		return vendorerr.KindThrottled
	case status >= 500:
		return vendorerr.KindUnavailable
	default:
		return vendorerr.KindUnknown
	}
}

// record logs and counts one call and returns its outcome: "ok" or the
// failure's reason.
func (c *Caller) record(ctx context.Context, endpoint string, start time.Time, err error) string {
	elapsed := time.Since(start)
	outcome, code := "ok", ""
	if err != nil {
		outcome = "canceled"
		if _, ok := err.(callerError); ok {
			outcome = "caller_error"
		}
		if ve, ok := vendorerr.As(err); ok {
			outcome, code = ve.ReasonString(), ve.Code
		}
		c.log.WarnContext(ctx, "vendor call failed", "vendor", c.vendor, "endpoint", endpoint,
			"duration_ms", elapsed.Milliseconds(), "reason", outcome, "error", err.Error())
	}
	if c.metrics == nil {
		return outcome
	}
	c.metrics.requestsOf.Get(callSeries{c.vendor, endpoint, outcome}).Inc()
	c.metrics.durationOf.Get(callSeries{vendor: c.vendor, endpoint: endpoint}).Observe(elapsed.Seconds())
	if err != nil {
		c.metrics.failures.WithLabelValues(c.vendor, endpoint, outcome, code).Inc()
	}
	return outcome
}

// readAll is io.ReadAll into a buffer of the body's declared length (and a
// byte more, to see its end) when the vendor declared one within limit: one
// allocation, where io.ReadAll starts at 512 bytes and grows by copying.
// The buffer taken before any byte came is at most maxPresized: a vendor
// that declares megabytes and sends nothing holds no more. A body longer
// or shorter than declared reads all the same.
func readAll(r io.Reader, declared, limit int64) ([]byte, error) {
	if declared <= 0 || declared > limit {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, min(declared, maxPresized)+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// maxPresized bounds readAll's first buffer: vendor answers read whole are
// a few kilobytes.
const maxPresized = 64 << 10
