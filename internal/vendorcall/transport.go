package vendorcall

import (
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// NewTransport returns a keep-alive transport sized for many concurrent
// calls to one vendor host. Wrap it in the vendor's signing RoundTripper.
func NewTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// sendOnce returns a shallow copy of req that net/http's Transport will not
// re-send by itself.
//
// The Transport retries a request on a new connection when a reused
// keep-alive connection fails before any reply, if the request is
// "replayable" (net/http Request.isReplayable): its Body is nil or NoBody
// or it has a GetBody, and it is a GET, HEAD, OPTIONS or TRACE, or carries
// an Idempotency-Key or X-Idempotency-Key header. A mutation is therefore
// given:
//
//   - a Body that is neither nil nor NoBody, without GetBody: the Transport
//     then cannot rewind it and treats the request as not replayable. An
//     empty body on a GET-like method is probed and sent as no body at all
//     (transferWriter.probeRequestBody), so the wire is unchanged;
//   - for other methods (POST, PUT, …) with an empty body, which would go
//     out chunked if given a non-NoBody body: its idempotency-key headers
//     stored under their lower-case names, which the Transport's check does
//     not see and the wire carries all the same (header names are
//     case-insensitive).
//
// The HTTP/2 transport re-sends only what the server said it never
// processed (REFUSED_STREAM, GOAWAY beyond the stream), which is safe.
func sendOnce(req *http.Request) *http.Request {
	out := new(http.Request)
	*out = *req
	out.GetBody = nil
	if out.Body != nil && out.Body != http.NoBody {
		return out
	}
	if methodLacksBody(out.Method) {
		out.Body = emptyBody{}
		return out
	}
	out.Header = hideIdempotencyKeys(out.Header)
	return out
}

// methodLacksBody mirrors net/http's requestMethodUsuallyLacksBody: the
// methods whose empty body the Transport probes instead of sending chunked.
func methodLacksBody(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions,
		"PROPFIND", "SEARCH":
		return true
	}
	return false
}

// hideIdempotencyKeys returns h with the idempotency-key headers moved to
// their lower-case names (a copy when there are any).
func hideIdempotencyKeys(h http.Header) http.Header {
	keys := []string{"Idempotency-Key", "X-Idempotency-Key"}
	found := false
	for _, k := range keys {
		if _, ok := h[k]; ok {
			found = true
		}
	}
	if !found {
		return h
	}
	out := h.Clone()
	for _, k := range keys {
		if v, ok := out[k]; ok {
			delete(out, k)
			out[strings.ToLower(k)] = v
		}
	}
	return out
}

// emptyBody is an empty request body the Transport cannot rewind.
type emptyBody struct{}

// Read implements io.Reader.
func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }

// Close implements io.Closer.
func (emptyBody) Close() error { return nil }
