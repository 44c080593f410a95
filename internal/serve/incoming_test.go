package serve

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// incomingCase is a face with one direct route and its gateway.
func incomingCase(t testing.TB) (*restFace, *directRoute) {
	t.Helper()
	rt, err := newRoute(&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/x/{value}"}},
		"/x.S/M", (&wrapperspb.StringValue{}).ProtoReflect().Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	f := &restFace{}
	f.mux = runtime.NewServeMux(f.muxOptions()...)
	return f, &directRoute{rt: rt, names: []string{"value"}}
}

// incomingRequest is a GET as the HTTP server reads it from head (its
// header lines), then changed by edit.
func incomingRequest(t testing.TB, head, remote string, edit func(*http.Request)) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET /v1/x/a HTTP/1.1\r\n" + head + "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	r.RemoteAddr = remote
	if edit != nil {
		edit(r)
	}
	return r
}

// TestIncomingMatchesTheGateway: a direct call's context carries the
// incoming metadata and path pattern the gateway's AnnotateIncomingContext
// gives the same request: its Authorization, X-Request-Id and forwarding
// headers, values the gateway drops (not printable ASCII) dropped alike,
// and none of the headers it does not forward.
func TestIncomingMatchesTheGateway(t *testing.T) {
	t.Parallel()
	f, d := incomingCase(t)
	for _, c := range []struct {
		name, head, remote string
		edit               func(*http.Request)
	}{
		{"plain", "Host: h\r\n", "127.0.0.1:5000", nil},
		{"caller", "Host: h\r\nAuthorization: Bearer k\r\nX-Request-Id: r-1\r\nUser-Agent: u\r\nAccept: */*\r\n", "127.0.0.1:5000", nil},
		{"lower-case keys", "host: h\r\nauthorization: Bearer k\r\nx-request-id: r-1\r\n", "10.0.0.1:1", nil},
		{"two of each", "Host: h\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\nX-Request-Id: r-1\r\nX-Request-Id: r-2\r\n", "127.0.0.1:5000", nil},
		{"not text", "Host: h\r\n", "127.0.0.1:5000", func(r *http.Request) {
			r.Header["Authorization"] = []string{"Bearer é", "Bearer ok"}
			r.Header["X-Request-Id"] = []string{"r\x01", "r-2"}
			r.Header["X-Forwarded-For"] = []string{"1.1.1.1", "ü"}
			r.Header["X-Forwarded-Host"] = []string{"ħost"}
		}},
		{"forwarded", "Host: h\r\nX-Forwarded-Host: front\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n", "[::1]:80", nil},
		{"spoofed forwarding metadata", "Host: h\r\nGrpc-Metadata-X-Forwarded-For: 6.6.6.6\r\nGrpc-Metadata-X-Request-Id: r-9\r\nX-Request-Id-Bin: AA==\r\n", "127.0.0.1:5000", nil},
		{"empty forwarded host", "Host: h\r\nX-Forwarded-Host: \r\n", "127.0.0.1:5000", nil},
		{"no port", "Host: h\r\n", "1.2.3.4", nil},
		{"no host, no address", "Host: h\r\n", "", func(r *http.Request) { r.Host = "" }},
		{"a key net/http left as it came", "Host: h\r\n", "127.0.0.1:5000", func(r *http.Request) {
			r.Header["x-request-id"] = []string{"raw"}
		}},
		{"a timeout", "Host: h\r\nGrpc-Timeout: 1S\r\nAuthorization: Bearer k\r\n", "127.0.0.1:5000", nil},
		{"a bad timeout", "Host: h\r\nGrpc-Timeout: soon\r\n", "127.0.0.1:5000", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := incomingRequest(t, c.head, c.remote, c.edit)
			want, werr := runtime.AnnotateIncomingContext(r.Context(), f.mux, r, d.rt.rpc, runtime.WithHTTPPathPattern(d.rt.template))
			got, gerr := f.incoming(r, d)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("error %v, the gateway's %v", gerr, werr)
			}
			if werr != nil {
				return
			}
			wmd, wok := metadata.FromIncomingContext(want)
			gmd, gok := metadata.FromIncomingContext(got)
			if wok != gok || !cmp.Equal(gmd, wmd) {
				t.Errorf("metadata %v (%v), the gateway's %v (%v)", gmd, gok, wmd, wok)
			}
			wp, _ := runtime.HTTPPathPattern(want)
			gp, _ := runtime.HTTPPathPattern(got)
			_, wdl := want.Deadline()
			_, gdl := got.Deadline()
			if gp != wp || gdl != wdl {
				t.Errorf("pattern %q, deadline %v; the gateway's %q, %v", gp, gdl, wp, wdl)
			}
		})
	}
}

// BenchmarkIncoming is a REST GetOrder's annotation, the face's and the
// gateway's.
func BenchmarkIncoming(b *testing.B) {
	f, d := incomingCase(b)
	r := incomingRequest(b, "Host: 127.0.0.1:8080\r\nAuthorization: Bearer k\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n", "127.0.0.1:5000", nil)
	b.Run("face", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = f.incoming(r, d)
		}
	})
	b.Run("gateway", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = runtime.AnnotateIncomingContext(r.Context(), f.mux, r, d.rt.rpc, runtime.WithHTTPPathPattern(d.rt.template))
		}
	})
}
