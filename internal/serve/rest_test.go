package serve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
)

// zeros is an endless body that allocates nothing: it streams n bytes of
// 'a' from one small buffer.
type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.left)
	for i := range n {
		p[i] = 'a'
	}
	z.left -= n
	return int(n), nil
}

// vmRSS reads the process's resident set size from /proc/self/status.
func vmRSS(t testing.TB) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestHugeBodyIsRefused streams 200 MB to a REST route and checks the
// answer is 413 REQUEST_TOO_LARGE with the limit. The memory bound is
// BenchmarkHugeBodyRSS's: a memory figure belongs in a benchmark, not in a
// test that shares its process with parallel tests and the race detector.
func TestHugeBodyIsRefused(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) { hugeBody(t, chunked) })
	}
}

// BenchmarkHugeBodyRSS measures how much the process (server and client
// both) grows while a 200 MB body is refused, as the metric rss-growth-KiB
// (the peak over all iterations), and fails when it reaches 16 MiB:
//
//	go test -run XXX -bench BenchmarkHugeBodyRSS -benchtime 3x ./internal/serve/
func BenchmarkHugeBodyRSS(b *testing.B) {
	for _, chunked := range []bool{false, true} {
		b.Run(fmt.Sprintf("chunked=%v", chunked), func(b *testing.B) {
			var worst int64
			for b.Loop() {
				worst = max(worst, hugeBody(b, chunked))
			}
			b.ReportMetric(float64(worst>>10), "rss-growth-KiB")
			if worst >= 16<<20 {
				b.Errorf("RSS grew by %d KiB, want under 16 MiB", worst>>10)
			}
		})
	}
}

// hugeBody posts 200 MB streamed from a generator, checks the 413, and
// returns how much VmRSS grew meanwhile.
func hugeBody(t testing.TB, chunked bool) int64 {
	s := start(t, nil)
	// Warm the path up so that first-use allocations do not count.
	if code, body := s.post(t, "/v1/echo", `{"text":"warm"}`); code != http.StatusOK {
		t.Fatalf("warm-up: got HTTP %d, want 200 (%s)", code, body)
	}
	goruntime.GC()
	before := vmRSS(t)

	var peak atomic.Int64
	peak.Store(before)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if r := vmRSS(t); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	})

	const size = 200 << 20
	req, err := http.NewRequest(http.MethodPost, s.base+"/v1/echo", &zeros{left: size})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	if chunked {
		req.ContentLength = -1
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("POST 200 MB: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	growth := peak.Load() - before
	t.Logf("chunked=%v: VmRSS before %d KiB, peak %d KiB: grew %d KiB while a 200 MB body was refused", chunked, before>>10, peak.Load()>>10, growth>>10)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("got HTTP %d, want 413 (%s)", resp.StatusCode, body)
	}
	info := errorInfoOf(t, string(body))
	if info.reason != rpcstatus.ReasonRequestTooLarge || info.meta[rpcstatus.MetaLimitBytes] != strconv.Itoa(DefaultMaxBodyBytes) {
		t.Errorf("ErrorInfo: got %s %v, want %s with %s=%d", info.reason, info.meta, rpcstatus.ReasonRequestTooLarge, rpcstatus.MetaLimitBytes, DefaultMaxBodyBytes)
	}
	return growth
}

type infoView struct {
	code   codes.Code
	reason string
	meta   map[string]string
	fields []string
}

// errorInfoOf decodes a REST error body.
func errorInfoOf(t testing.TB, body string) infoView {
	t.Helper()
	var sp spb.Status
	if err := protojson.Unmarshal([]byte(body), &sp); err != nil {
		t.Fatalf("error body %s is not a google.rpc.Status: %v", body, err)
	}
	info, bad := details(status.FromProto(&sp))
	v := infoView{code: codes.Code(sp.GetCode()), reason: info.GetReason(), meta: info.GetMetadata()}
	for _, fv := range bad.GetFieldViolations() {
		v.fields = append(v.fields, fv.GetField())
	}
	return v
}

// TestStalledBodyIsCutOff sends headers and half a body over raw TCP and
// checks the server answers 408 once the body read timeout passes, closes
// the connection and logs the request.
func TestStalledBodyIsCutOff(t *testing.T) {
	t.Parallel()
	s := start(t, func(o *Options) { o.REST.BodyReadTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"text\":\"half")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("got HTTP %d, want 408 (%s)", resp.StatusCode, body)
	}
	if info := errorInfoOf(t, string(body)); info.reason != rpcstatus.ReasonRequestTimeout {
		t.Errorf("reason: got %s, want %s", info.reason, rpcstatus.ReasonRequestTimeout)
	}
	// A read deadline ending would fail the read too: only EOF says the
	// server closed the connection.
	if n, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("after the answer, got %d bytes and %v, want the server to close the connection", n, err)
	}
	if s.echo.calls.Load() != 0 {
		t.Errorf("the handler ran %d times, want 0", s.echo.calls.Load())
	}
	lines := s.logs.lines(t, "finished REST request")
	if len(lines) != 1 || lines[0]["http.status"] != float64(408) || lines[0]["reason"] != rpcstatus.ReasonRequestTimeout {
		t.Errorf("REST access log: got %v, want one 408 %s line", lines, rpcstatus.ReasonRequestTimeout)
	}
}

// TestCallerAddressInAccessLog checks that a REST call reaching gRPC is
// logged once, as protocol rest with the caller's address: the proxy's
// X-Forwarded-For only when the proxy is trusted, and never the address a
// caller claims in gateway metadata.
func TestCallerAddressInAccessLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trusted []string
		header  map[string]string
		want    string // peer.address prefix
	}{
		{name: "untrusted proxy", header: map[string]string{"X-Forwarded-For": "203.0.113.7"}, want: "127.0.0.1:"},
		{name: "trusted proxy", trusted: []string{"127.0.0.0/8"}, header: map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "spoofed gateway metadata", header: map[string]string{"Grpc-Metadata-Vendorgate-Client-Address": "192.0.2.66"}, want: "127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, func(o *Options) { o.REST.TrustedProxies = tt.trusted })
			req, err := http.NewRequest(http.MethodPost, s.base+"/v1/echo", strings.NewReader(`{"text":"hi","mode":"invalid"}`))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			lines := s.logs.lines(t, "finished call")
			if len(lines) != 1 {
				t.Fatalf("got %d gRPC access lines, want 1: %s", len(lines), s.logs)
			}
			l := lines[0]
			if l["protocol"] != "rest" || l["http.method"] != "POST" || l["http.path"] != "/v1/echo" {
				t.Errorf("got protocol %v %v %v, want rest POST /v1/echo", l["protocol"], l["http.method"], l["http.path"])
			}
			if addr, _ := l["peer.address"].(string); !strings.HasPrefix(addr, tt.want) {
				t.Errorf("peer.address: got %q, want %q…", addr, tt.want)
			}
			if n := len(s.logs.lines(t, "finished REST request")); n != 0 {
				t.Errorf("got %d REST access lines for a call the gRPC log wrote, want 0", n)
			}
		})
	}
	t.Run("gRPC caller claiming the gateway's metadata", func(t *testing.T) {
		t.Parallel()
		s := start(t, nil)
		ctx := metadata.AppendToOutgoingContext(t.Context(), "vendorgate-gateway-secret", "guess", "vendorgate-client-address", "192.0.2.66", "vendorgate-http-method", "GET")
		if _, err := s.call(ctx, "hi", "ok"); err != nil {
			t.Fatal(err)
		}
		lines := s.logs.lines(t, "finished call")
		if len(lines) != 1 || lines[0]["protocol"] != "grpc" || !strings.HasPrefix(lines[0]["peer.address"].(string), "127.0.0.1:") {
			t.Errorf("got %v, want one grpc line from 127.0.0.1", lines)
		}
	})
}

// TestGRPCMessageOverLimit checks the gRPC side of the limit: a message
// over it is RESOURCE_EXHAUSTED. gRPC itself refuses it before any
// interceptor runs, so only the code can be guaranteed, not an ErrorInfo.
func TestGRPCMessageOverLimit(t *testing.T) {
	t.Parallel()
	s := start(t, func(o *Options) { o.REST.MaxBodyBytes = 2 << 20 })
	_, err := s.call(t.Context(), strings.Repeat("a", 9<<20), "ok")
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("got %v, want RESOURCE_EXHAUSTED", err)
	}
	if _, err := s.call(t.Context(), strings.Repeat("a", 3<<20), "ok"); err != nil {
		t.Errorf("a message over the REST limit but under the gRPC one: got %v, want OK", err)
	}
}

// TestRESTBodyUnderLimitPassesGRPC checks that a body just under a raised
// REST limit reaches the handler: the gateway's send limit and the
// server's receive limit follow the REST one.
func TestRESTBodyUnderLimitPassesGRPC(t *testing.T) {
	t.Parallel()
	s := start(t, func(o *Options) { o.REST.MaxBodyBytes = 6 << 20 })
	text := strings.Repeat("a", 6<<20-64)
	code, body := s.post(t, "/v1/echo", `{"text":"`+text+`"}`)
	if code != http.StatusOK {
		t.Errorf("got HTTP %d, want 200 (%.200s)", code, body)
	}
}

func TestRESTConfigCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  REST
		want string
	}{
		{REST{}, ""},
		{REST{MaxBodyBytes: -1}, "REST_MAX_BODY_BYTES"},
		{REST{BodyReadTimeout: -1}, "REST_BODY_READ_TIMEOUT"},
		{REST{IdleTimeout: -1}, "REST_IDLE_TIMEOUT"},
		{REST{TrustedProxies: []string{"10.0.0.0/8", "nope"}}, "REST_TRUSTED_PROXIES"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Check()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestUnknownRouteBodyLimitIsAnError(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Name: "echo", Domain: testDomain, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		RegisterGRPC: newEchoService(t).register, RouteBodyLimits: map[string]int64{"POST /v1/nowhere": 1 << 20}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := Run(ctx, lis, opts); err == nil || !strings.Contains(err.Error(), "POST /v1/nowhere") {
		t.Errorf("got %v, want an error naming the route", err)
	}
}

// TestRESTRequestID: a REST caller's X-Request-Id is the call's request
// id, as a gRPC caller's x-request-id metadata is: a failed call returns
// it for the caller to quote.
func TestRESTRequestID(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	req, err := http.NewRequest(http.MethodPost, s.base+"/v1/echo", strings.NewReader(`{"text":"hi","mode":"not-found"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-Id", "rest-rid-1")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("got HTTP %d, want 404", resp.StatusCode)
	}
	if got := resp.Header.Get("Grpc-Metadata-X-Request-Id"); got != "rest-rid-1" {
		t.Errorf("got request id %q, want rest-rid-1; headers %v", got, resp.Header)
	}
}

// TestRESTJSONMarshalsAsJSONPb holds restJSON.Marshal to the gateway's
// JSONPb.Marshal it shortcuts, for messages and for the other values a
// gateway marshals (a stream's error wrapper is a map).
func TestRESTJSONMarshalsAsJSONPb(t *testing.T) {
	ours := jsonMarshaler()
	for _, v := range []any{
		status.New(codes.NotFound, "no such order").Proto(),
		&errdetails.ErrorInfo{Reason: "ORDER_NOT_FOUND", Domain: "delivery", Metadata: map[string]string{"origin_id": "a\u00e9\"<"}},
		&errdetails.ErrorInfo{},
		map[string]any{"error": map[string]any{"code": 5}},
		[]string{"a", "b"},
	} {
		got, err := ours.Marshal(v)
		if err != nil {
			t.Fatalf("restJSON.Marshal(%v): %v", v, err)
		}
		want, err := ours.JSONPb.Marshal(v)
		if err != nil {
			t.Fatalf("JSONPb.Marshal(%v): %v", v, err)
		}
		if string(got) != string(want) {
			t.Errorf("restJSON.Marshal(%v) = %s, JSONPb's %s", v, got, want)
		}
	}
}
