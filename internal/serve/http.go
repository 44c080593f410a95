package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// probes answers the liveness and readiness checks.
type probes struct {
	// ready is Options.Ready, possibly nil.
	ready func(ctx context.Context) error
	// log receives why the service is not ready: the body names the failing
	// check only, never a DSN, user or host, since /readyz is open.
	log *slog.Logger
	// stopping is set when shutdown starts, so that load balancers stop
	// sending new requests while in-flight ones finish.
	stopping atomic.Bool
}

// healthz says the process is serving HTTP; it checks nothing else, so that
// an unavailable dependency never gets the process restarted.
func (p *probes) healthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

// readyz says whether the service should receive traffic.
func (p *probes) readyz(w http.ResponseWriter, r *http.Request) {
	if p.stopping.Load() {
		writeText(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if p.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := p.ready(ctx); err != nil {
			if p.log != nil {
				p.log.Warn("not ready", "check", readyCheck, "error", err.Error())
			}
			writeText(w, http.StatusServiceUnavailable, "not ready: "+readyCheck)
			return
		}
	}
	writeText(w, http.StatusOK, "ok")
}

// readyCheck names Options.Ready's check in /readyz's body: the services'
// readiness is their store answering.
const readyCheck = "store"

// readyTimeout bounds the readiness check, so that a store that does not
// answer makes /readyz answer 503, not hang.
const readyTimeout = 5 * time.Second

func writeText(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, text+"\n")
}

// routes is the HTTP side of the listener: the probes, /metrics (unless
// reg is nil: it has a listener of its own), the OpenAPI document and docs
// page when there is a document, the extra routes and, for everything
// else, the REST gateway.
func routes(p *probes, reg *prometheus.Registry, extra map[string]http.Handler, gateway http.Handler, openAPI []byte) (*front, error) {
	f := &front{mux: http.NewServeMux(), gateway: gateway, others: map[string]bool{}}
	f.handle("GET /healthz", http.HandlerFunc(p.healthz))
	f.handle("GET /readyz", http.HandlerFunc(p.readyz))
	if reg != nil {
		f.handle("GET /metrics", metricsHandler(reg))
	}
	if openAPI != nil {
		docs, err := docsHandler()
		if err != nil {
			return nil, fmt.Errorf("docs page: %w", err)
		}
		f.handle("GET /openapi.json", openAPIHandler(openAPI))
		f.handle("GET /docs", docs)
		f.handle("GET /docs/", docs)
	}
	for _, pattern := range slices.Sorted(maps.Keys(extra)) {
		if err := f.handle(pattern, extra[pattern]); err != nil {
			return nil, err
		}
	}
	if err := handle(f.mux, "/", gateway); err != nil {
		return nil, err
	}
	return f, nil
}

// front is the HTTP side's router: a net/http ServeMux of the probes, the
// metrics, the docs and the extra routes, with the REST gateway at "/".
// A request the mux could only give the gateway goes to it straight: a
// clean path (the mux would redirect another to its cleaned form) whose
// first segment, unescaped as it stands, is no other route's (and not a
// CONNECT, which the mux routes apart). The mux's match was 0.9 µs of a
// REST GetOrder. TestFrontRoutesAsTheMux holds front's choices to the
// mux's.
type front struct {
	mux     *http.ServeMux
	gateway http.Handler
	// others are the first path segments of the mux's other routes; nil
	// when one of them could match any first segment (a wildcard or a
	// host in its pattern), and every request takes the mux.
	others map[string]bool
}

// handle registers h on the mux at pattern and notes the pattern's first
// path segment.
func (f *front) handle(pattern string, h http.Handler) error {
	if err := handle(f.mux, pattern, h); err != nil {
		return err
	}
	if f.others == nil {
		return nil
	}
	// "[METHOD ]PATH": a pattern without a method is all path.
	_, p, hasMethod := strings.Cut(pattern, " ")
	if !hasMethod {
		p = pattern
	}
	seg, ok := firstSegment(strings.TrimSpace(p))
	if !ok || seg == "" || strings.ContainsAny(seg, "{}%") {
		f.others = nil
		return nil
	}
	f.others[seg] = true
	return nil
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.others != nil && r.Method != http.MethodConnect {
		p := r.URL.EscapedPath()
		if seg, ok := firstSegment(p); ok && seg != "" && !strings.Contains(seg, "%") && !f.others[seg] && isClean(p) {
			f.gateway.ServeHTTP(w, r)
			return
		}
	}
	f.mux.ServeHTTP(w, r)
}

// firstSegment is the first segment of an absolute path: "v1" of
// "/v1/delivery/orders".
func firstSegment(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/")
	if !ok {
		return "", false
	}
	seg, _, _ := strings.Cut(rest, "/")
	return seg, true
}

// isClean reports whether net/http's ServeMux takes p as it is: the path
// path.Clean makes of it, with its trailing slash kept.
func isClean(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		return len(p) == len(c)+1 && strings.HasPrefix(p, c)
	}
	return c == p
}

// handle registers h on mux, returning as an error what ServeMux reports by
// panicking: an invalid pattern, a nil handler or a conflicting route.
func handle(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("http route %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// metricsHandler serves reg's metrics.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
