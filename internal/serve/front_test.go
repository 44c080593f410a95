package serve

import (
	"bufio"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// frontRequests are request lines, hostile ones among them: escaped and
// dot segments, doubled slashes, a route's name escaped, CONNECT and
// OPTIONS *.
var frontRequests = []string{
	"GET /v1/delivery/orders/x", "GET /v1/x?y=1", "POST /v1/x", "HEAD /v1/x", "GET /healthz", "POST /healthz",
	"GET /healthz/", "GET /%68ealthz", "GET /readyz", "GET /metrics", "GET /docs", "GET /docs/", "GET /docs/x",
	"GET /openapi.json", "GET /v1/../healthz", "GET /v1//x", "GET /v1/./x", "GET /v1/x/", "GET /v1/x/.",
	"GET /", "GET //v1/x", "GET /v1%2Fx", "GET /%76%31/x", "GET /links/abc", "GET /links", "GET /links/",
	"POST /v1/esign/contracts", "GET /v1/esign/contracts", "GET /x:y", "OPTIONS *", "CONNECT h:443",
	"GET /hea%6c;thz", "GET /v1/x/..", "GET /v1/%2e%2e/healthz", "GET /v1/%2E",
}

// frontCase is a front with the probes, metrics, docs, the extra routes
// extra names and a gateway that tells how it was reached: through the mux
// (r.Pattern "/") or straight from front ("").
func frontCase(t testing.TB, extra ...string) *front {
	t.Helper()
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	routesOf := map[string]http.Handler{}
	for _, p := range extra {
		routesOf[p] = ok
	}
	gateway := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Gateway", "pattern="+r.Pattern)
	})
	f, err := routes(&probes{log: slog.New(slog.DiscardHandler)}, prometheus.NewRegistry(), routesOf, gateway, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkFront serves the request line through f and through f's mux alone:
// a request f sends straight to the gateway must be one the mux sends
// there too. It reports whether f took the shortcut.
func checkFront(t *testing.T, f *front, line string) bool {
	read := func() *http.Request {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(line + " HTTP/1.1\r\nHost: h\r\n\r\n")))
		if err != nil {
			return nil
		}
		return r
	}
	r := read()
	if r == nil {
		return false
	}
	viaFront := httptest.NewRecorder()
	f.ServeHTTP(viaFront, r)
	if viaFront.Header().Get("X-Gateway") != "pattern=" {
		return false
	}
	viaMux := httptest.NewRecorder()
	f.mux.ServeHTTP(viaMux, read())
	if got := viaMux.Header().Get("X-Gateway"); got != "pattern=/" {
		t.Errorf("%s: front gave it to the gateway; the mux answers %d (gateway: %q)", line, viaMux.Code, got)
	}
	return true
}

// TestFrontRoutesAsTheMux: front gives the gateway a request straight only
// when net/http's mux would give it the gateway too, with extra routes
// under the gateway's own first segment, with one of a host (then front
// always asks the mux), and with none.
func TestFrontRoutesAsTheMux(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		extra []string
		took  string
	}{
		{"no extra routes", nil,
			"GET /v1/delivery/orders/x,GET /v1/x?y=1,POST /v1/x,HEAD /v1/x,GET /v1/x/,GET /links/abc,GET /links,GET /links/,POST /v1/esign/contracts,GET /v1/esign/contracts,GET /x:y,GET /v1/%2e%2e/healthz,GET /v1/%2E"},
		{"extra routes", []string{"POST /v1/esign/contracts", "GET /links/{token}"}, "GET /x:y"},
		{"a route of a host", []string{"GET example.com/v1/x"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := frontCase(t, c.extra...)
			var took []string
			for _, line := range frontRequests {
				if checkFront(t, f, line) {
					took = append(took, line)
				}
			}
			if got := strings.Join(took, ","); got != c.took {
				t.Errorf("front took %q straight to the gateway, want %q", got, c.took)
			}
		})
	}
}

// FuzzFrontRoutesAsTheMux is TestFrontRoutesAsTheMux's check on any
// request line: go test -fuzz FuzzFront ./internal/serve/.
func FuzzFrontRoutesAsTheMux(f *testing.F) {
	for _, line := range frontRequests {
		f.Add(line)
	}
	fr := frontCase(f, "POST /v1/esign/contracts", "GET /links/{token}")
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n") {
			return
		}
		checkFront(t, fr, line)
	})
}
