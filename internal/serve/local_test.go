package serve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// TestRESTStaysInProcess: REST calls, JSON through the gateway and a
// download through a WrapREST handler, reach the service through its Local
// channel: the listener accepts only the REST client's one connection, the
// service's access log names the REST caller, and the REST metrics count
// both routes.
func TestRESTStaysInProcess(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := &countingListener{Listener: inner}
	echo := newEchoService(t)
	logs := &logBuffer{}
	local := NewLocal()
	var started atomic.Int32
	var sent atomic.Int64
	opts := Options{
		Name:     "echo",
		Domain:   testDomain,
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: prometheus.NewRegistry(),
		RegisterGRPC: func(s grpc.ServiceRegistrar) {
			echo.register(s)
			registerBlob(s, &started, &sent)
		},
		RegisterGateway: echo.registerGateway,
		Local:           local,
		WrapREST:        map[string]func(http.Handler) http.Handler{"GET /v1/blob": downloadHandler(local)},
		ShutdownTimeout: 5 * time.Second,
		REST:            REST{MetricsAddr: MetricsOff},
	}
	ctx, stop := context.WithCancel(t.Context())
	result := make(chan error, 1)
	go func() { result <- Run(ctx, lis, opts) }()
	defer func() {
		stop()
		if err := <-result; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	base := "http://" + inner.Addr().String()
	transport := &http.Transport{MaxConnsPerHost: 1}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	for i := range 20 {
		resp, err := hc.Post(base+"/v1/echo", "application/json", strings.NewReader(`{"text":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"text":"hi"`) {
			t.Fatalf("call %d: got HTTP %d %s, want 200 echoing hi", i, resp.StatusCode, body)
		}
	}
	resp, err := hc.Get(base + "/v1/blob")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || n != downloadBytes {
		t.Fatalf("download: got HTTP %d, %d bytes; want 200, %d", resp.StatusCode, n, downloadBytes)
	}

	if got := lis.accepted.Load(); got != 1 {
		t.Errorf("the listener accepted %d connections, want 1 (the REST client's): something dials the service's own port", got)
	}
	lines := logs.lines(t, "finished call")
	if len(lines) != 21 {
		t.Fatalf("got %d access-log lines, want 21", len(lines))
	}
	for _, l := range lines {
		if l["protocol"] != "rest" || l["peer.address"] == nil || !strings.HasPrefix(l["peer.address"].(string), "127.0.0.1:") {
			t.Errorf("access-log line %v: want protocol rest from the REST client's 127.0.0.1 address", l)
			break
		}
	}
	if n := len(logs.lines(t, "finished REST request")); n != 0 {
		t.Errorf("got %d REST access lines for calls the service's access log wrote, want 0", n)
	}
	metrics := gatherText(t, opts.Registry)
	for _, want := range []string{
		`vendorgate_rest_requests_total{code="200",route="unmatched"} 20`,
		`vendorgate_rest_requests_total{code="200",route="GET /v1/blob"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// gatherText is reg's metrics in the text exposition format.
func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	metricsHandler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// refuseAll is a Guard that admits no call.
type refuseAll struct{}

func (refuseAll) Admit(ctx context.Context, _, _ string) (context.Context, error) {
	return ctx, rpcstatus.Refused(codes.Unauthenticated, testDomain, "API_KEY_MISSING", "no key", nil).Err()
}

// TestLocalStreamRefusalIsItsStatus: a server-streaming call the guard
// refuses before the handler reads the request fails with the guard's
// status when the request is sent after the refusal, not with io.EOF
// (which a generated client returns as the call's error, and the gateway
// answered as INTERNAL).
func TestLocalStreamRefusalIsItsStatus(t *testing.T) {
	t.Parallel()
	local := NewLocal()
	var started atomic.Int32
	var sent atomic.Int64
	start(t, func(o *Options) {
		echo := o.RegisterGRPC
		o.RegisterGRPC = func(srv grpc.ServiceRegistrar) { echo(srv); registerBlob(srv, &started, &sent) }
		o.Local = local
		o.Guard = refuseAll{}
	})
	waitUntil(t, "the channel is set up", func() bool { return local.ready.Load() })
	// inprocgrpc's send after the end is io.EOF or, when the request
	// still fits its buffer, nil: twenty tries meet the first.
	for i := range 20 {
		cs, err := local.NewStream(t.Context(), &grpc.StreamDesc{ServerStreams: true}, blobMethod)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the refusal has ended the call
		err = cs.SendMsg(&wrapperspb.StringValue{Value: "contract"})
		if err == nil {
			err = cs.RecvMsg(&wrapperspb.BytesValue{})
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("call %d, refused before its request was sent: got %v, want UNAUTHENTICATED", i, err)
		}
	}
}

// TestLocalUnaryCallCarriesMetadata: a unary call through Local, which runs
// in the caller's goroutine, takes the caller's outgoing metadata as its
// incoming, and hands the headers the service sets to grpc.Header, as a
// call over the network does.
func TestLocalUnaryCallCarriesMetadata(t *testing.T) {
	t.Parallel()
	local := NewLocal()
	s := start(t, func(o *Options) { o.Local = local })
	waitUntil(t, "the channel is set up", func() bool { return local.ready.Load() })
	if local.unary == nil {
		t.Fatal("traces are off, but unary calls are not direct")
	}
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-request-id", "req-9")
	var header metadata.MD
	resp := dynamicpb.NewMessage(s.echo.resp)
	err := local.Invoke(ctx, echoMethod, s.echo.request("hi", "not-found"), resp, grpc.Header(&header))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("got %v, want NOT_FOUND", err)
	}
	if got := header.Get("x-request-id"); len(got) != 1 || got[0] != "req-9" {
		t.Errorf("response header x-request-id: got %q, want [req-9]", got)
	}
	if err := local.Invoke(t.Context(), echoMethod, s.echo.request("hi", "ok"), resp); err != nil {
		t.Fatal(err)
	}
	if got := resp.Get(s.echo.resp.Fields().ByName("text")).String(); got != "hi" {
		t.Errorf("answer text: got %q, want hi", got)
	}
}

// TestLocalStreamKeepsWhatWasSent: a stream's sender may reuse its message
// once SendMsg returns; the receiver, which takes over the copy in between
// instead of copying it again, still gets what was sent.
func TestLocalStreamKeepsWhatWasSent(t *testing.T) {
	t.Parallel()
	const n = 50
	local := NewLocal()
	start(t, func(o *Options) {
		echo := o.RegisterGRPC
		o.RegisterGRPC = func(srv grpc.ServiceRegistrar) {
			echo(srv)
			srv.RegisterService(&grpc.ServiceDesc{
				ServiceName: "test.v1.CountService",
				HandlerType: (*any)(nil),
				Streams: []grpc.StreamDesc{{StreamName: "Count", ServerStreams: true,
					Handler: func(_ any, stream grpc.ServerStream) error {
						var req wrapperspb.StringValue
						if err := stream.RecvMsg(&req); err != nil {
							return err
						}
						m := &wrapperspb.BytesValue{Value: make([]byte, 4)}
						for i := range n {
							m.Value[0] = byte(i) // the same message, rewritten
							if err := stream.SendMsg(m); err != nil {
								return err
							}
						}
						return nil
					}}},
				Metadata: "test/v1/count.proto",
			}, struct{}{})
		}
		o.Local = local
	})
	waitUntil(t, "the channel is set up", func() bool { return local.ready.Load() })
	cs, err := local.NewStream(t.Context(), &grpc.StreamDesc{ServerStreams: true}, "/test.v1.CountService/Count")
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SendMsg(&wrapperspb.StringValue{Value: "go"}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		var m wrapperspb.BytesValue
		if err := cs.RecvMsg(&m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if len(m.GetValue()) != 4 || m.GetValue()[0] != byte(i) {
			t.Fatalf("message %d: got %v, want [%d 0 0 0]", i, m.GetValue(), i)
		}
	}
}
