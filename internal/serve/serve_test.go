package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
)

const testDomain = "echo.vendorgate.dev"

// server is Run serving the echo service on a loopback listener.
type server struct {
	echo   *echoService
	conn   *grpc.ClientConn
	http   *http.Client
	base   string // "http://127.0.0.1:port"
	logs   *logBuffer
	stop   context.CancelFunc
	result chan error // Run's return value
}

// start runs the echo service; edit adjusts the options first. The server
// stops when the test ends.
func start(t testing.TB, edit func(*Options)) *server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{
		echo:   newEchoService(t),
		base:   "http://" + lis.Addr().String(),
		logs:   &logBuffer{},
		result: make(chan error, 1),
	}
	opts := Options{
		Name:            "echo",
		Domain:          testDomain,
		Logger:          slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry:        prometheus.NewRegistry(),
		RegisterGRPC:    s.echo.register,
		RegisterGateway: s.echo.registerGateway,
		ShutdownTimeout: 5 * time.Second,
		// Most tests read /metrics on the API port, which takes naming it.
		REST: REST{MetricsAddr: lis.Addr().String()},
	}
	if edit != nil {
		edit(&opts)
	}
	ctx, stop := context.WithCancel(t.Context())
	s.stop = stop
	go func() { s.result <- Run(ctx, lis, opts) }()

	s.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{}
	s.http = &http.Client{Transport: transport, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		stop()
		_ = s.conn.Close()
		transport.CloseIdleConnections()
		select {
		case <-s.result:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after the test")
		}
	})
	return s
}

// wait returns what Run returned, failing the test if that takes longer than d.
func (s *server) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-s.result:
		s.result <- err // for the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("Run did not return within %s", d)
		return nil
	}
}

// call invokes Echo over gRPC.
func (s *server) call(ctx context.Context, text, mode string) (*dynamicpb.Message, error) {
	resp := dynamicpb.NewMessage(s.echo.resp)
	err := s.conn.Invoke(ctx, echoMethod, s.echo.request(text, mode), resp)
	return resp, err
}

// get fetches path over HTTP.
func (s *server) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := s.http.Get(s.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// logBuffer collects the JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestHealthOverGRPC(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	client := healthpb.NewHealthClient(s.conn)
	for _, service := range []string{"", "echo"} {
		resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		if got, want := resp.GetStatus(), healthpb.HealthCheckResponse_SERVING; got != want {
			t.Errorf("Check(%q): got %v, want %v", service, got, want)
		}
	}
	_, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "nope"})
	if got, want := status.Code(err), codes.NotFound; got != want {
		t.Errorf("Check(unknown service): got %v, want %v", got, want)
	}
}

func TestHealthWatchSeesShutdown(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	watch, err := healthpb.NewHealthClient(s.conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []healthpb.HealthCheckResponse_ServingStatus{
		healthpb.HealthCheckResponse_SERVING,
		healthpb.HealthCheckResponse_NOT_SERVING,
	} {
		resp, err := watch.Recv()
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		if got := resp.GetStatus(); got != want {
			t.Fatalf("Watch: got %v, want %v", got, want)
		}
		s.stop()
	}
	// A client that hears NOT_SERVING goes away, and shutdown completes.
	cancel()
	if err := s.wait(t, 5*time.Second); err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
}

func TestHTTPRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ready    func(context.Context) error
		path     string
		wantCode int
		wantBody []string
	}{
		{name: "healthz", path: "/healthz", wantCode: http.StatusOK, wantBody: []string{"ok"}},
		{name: "readyz without probe", path: "/readyz", wantCode: http.StatusOK, wantBody: []string{"ok"}},
		{
			name:     "readyz ready",
			ready:    func(context.Context) error { return nil },
			path:     "/readyz",
			wantCode: http.StatusOK,
			wantBody: []string{"ok"},
		},
		{
			name:     "readyz not ready",
			ready:    func(context.Context) error { return errors.New("postgres is down") },
			path:     "/readyz",
			wantCode: http.StatusServiceUnavailable,
			// The failing check only: an error's text may name a DSN.
			wantBody: []string{"not ready: store"},
		},
		{
			name:     "healthz ignores readiness",
			ready:    func(context.Context) error { return errors.New("postgres is down") },
			path:     "/healthz",
			wantCode: http.StatusOK,
		},
		{
			name:     "metrics",
			path:     "/metrics",
			wantCode: http.StatusOK,
			wantBody: []string{
				`grpc_server_handled_total{grpc_code="OK",grpc_method="Echo",grpc_service="test.v1.EchoService",grpc_type="unary"}`,
				"grpc_server_handling_seconds_bucket",
				"go_goroutines",
				"process_cpu_seconds_total",
			},
		},
		{name: "extra route", path: "/callback", wantCode: http.StatusTeapot, wantBody: []string{"callback"}},
		{name: "unknown path goes to the gateway", path: "/v1/nope", wantCode: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, func(o *Options) {
				o.Ready = tt.ready
				o.ExtraHTTP = map[string]http.Handler{
					"GET /callback": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
						w.WriteHeader(http.StatusTeapot)
						_, _ = io.WriteString(w, "callback")
					}),
				}
			})
			// One RPC, so that the metrics have a handled call.
			if _, err := s.call(t.Context(), "hi", ""); err != nil {
				t.Fatalf("Echo: %v", err)
			}
			code, body := s.get(t, tt.path)
			if code != tt.wantCode {
				t.Errorf("GET %s: got status %d, want %d (body %q)", tt.path, code, tt.wantCode, body)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("GET %s: body does not contain %q:\n%s", tt.path, want, body)
				}
			}
		})
	}
}

func TestReadyzWhileStopping(t *testing.T) {
	t.Parallel()
	p := &probes{}
	p.stopping.Store(true)
	srv := http.NewServeMux()
	srv.HandleFunc("/readyz", p.readyz)
	req, err := http.NewRequest(http.MethodGet, "/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{header: http.Header{}}
	srv.ServeHTTP(rec, req)
	if rec.code != http.StatusServiceUnavailable {
		t.Errorf("got status %d, want %d", rec.code, http.StatusServiceUnavailable)
	}
}

// recorder is the little of httptest.ResponseRecorder this test needs.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }
func (r *recorder) WriteHeader(code int)        { r.code = code }

func TestEchoOverGRPC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		text, mode  string
		wantCode    codes.Code
		wantMessage string
		wantInfo    *errdetails.ErrorInfo
		wantBad     *errdetails.BadRequest
		wantCalls   int32
	}{
		{name: "ok", text: "hi", wantCode: codes.OK, wantCalls: 1},
		{
			name:        "invalid request never reaches the handler",
			text:        "",
			mode:        "refused",
			wantCode:    codes.InvalidArgument,
			wantMessage: "invalid request: text: must be at least 1 characters",
			wantInfo: &errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: testDomain, Metadata: map[string]string{
				"fields": "text",
			}},
			wantBad: &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
				Field: "text", Description: "must be at least 1 characters", Reason: "STRING_MIN_LEN",
			}}},
			wantCalls: 0,
		},
		{
			name:        "vendor refusal",
			text:        "hi",
			mode:        "refused",
			wantCode:    codes.FailedPrecondition,
			wantMessage: "dingdang refused the request: 参数无效",
			wantInfo: &errdetails.ErrorInfo{Reason: "VENDOR_REFUSED", Domain: testDomain, Metadata: map[string]string{
				"vendor": "dingdang", "endpoint": "/open/order/createOrder", "vendor_code": "20704",
				"vendor_message": "参数无效", "http_status": "200",
			}},
			wantCalls: 1,
		},
		{
			name:        "status from the handler gains an ErrorInfo",
			text:        "hi",
			mode:        "bogus",
			wantCode:    codes.Unimplemented,
			wantMessage: `unknown mode "bogus"`,
			wantInfo:    &errdetails.ErrorInfo{Reason: "UNIMPLEMENTED", Domain: testDomain},
			wantCalls:   1,
		},
		{
			name:        "plain error",
			text:        "hi",
			mode:        "error",
			wantCode:    codes.Internal,
			wantMessage: "internal error",
			wantInfo:    &errdetails.ErrorInfo{Reason: "INTERNAL", Domain: testDomain},
			wantCalls:   1,
		},
		{
			name:        "panic",
			text:        "hi",
			mode:        "panic",
			wantCode:    codes.Internal,
			wantMessage: "internal error",
			wantInfo:    &errdetails.ErrorInfo{Reason: "INTERNAL", Domain: testDomain},
			wantCalls:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, nil)
			resp, err := s.call(t.Context(), tt.text, tt.mode)
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("Echo: got %v, want %v", err, tt.wantCode)
			}
			if got := s.echo.calls.Load(); got != tt.wantCalls {
				t.Errorf("handler calls: got %d, want %d", got, tt.wantCalls)
			}
			if tt.wantCode == codes.OK {
				if got := resp.Get(s.echo.resp.Fields().ByName("text")).String(); got != tt.text {
					t.Errorf("text: got %q, want %q", got, tt.text)
				}
				return
			}
			if st.Message() != tt.wantMessage {
				t.Errorf("message: got %q, want %q", st.Message(), tt.wantMessage)
			}
			info, bad := details(st)
			if diff := cmp.Diff(tt.wantInfo, info, protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantBad, bad, protocmp.Transform()); diff != "" {
				t.Errorf("BadRequest (-want +got):\n%s", diff)
			}
			// The server survives whatever the handler did.
			if _, err := s.call(t.Context(), "again", ""); err != nil {
				t.Errorf("Echo after %s: %v", tt.name, err)
			}
		})
	}
}

func TestEchoOverREST(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode       string
		text       string
		wantStatus int
		wantReason string
		wantBad    bool
	}{
		{mode: "", text: "", wantStatus: http.StatusBadRequest, wantReason: "INVALID_ARGUMENT", wantBad: true},
		{mode: "invalid", text: "hi", wantStatus: http.StatusBadRequest, wantReason: "VENDOR_INVALID_ARGUMENT"},
		{mode: "refused", text: "hi", wantStatus: http.StatusBadRequest, wantReason: "VENDOR_REFUSED"},
		{mode: "exists", text: "hi", wantStatus: http.StatusConflict, wantReason: "VENDOR_ALREADY_EXISTS"},
		{mode: "unavailable", text: "hi", wantStatus: http.StatusServiceUnavailable, wantReason: "VENDOR_UNAVAILABLE"},
		{mode: "throttled", text: "hi", wantStatus: http.StatusTooManyRequests, wantReason: "VENDOR_THROTTLED"},
		{mode: "auth", text: "hi", wantStatus: http.StatusInternalServerError, wantReason: "VENDOR_AUTH_REJECTED"},
		{mode: "error", text: "hi", wantStatus: http.StatusInternalServerError, wantReason: "INTERNAL"},
	}
	s := start(t, nil)
	for _, tt := range tests {
		t.Run(tt.mode+"/"+tt.text, func(t *testing.T) {
			t.Parallel()
			code, body := s.post(t, "/v1/echo", `{"text":"`+tt.text+`","mode":"`+tt.mode+`"}`)
			if code != tt.wantStatus {
				t.Errorf("got HTTP %d, want %d (body %s)", code, tt.wantStatus, body)
			}
			var sp spb.Status
			if err := protojson.Unmarshal([]byte(body), &sp); err != nil {
				t.Fatalf("error body %s is not a google.rpc.Status: %v", body, err)
			}
			info, bad := details(status.FromProto(&sp))
			if info.GetReason() != tt.wantReason || info.GetDomain() != testDomain {
				t.Errorf("ErrorInfo: got %v, want reason %s in %s", info, tt.wantReason, testDomain)
			}
			if (bad != nil) != tt.wantBad {
				t.Errorf("BadRequest: got %v, want one: %v", bad, tt.wantBad)
			}
		})
	}
	t.Run("ok uses proto field names", func(t *testing.T) {
		t.Parallel()
		code, body := s.post(t, "/v1/echo", `{"text":"hi","mode":"ok"}`)
		if code != http.StatusOK {
			t.Fatalf("got HTTP %d, want 200 (body %s)", code, body)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]any{"text": "hi", "request_mode": "ok"}, got); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
		code, body = s.post(t, "/v1/echo", `{"text":"hi","mode":"","surprise":1}`)
		if code != http.StatusBadRequest {
			t.Errorf("unknown field: got HTTP %d, want 400 (body %s)", code, body)
		}
	})
}

// post sends a JSON body to path.
func (s *server) post(t testing.TB, path, body string) (int, string) {
	t.Helper()
	resp, err := s.http.Post(s.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// details returns st's ErrorInfo and BadRequest details, if any.
func details(st *status.Status) (*errdetails.ErrorInfo, *errdetails.BadRequest) {
	var info *errdetails.ErrorInfo
	var bad *errdetails.BadRequest
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			bad = d
		}
	}
	return info, bad
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	if _, err := s.call(t.Context(), "secret-text-xyz", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.call(t.Context(), "hi", "error"); status.Code(err) != codes.Internal {
		t.Fatalf("Echo(error): got %v, want %v", err, codes.Internal)
	}
	if _, err := s.call(t.Context(), "hi", "panic"); status.Code(err) != codes.Internal {
		t.Fatalf("Echo(panic): got %v, want %v", err, codes.Internal)
	}

	var lines []map[string]any
	for _, l := range s.logs.lines(t, "finished call") {
		if l["grpc.method"] == "Echo" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("got %d access log lines for Echo, want 3:\n%s", len(lines), s.logs)
	}
	for i, want := range []struct{ code, level string }{{"OK", "DEBUG"}, {"Internal", "ERROR"}, {"Internal", "ERROR"}} {
		l := lines[i]
		if l["grpc.code"] != want.code || l["level"] != want.level {
			t.Errorf("line %d: got grpc.code %v at %v, want %s at %s", i, l["grpc.code"], l["level"], want.code, want.level)
		}
		if _, ok := l["duration_ms"].(float64); !ok {
			t.Errorf("line %d: duration_ms: got %v, want a number", i, l["duration_ms"])
		}
		if peer, _ := l["peer.address"].(string); !strings.HasPrefix(peer, "127.0.0.1:") {
			t.Errorf("line %d: peer.address: got %q, want 127.0.0.1:*", i, peer)
		}
		if l["service"] != "echo" {
			t.Errorf("line %d: service: got %v, want echo", i, l["service"])
		}
	}
	if strings.Contains(s.logs.String(), "secret-text-xyz") {
		t.Errorf("the log contains a request body:\n%s", s.logs)
	}
	// The causes are the error interceptor's to log: TestCauseLoggedOnce.
}

func TestGracefulShutdownFinishesInFlightCalls(t *testing.T) {
	t.Parallel()
	s := start(t, nil)

	callErr := make(chan error, 1)
	go func() {
		_, err := s.call(context.WithoutCancel(t.Context()), "hi", "slow")
		callErr <- err
	}()
	<-s.echo.started
	begin := time.Now()
	s.stop()

	if err := s.wait(t, 5*time.Second); err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
	// The server's side of the call ends before Run returns; the caller
	// reads the answer off its connection a moment later.
	if s.echo.slowDone.Load() != 1 {
		t.Error("Run returned before the in-flight call's handler finished")
	}
	select {
	case err := <-callErr:
		if err != nil {
			t.Errorf("in-flight call: got %v, want success", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the in-flight call got no answer")
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("shutdown took %s", took)
	}
	if _, err := s.call(t.Context(), "hi", ""); status.Code(err) != codes.Unavailable {
		t.Errorf("call after shutdown: got %v, want %v", err, codes.Unavailable)
	}
}

func TestShutdownTimeoutCutsHungCalls(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	s := start(t, func(o *Options) { o.ShutdownTimeout = timeout })

	callErr := make(chan error, 1)
	go func() {
		_, err := s.call(context.WithoutCancel(t.Context()), "hi", "hang")
		callErr <- err
	}()
	<-s.echo.started
	begin := time.Now()
	s.stop()

	err := s.wait(t, 5*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run: got %v, want an error wrapping %v", err, context.DeadlineExceeded)
	}
	if took := time.Since(begin); took < timeout || took > timeout+2*time.Second {
		t.Errorf("shutdown took %s, want about %s", took, timeout)
	}
	select {
	case err := <-callErr:
		if code := status.Code(err); code != codes.Unavailable && code != codes.Canceled {
			t.Errorf("hung call: got %v, want Unavailable or Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the hung call did not end")
	}
}

func TestShutdownWithIdleRESTAndGRPCClients(t *testing.T) {
	t.Parallel()
	s := start(t, func(o *Options) { o.ShutdownTimeout = 2 * time.Second })
	// Leave an idle gRPC connection, an idle HTTP keep-alive connection and
	// the gateway's own gRPC connection open.
	if _, err := s.call(t.Context(), "hi", ""); err != nil {
		t.Fatal(err)
	}
	if code, body := s.post(t, "/v1/echo", `{"text":"hi"}`); code != http.StatusOK {
		t.Fatalf("POST: got HTTP %d (%s)", code, body)
	}
	s.stop()
	if err := s.wait(t, 5*time.Second); err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
}

func TestRunTwiceOnOneRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	for i := range 2 {
		s := start(t, func(o *Options) { o.Registry = reg })
		if _, err := s.call(t.Context(), "hi", ""); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		s.stop()
		if err := s.wait(t, 5*time.Second); err != nil {
			t.Fatalf("run %d: Run: %v", i, err)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	t.Parallel()
	valid := func() Options {
		return Options{
			Name:         "echo",
			Domain:       testDomain,
			Logger:       slog.New(slog.DiscardHandler),
			Registry:     prometheus.NewRegistry(),
			RegisterGRPC: func(grpc.ServiceRegistrar) {},
		}
	}
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string
	}{
		{name: "no name", edit: func(o *Options) { o.Name = "" }, wantErr: "Options.Name"},
		{name: "no domain", edit: func(o *Options) { o.Domain = "" }, wantErr: "Options.Domain"},
		{name: "no logger", edit: func(o *Options) { o.Logger = nil }, wantErr: "Options.Logger"},
		{name: "no registry", edit: func(o *Options) { o.Registry = nil }, wantErr: "Options.Registry"},
		{name: "no service", edit: func(o *Options) { o.RegisterGRPC = nil }, wantErr: "Options.RegisterGRPC"},
		{
			name: "route conflict",
			edit: func(o *Options) {
				o.ExtraHTTP = map[string]http.Handler{"GET /healthz": http.NotFoundHandler()}
			},
			wantErr: `"GET /healthz"`,
		},
		{
			name:    "nil extra handler",
			edit:    func(o *Options) { o.ExtraHTTP = map[string]http.Handler{"/cb": nil} },
			wantErr: `"/cb"`,
		},
		{
			name: "gateway fails",
			edit: func(o *Options) {
				o.RegisterGateway = func(context.Context, *runtime.ServeMux, grpc.ClientConnInterface) error {
					return errors.New("boom")
				}
			},
			wantErr: "boom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			opts := valid()
			tt.edit(&opts)
			err = Run(t.Context(), lis, opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Run: got %v, want an error mentioning %s", err, tt.wantErr)
			}
			if _, err := lis.Accept(); err == nil {
				t.Error("Run left the listener open")
			}
		})
	}
}

func TestCauseTextHidesURLQueries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{
			err:  errors.New("plain"),
			want: "plain",
		},
		{
			err: fmt.Errorf("dingdang: %w", &url.Error{
				Op: "Post", URL: "https://open.dingdang.com/api?app_key=k&sign=s3cr3t", Err: errors.New("i/o timeout"),
			}),
			want: `dingdang: Post "https://open.dingdang.com/api?[redacted]": i/o timeout`,
		},
		{
			err:  &url.Error{Op: "Get", URL: "https://open.dingdang.com/api", Err: errors.New("EOF")},
			want: `Get "https://open.dingdang.com/api": EOF`,
		},
	}
	for _, tt := range tests {
		if got := causeText(tt.err); got != tt.want {
			t.Errorf("causeText(%v): got %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestRunLeavesNoGoroutines is not parallel: it counts the goroutines left
// once Run, and the clients the test used, have stopped.
func TestRunLeavesNoGoroutines(t *testing.T) {
	before := goruntime.NumGoroutine()
	var idle net.Conn
	t.Run("serve", func(t *testing.T) {
		s := start(t, func(o *Options) { o.ShutdownTimeout = 500 * time.Millisecond })
		if _, err := s.call(t.Context(), "hi", ""); err != nil {
			t.Fatal(err)
		}
		if code, body := s.post(t, "/v1/echo", `{"text":"hi"}`); code != http.StatusOK {
			t.Fatalf("POST: got HTTP %d (%s)", code, body)
		}
		if code, _ := s.get(t, "/metrics"); code != http.StatusOK {
			t.Fatalf("GET /metrics: got HTTP %d", code)
		}
		// A connection that never says which protocol it speaks, open
		// until after Run has returned.
		var err error
		idle, err = net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
	})
	if idle != nil {
		defer idle.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for goruntime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("got %d goroutines, want at most %d:\n%s", goruntime.NumGoroutine(), before, buf[:goruntime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWrapREST checks that a WrapREST handler serves the requests it takes
// (here one with a header) and passes the others to the gateway, and that
// WriteError writes the REST face's error shape and status.
func TestWrapREST(t *testing.T) {
	t.Parallel()
	s := start(t, func(o *Options) {
		o.WrapREST = map[string]func(http.Handler) http.Handler{
			"POST /v1/echo": func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("X-Own") == "" {
						next.ServeHTTP(w, r)
						return
					}
					WriteError(w, rpcstatus.RequestTooLarge(testDomain, 7))
				})
			},
		}
	})
	code, body := s.post(t, "/v1/echo", `{"text":"hi"}`)
	if code != http.StatusOK || !strings.Contains(body, "hi") {
		t.Errorf("passed on: got %d %s, want 200 from the gateway", code, body)
	}

	req, err := http.NewRequest(http.MethodPost, s.base+"/v1/echo", strings.NewReader(`{"text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Own", "1")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("served itself: got %d, want 413", resp.StatusCode)
	}
	var sp spb.Status
	if err := protojson.Unmarshal(b, &sp); err != nil {
		t.Fatalf("error body %s is not a google.rpc.Status: %v", b, err)
	}
	if info, _ := details(status.FromProto(&sp)); info.GetReason() != rpcstatus.ReasonRequestTooLarge || info.GetMetadata()["limit_bytes"] != "7" {
		t.Errorf("ErrorInfo: got %v, want REQUEST_TOO_LARGE with limit_bytes 7", info)
	}
}

// Serving is called once, when the servers take calls: a call made after
// it is answered.
func TestServingIsCalledOnceWhenTheServersTakeCalls(t *testing.T) {
	serving := make(chan struct{}, 2)
	s := start(t, func(o *Options) { o.Serving = func() { serving <- struct{}{} } })
	select {
	case <-serving:
	case <-time.After(10 * time.Second):
		t.Fatal("Serving was not called")
	}
	if _, err := s.call(t.Context(), "hi", ""); err != nil {
		t.Fatal(err)
	}
	s.stop()
	_ = s.wait(t, 10*time.Second)
	if len(serving) != 0 {
		t.Error("Serving was called again")
	}
}
