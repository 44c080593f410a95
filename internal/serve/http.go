package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
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
func routes(p *probes, reg *prometheus.Registry, extra map[string]http.Handler, gateway http.Handler, openAPI []byte) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", p.healthz)
	mux.HandleFunc("GET /readyz", p.readyz)
	if reg != nil {
		mux.Handle("GET /metrics", metricsHandler(reg))
	}
	if openAPI != nil {
		docs, err := docsHandler()
		if err != nil {
			return nil, fmt.Errorf("docs page: %w", err)
		}
		mux.Handle("GET /openapi.json", openAPIHandler(openAPI))
		mux.Handle("GET /docs", docs)
		mux.Handle("GET /docs/", docs)
	}
	for _, pattern := range slices.Sorted(maps.Keys(extra)) {
		if err := handle(mux, pattern, extra[pattern]); err != nil {
			return nil, err
		}
	}
	if err := handle(mux, "/", gateway); err != nil {
		return nil, err
	}
	return mux, nil
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
