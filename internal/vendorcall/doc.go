// Package vendorcall is the vendor-neutral layer every vendor HTTP call
// goes through. It knows no gateway and no vendor: those plug in as an
// http.Client's RoundTripper (signing, e.g. cloudmarket.Signer), a Classify hook
// (a gateway's own error replies, e.g. cloudmarket.Classify) and the
// Decoder each call passes (the vendor's envelope and refusals).
//
// # Two kinds of call
//
// Every call is declared as one of two kinds, and the kind decides what
// may be repeated:
//
//   - Read: safe to repeat. Caller.Read retries a retryable failure
//     (unavailable, throttled, timed out, rate limited) with exponential
//     back-off under the RetryPolicy the call passes; NoRetry when a loop
//     above owns the retrying (one retry policy per call, never nested).
//   - Mutation (anything that changes state or costs money): sent at most
//     once. Caller.Mutate has no retry parameter, and the request is made
//     non-replayable so that net/http's Transport cannot re-send it by
//     itself on a reused keep-alive connection that broke (see
//     sendOnce). A failure after the request may have left (a dropped
//     connection, a timeout or cancellation, a 5xx, an unreadable 2xx
//     body) is vendorerr.KindOutcomeUnknown, distinct from a refusal and
//     from unavailability; a failure known to come before sending (dial or
//     DNS failure, our rate limit, the open breaker, a 401/403/429 from
//     the gateway) is not.
//
// # What every call gets
//
//   - a per-vendor rate limit (golang.org/x/time/rate; Config.RateLimit,
//     unlimited by default): a call waits for a token within the caller's
//     deadline, or fails at once with vendorerr.KindRateLimited
//     (RESOURCE_EXHAUSTED) before anything is sent;
//   - a per-vendor circuit breaker (github.com/sony/gobreaker/v2): only
//     unavailability counts against it (transport failures, timeouts, 5xx,
//     throttling, unknown outcomes); refusals and bad input never do. After
//     Config.BreakerFailures consecutive unavailabilities it opens, and
//     calls fail at once with vendorerr.KindCircuitOpen and a RetryAfter
//     until a probe succeeds;
//   - a per-call timeout under the caller's deadline (Config.Timeout);
//   - a response size bound: MaxResponseBytes for bodies read whole and
//     handed to a Decoder in one pass, MaxStreamBytes for bodies handed to
//     a StreamDecoder as an io.Reader (downloads; default 50 MiB);
//   - a request body streamed from the caller when req.Body is a stream
//     (e.g. formsign.Multipart over an io.Pipe), so large uploads pass with
//     bounded memory;
//   - Prometheus metrics labelled by vendor, registered once per registry
//     (a second vendor's Caller on the same registry reuses them), with the
//     breaker state as a gauge; and logs that never hold a header value.
//
// The metric, the log line and the returned error of one failure carry the
// same vendorerr reason: a Decoder's own classification (e.g. an unknown
// id as vendorerr.KindNotFound) is what the metric counts.
//
// # Usage
//
//	caller, err := vendorcall.New("dingdang", cfg.Call, vendorcall.Options{
//		HTTPClient: &http.Client{Transport: &cloudmarket.Signer{SecretID: id, SecretKey: key, Base: vendorcall.NewTransport()}},
//		Classify:   cloudmarket.Classify,
//		Registerer: reg,
//		Logger:     log,
//	})
//	// a read, retried by the default policy:
//	err = caller.Read(ctx, "/open/order/orderRecord", vendorcall.RetryPolicy{},
//		func() (*http.Request, error) { return http.NewRequest(http.MethodPost, url, nil) },
//		func(body []byte) error { return decode(body, &out) })
//	// a mutation, sent once:
//	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(form.Encode()))
//	err = caller.Mutate(ctx, "/open/order/createOrder", req, decodeEnvelope)
//	// a streamed download:
//	err = caller.ReadStream(ctx, "/get_file.api", vendorcall.RetryPolicy{}, build,
//		func(h http.Header, body io.Reader) error { _, err := io.Copy(dst, body); return err })
package vendorcall
