package vendorcall

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// unsendable checks what no transport may carry: a control character in a
// header's name or value, or in the URL. Such a request would be refused by
// net/http before a byte left, or worse, split into two on the wire; it is
// the request's fault, never the vendor's, so it is refused here, before the
// breaker and the rate limit see it.
func unsendable(req *http.Request) *vendorerr.Error {
	for name, values := range req.Header {
		if !validHeaderName(name) {
			return &vendorerr.Error{Kind: vendorerr.KindUnsendable, NotSent: true, Field: name,
				Message: "a header name holds a character HTTP does not allow"}
		}
		for _, v := range values {
			if i := controlAt(v, true); i >= 0 {
				return &vendorerr.Error{Kind: vendorerr.KindUnsendable, NotSent: true, Field: name,
					Message: "holds a control character at byte " + strconv.Itoa(i) + ", which cannot travel in an HTTP header"}
			}
		}
	}
	if req.URL != nil {
		for _, part := range []string{req.URL.Path, req.URL.RawQuery, req.URL.Host} {
			if i := controlAt(part, false); i >= 0 {
				return &vendorerr.Error{Kind: vendorerr.KindUnsendable, NotSent: true, Field: "url",
					Message: "the URL holds a control character at byte " + strconv.Itoa(i)}
			}
		}
	}
	return nil
}

// controlAt returns the index of the first ASCII control character in s
// (tab allowed when tabOK), or -1.
func controlAt(s string, tabOK bool) int {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if (b < 0x20 && !(tabOK && b == '\t')) || b == 0x7f {
			return i
		}
	}
	return -1
}

// validHeaderName reports whether name is an HTTP token (RFC 9110 5.6.2).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if b <= ' ' || b >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, b) >= 0 {
			return false
		}
	}
	return true
}

// refusedLocally recognises the errors net/http returns for a request it
// refuses to write at all (a malformed header, method or URL): nothing left.
// It returns nil for anything else.
func refusedLocally(err error) *vendorerr.Error {
	msg := err.Error()
	for _, s := range []string{"net/http: invalid header field", "net/http: invalid method", "unsupported protocol scheme", "no Host in request URL"} {
		if strings.Contains(msg, s) {
			return &vendorerr.Error{Kind: vendorerr.KindUnsendable, NotSent: true, Message: "net/http refused to send the request", Err: err}
		}
	}
	return nil
}

// retryAfterHeader reads a Retry-After header given in seconds; 0 when
// absent or in another form.
func retryAfterHeader(h http.Header) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 3600)) * time.Second
}

// defaultThrottlePause is how long a vendor's throttle holds new calls when
// it gives no hint of its own.
const defaultThrottlePause = time.Second

// pause holds a vendor's calls after it throttled us, for as long as it
// asked (or defaultThrottlePause): the throttle slows every caller of the
// vendor down instead of opening the breaker.
type pause struct {
	mu    sync.Mutex
	until time.Time
}

// throttled starts or extends the pause after err, a KindThrottled failure.
func (p *pause) throttled(err error) {
	d := defaultThrottlePause
	if ve, ok := vendorerr.As(err); ok && ve.RetryAfter > 0 {
		d = ve.RetryAfter
	}
	until := time.Now().Add(d)
	p.mu.Lock()
	if until.After(p.until) {
		p.until = until
	}
	p.mu.Unlock()
}

// left is how long the pause still runs; 0 when there is none.
func (p *pause) left() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.until.IsZero() {
		return 0
	}
	return max(0, time.Until(p.until))
}

// logEvery lets a log line through at most once a minute per key, so that
// a vendor's drifted reply is logged without flooding.
type logEvery struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// allow reports whether key may be logged now.
func (l *logEvery) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && time.Since(t) < time.Minute {
		return false
	}
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	l.last[key] = time.Now()
	return true
}

// excerptBytes is how much of an unreadable answer is logged.
const excerptBytes = 512

// excerpt is the head of body, as valid UTF-8, for a log line.
func excerpt(body []byte) string {
	if len(body) > excerptBytes {
		body = body[:excerptBytes]
		// Do not cut a character in two.
		for len(body) > 0 && !utf8.Valid(body) {
			body = body[:len(body)-1]
		}
	}
	return strings.ToValidUTF8(string(body), "?")
}

// errIdle is the cause of a streamed call cut because no byte moved.
var errIdle = errors.New("no byte moved within the idle timeout")

// errCallerStalled is the cause of a streamed call cut because no byte
// moved while it was our caller's turn: the caller sent no more of its
// upload, or took none of the download. It says nothing of the vendor.
var errCallerStalled = errors.New("the caller moved no byte within the idle timeout")

// Whose turn it is in a streamed call, for the watchdog to blame the right
// side when nothing moves.
const (
	turnVendor int32 = iota // the vendor sends or takes bytes
	turnCaller              // our caller sends or takes bytes
)

// watchdog cancels a streamed call when its deadline passes without
// progress; every byte moved pushes the deadline out. It blames whoever
// had the turn: the vendor (errIdle, an outage) or our caller
// (errCallerStalled, which a breaker must not count).
type watchdog struct {
	timer *time.Timer
	turn  atomic.Int32
}

func newWatchdog(idle time.Duration, cancel context.CancelCauseFunc) *watchdog {
	w := &watchdog{}
	w.timer = time.AfterFunc(idle, func() {
		if w.turn.Load() == turnCaller {
			cancel(errCallerStalled)
			return
		}
		cancel(errIdle)
	})
	return w
}

// extend sets the deadline to d from now.
func (w *watchdog) extend(d time.Duration) { w.timer.Reset(d) }

// stop ends the watch.
func (w *watchdog) stop() { w.timer.Stop() }

// progressReader reports every byte read to its watchdog; at the end of a
// request body it gives the vendor waitAnswer to answer. upload says
// whose turn a Read is: an upload's Read waits for our caller's bytes,
// the time between its Reads is the vendor's (taking what was read); a
// download's Read waits for the vendor's bytes, the time between them is
// our caller's (taking what was read).
type progressReader struct {
	r          io.Reader
	watch      *watchdog
	idle       time.Duration
	waitAnswer time.Duration
	upload     bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	in, out := turnVendor, turnCaller
	if p.upload {
		in, out = turnCaller, turnVendor
	}
	p.watch.turn.Store(in)
	n, err := p.r.Read(b)
	p.watch.turn.Store(out)
	if n > 0 {
		p.watch.extend(p.idle)
	}
	if err == io.EOF && p.waitAnswer > 0 {
		// The whole body is read: what remains is the vendor's answer.
		p.watch.turn.Store(turnVendor)
		p.watch.extend(p.waitAnswer)
	}
	return n, err
}

// Close closes the underlying reader when it can be closed.
func (p *progressReader) Close() error {
	if c, ok := p.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// withBody returns a shallow copy of req reading body.
func withBody(req *http.Request, body io.ReadCloser) *http.Request {
	out := new(http.Request)
	*out = *req
	out.Body = body
	return out
}
