// Package vendorcalltest has loopback vendors for testing the vendor call
// layer and the clients built on it.
package vendorcalltest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// connKey keys a connection's request counter in the request context.
type connKey struct{}

// NewLostReplyServer starts a loopback vendor serving h. A request for
// which lose returns true and that arrives on a reused keep-alive
// connection is applied (h runs, its reply is discarded) and then the
// connection is closed without an answer: the reply is lost. A request on
// a fresh connection is always answered, so the first call warms the
// client's pool.
func NewLostReplyServer(t testing.TB, h http.Handler, lose func(*http.Request) bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := r.Context().Value(connKey{}).(*atomic.Int64).Add(1)
		if n == 1 || !lose(r) {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("lost-reply vendor: hijack: %v", err)
			return
		}
		_ = conn.Close()
	}))
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, new(atomic.Int64))
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}
