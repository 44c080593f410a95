package serve

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/soheilhy/cmux"

	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

// DefaultWriteIdleTimeout is REST.WriteIdleTimeout when it is left zero.
const DefaultWriteIdleTimeout = 30 * time.Second

// flushEvery is how many bytes a response writes between flushes: the
// body goes out as it is written, and net/http's own buffers (2 KiB before
// chunking, 4 KiB on the connection) are all a response holds of it.
const flushEvery = 32 << 10

// bufferedBody is how much of a body net/http's response keeps in memory
// before it writes to the connection (its bufferBeforeChunkingSize): a
// write that fits reaches no socket, so cannot block on the client.
const bufferedBody = 2048

// writeProgress bounds every HTTP response by its progress: each write
// must be taken by the client within the idle timeout, or the connection
// is cut, the request's context ended (so is the gRPC stream behind a
// download) and the cut logged and counted. It wraps the whole HTTP side,
// the gateway's responses and streams (google.api.HttpBody) and every
// WrapREST and ExtraHTTP handler, so no handler can forget it.
type writeProgress struct {
	idle    time.Duration
	log     *slog.Logger
	cuts    prometheus.Counter
	secrets []string // Options.SecretPathPrefixes
}

func newWriteProgress(idle time.Duration, log *slog.Logger, reg prometheus.Registerer) (*writeProgress, error) {
	cuts, err := vendorcall.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vendorgate_rest_responses_cut_total",
		Help: "HTTP responses cut because the client took nothing for REST_WRITE_IDLE_TIMEOUT.",
	}))
	if err != nil {
		return nil, err
	}
	return &writeProgress{idle: idle, log: log, cuts: cuts}, nil
}

// wrap applies the write deadlines to h's responses.
func (p *writeProgress) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pw := &progressWriter{ResponseWriter: w, rc: *http.NewResponseController(w), idle: p.idle, ctx: r.Context()}
		// A deadline left by the previous response on this keep-alive
		// connection must not cut this one: net/http sets none of its own
		// without a WriteTimeout.
		_ = pw.rc.SetWriteDeadline(time.Time{})
		h.ServeHTTP(pw, r)
		pw.finish()
		// What net/http still writes after the handler (the last buffered
		// bytes, the chunked trailer) is bounded too.
		_ = pw.rc.SetWriteDeadline(time.Now().Add(p.idle))
		if pw.expired.Load() {
			p.cuts.Inc()
			p.log.LogAttrs(r.Context(), slog.LevelWarn, "REST response cut: the client took nothing for REST_WRITE_IDLE_TIMEOUT",
				slog.String("http.method", r.Method),
				slog.String("http.path", redactPath(r.URL.Path, p.secrets)),
				slog.String("peer.address", r.RemoteAddr),
				slog.Int64("written_bytes", pw.written),
				slog.String("timeout", p.idle.String()))
		}
	})
}

// progressWriter bounds each write and flush of a response by the idle
// timeout, and flushes the body as it goes. A write still blocked when
// the timeout fires is cut: the connection's write deadline is moved to
// now, which fails the write, and its close is made a reset, so that the
// kernel drops what it holds for the client (megabytes, once the send
// buffer has grown) instead of offering it for minutes more.
type progressWriter struct {
	http.ResponseWriter
	// rc is a field, not a pointer: one allocation fewer a response.
	rc   http.ResponseController
	idle time.Duration
	ctx  context.Context
	// written counts the body bytes the handler wrote, unflushed those
	// since the last flush.
	written, unflushed int64

	// timer fires expire when a write takes longer than idle; it is armed
	// only while a write or flush is under way.
	timer *time.Timer
	// expired is set once a write ran out of time.
	expired atomic.Bool
	// mu orders expire against finish: no deadline is touched once the
	// handler is done.
	mu   sync.Mutex
	done bool
}

func (w *progressWriter) arm() {
	if w.timer == nil {
		w.timer = time.AfterFunc(w.idle, w.expire)
		return
	}
	w.timer.Reset(w.idle)
}

func (w *progressWriter) disarm() {
	w.timer.Stop()
}

// expire cuts the write under way.
func (w *progressWriter) expire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.expired.Store(true)
	resetOnClose(w.ctx)
	_ = w.rc.SetWriteDeadline(time.Now())
}

// finish ends the timer's work once the handler has returned.
func (w *progressWriter) finish() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

func (w *progressWriter) Write(p []byte) (int, error) {
	// A write that stays in net/http's buffer reaches no socket: nothing
	// to time (what is left there when the handler returns is bounded by
	// wrap's deadline). Most JSON answers are one such write.
	if w.unflushed+int64(len(p)) > bufferedBody {
		w.arm()
		defer w.disarm()
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	w.unflushed += int64(n)
	if err == nil && w.unflushed >= flushEvery {
		w.unflushed = 0
		_ = w.rc.Flush()
	}
	return n, err
}

// WriteHeader only records a final header: net/http writes it with the
// body's first bytes, or when the handler returns. An informational one
// (1xx) goes out at once, bounded like a write.
func (w *progressWriter) WriteHeader(code int) {
	if code < http.StatusOK {
		w.arm()
		defer w.disarm()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Flush lets streamed responses through, within the timeout.
func (w *progressWriter) Flush() {
	_ = w.FlushError()
}

// FlushError is Flush with its error, for http.ResponseController.
func (w *progressWriter) FlushError() error {
	w.arm()
	defer w.disarm()
	w.unflushed = 0
	return w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type netConnKey struct{}

// restSendBuffer is the socket send buffer of an HTTP connection: Linux
// doubles it, so that the kernel holds at most about 1 MiB of a response
// ahead of its reader instead of the several MiB its autotuning grows to.
// At 100 ms of round trip it still sends 5 MB/s.
const restSendBuffer = 512 << 10

// withConn is the HTTP server's ConnContext: it bounds the connection's
// send buffer, keeps the connection in the requests' context, for
// resetOnClose, and its TLS state when the listener is TLS.
func withConn(ctx context.Context, c net.Conn) context.Context {
	if tc := tcpConnOf(c); tc != nil {
		_ = tc.SetWriteBuffer(restSendBuffer)
	}
	return withTLSConn(context.WithValue(ctx, netConnKey{}, c), c)
}

// tcpConnOf finds the TCP connection under c (cmux and TLS wrap it).
func tcpConnOf(c net.Conn) *net.TCPConn {
	for c != nil {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *cmux.MuxConn:
			c = v.Conn
		case *tls.Conn:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// resetOnClose makes the closing of the request's connection a reset
// (SO_LINGER 0), so that what the kernel still holds for a client that
// stopped reading is dropped at once.
func resetOnClose(ctx context.Context) {
	c, _ := ctx.Value(netConnKey{}).(net.Conn)
	if tc := tcpConnOf(c); tc != nil {
		_ = tc.SetLinger(0)
	}
}

// redactPath is path for a log line: the segment after any of the secret
// prefixes (a link or callback token) is shown as "…".
func redactPath(path string, secrets []string) string {
	for _, prefix := range secrets {
		if rest, ok := strings.CutPrefix(path, prefix); ok && rest != "" {
			_, tail, _ := strings.Cut(rest, "/")
			if tail != "" {
				tail = "/" + tail
			}
			return prefix + "…" + tail
		}
	}
	return path
}
