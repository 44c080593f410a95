package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
)

// drainGrace is how long the server goes on reading what is left of a
// request body after the REST face has answered without it: long enough
// for a client still sending to finish and read the answer (closing a
// connection with bytes unread resets it, and the reset can destroy the
// answer before the client reads it), short enough that a stalled client
// loses its connection within a second of its answer, net/http's own half
// second after a body over its limit included.
const drainGrace = 250 * time.Millisecond

// letGo bounds how long net/http waits for the rest of a body the REST face
// has refused or given up on. Once the handler returns, net/http reads up
// to 256 KiB of what is left of the body, to reuse the connection or to
// close it cleanly; with no read deadline it waits as long as the client
// stalls, so that a client told 408 or 413 would keep the connection and
// its goroutine for as long as it liked.
func letGo(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(drainGrace))
}

// bodyTimedOut is the REST face's answer to a body that did not arrive
// within the body read timeout, received bytes of it having come.
func (f *restFace) bodyTimedOut(received int64) *status.Status {
	return rpcstatus.Refused(codes.DeadlineExceeded, f.domain, rpcstatus.ReasonRequestTimeout,
		fmt.Sprintf("the request body did not arrive within %s (%d bytes came)", f.readTimeout, received),
		map[string]string{"received_bytes": strconv.FormatInt(received, 10)})
}

// timedBodyKey finds a WrapREST request's timedBody in its context.
type timedBodyKey struct{}

// timedBody is the body of a WrapREST request, read against the body read
// deadline that timeBodies set on the connection.
type timedBody struct {
	io.ReadCloser
	// rc and idle push the connection's read deadline out by idle after
	// every byte that arrives: a streamed upload is bounded by its
	// progress, not by its total time.
	rc   *http.ResponseController
	idle time.Duration
	// received counts the bytes read.
	received atomic.Int64
	// timedOut is set when a read ran into the deadline, done when one
	// reached the end of the body.
	timedOut, done atomic.Bool
	// passed is set when the WrapREST handler passes the request on to
	// the REST face, which then times the body and answers for it.
	passed atomic.Bool
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.received.Add(int64(n))
	if n > 0 && err == nil && b.rc != nil {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		// net/http clears the read deadline itself at the body's end, so
		// it does not bound the handler's work after the body.
		b.done.Store(true)
	case errors.As(err, &ne) && ne.Timeout():
		b.timedOut.Store(true)
	}
	return n, err
}

// timedWriter is a WrapREST handler's ResponseWriter. Once the body has
// timed out, the answer is the REST face's 408, so what the handler writes
// from then on (its own error for the failed read) is dropped; what it had
// written before stands.
type timedWriter struct {
	http.ResponseWriter
	body *timedBody
	// wrote is set once the handler's answer has started.
	wrote bool
}

// drop reports whether the handler's write is to be dropped.
func (w *timedWriter) drop() bool {
	if w.wrote {
		return false
	}
	if w.body.timedOut.Load() && !w.body.passed.Load() {
		return true
	}
	w.wrote = true
	return false
}

func (w *timedWriter) WriteHeader(code int) {
	if !w.drop() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *timedWriter) Write(p []byte) (int, error) {
	if w.drop() {
		return 0, http.ErrHandlerTimeout
	}
	return w.ResponseWriter.Write(p)
}

// Flush lets streamed responses through.
func (w *timedWriter) Flush() {
	if w.drop() {
		return
	}
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *timedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// timeBodies times the bodies of h's requests; h is a WrapREST handler,
// which may read a body itself (a multipart upload streamed to the
// service). Such a body is bounded by its progress: no byte may take longer
// than the body read timeout to come, however long the whole upload takes
// (a 20 MiB contract over a slow line passes). One that stalls is answered with 408 REQUEST_TIMEOUT in
// the one error shape, counted and logged, whatever h made of its failed
// read, and its connection is closed; so is the connection of a body h
// leaves unread and the client does not finish sending.
func (f *restFace) timeBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasBody(r) {
			h.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(start.Add(f.readTimeout))
		body := &timedBody{ReadCloser: r.Body, rc: rc, idle: f.readTimeout}
		r = r.WithContext(context.WithValue(r.Context(), timedBodyKey{}, body))
		r.Body = body
		tw := &timedWriter{ResponseWriter: w, body: body}
		h.ServeHTTP(tw, r)

		switch {
		case body.passed.Load():
			// The REST face has answered for the body.
		case body.timedOut.Load() && !tw.wrote:
			f.answerTimedOut(w, r, body.received.Load())
			letGo(w)
		case !body.done.Load():
			letGo(w)
		}
	})
}

// answerTimedOut answers a WrapREST request whose body timed out with 408,
// in place of what its handler meant to answer; the REST face counts it
// and logs it as its own, whatever the service's access log wrote of the
// call the handler had started.
func (f *restFace) answerTimedOut(w http.ResponseWriter, r *http.Request, received int64) {
	if call := callFrom(r.Context()); call != nil {
		call.reachedRP.Store(false)
	}
	clear(w.Header())
	// The client may still send the rest of the body.
	w.Header().Set("Connection", "close")
	f.writeError(w, r, f.bodyTimedOut(received))
}
