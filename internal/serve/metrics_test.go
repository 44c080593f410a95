package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// services is a reflection.ServiceInfoProvider of a fixed set of methods.
type services map[string]grpc.ServiceInfo

func (s services) GetServiceInfo() map[string]grpc.ServiceInfo { return s }

// scriptedStream is a server stream whose receives and sends answer from
// a script: recv errors in order (nil is a message, then io.EOF), send
// fails with sendErr (or io.EOF) once sends are used up.
type scriptedStream struct {
	grpc.ServerStream
	recv    []error
	sends   int
	sendErr error
}

func (s *scriptedStream) Context() context.Context { return context.Background() }

func (s *scriptedStream) RecvMsg(any) error {
	if len(s.recv) == 0 {
		return io.EOF
	}
	err := s.recv[0]
	s.recv = s.recv[1:]
	return err
}

func (s *scriptedStream) SendMsg(any) error {
	if s.sends == 0 {
		if s.sendErr == nil {
			return io.EOF
		}
		return s.sendErr
	}
	s.sends--
	return nil
}

// TestRPCMetricsMatchTheProvider runs the same calls through rpcMetrics and
// through go-grpc-middleware's Prometheus provider, which it replaced, and
// requires the same series with the same values (histograms: the same
// sample counts): the alerts and the dashboard read these names.
func TestRPCMetricsMatchTheProvider(t *testing.T) {
	provided := services{"test.v1.S": {Methods: []grpc.MethodInfo{
		{Name: "Get"},
		{Name: "Watch", IsServerStream: true},
		{Name: "Upload", IsClientStream: true},
		{Name: "Chat", IsClientStream: true, IsServerStream: true},
	}}}

	ours := newRPCMetrics()
	theirs := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	oursReg, theirsReg := prometheus.NewRegistry(), prometheus.NewRegistry()
	oursReg.MustRegister(ours)
	theirsReg.MustRegister(theirs)
	ours.initialize(provided)
	theirs.InitializeMetrics(provided)
	unaries := map[string]grpc.UnaryServerInterceptor{"ours": ours.unary, "theirs": theirs.UnaryServerInterceptor()}
	streams := map[string]grpc.StreamServerInterceptor{"ours": ours.stream, "theirs": theirs.StreamServerInterceptor()}

	for _, side := range []string{"ours", "theirs"} {
		for _, c := range []struct {
			method string
			err    error
		}{
			{"/test.v1.S/Get", nil},
			{"/test.v1.S/Get", nil},
			{"/test.v1.S/Get", status.Error(codes.NotFound, "no such order")},
			{"/test.v1.S/Get", context.Canceled},
			{"/test.v1.S/Get", fmt.Errorf("wrapped: %w", context.DeadlineExceeded)},
			{"/test.v1.S/Get", errors.New("plain")},
			{"/test.v1.S/Get", status.Error(codes.Code(20), "a code grpc-go does not send")},
			{"/other.v1.T/Unseen", nil},
			{"/other.v1.T/Unseen", status.Error(codes.Unavailable, "down")},
		} {
			info := &grpc.UnaryServerInfo{FullMethod: c.method}
			_, _ = unaries[side](context.Background(), "req", info, func(context.Context, any) (any, error) {
				if c.err != nil {
					return nil, c.err
				}
				return "resp", nil
			})
		}
		for _, c := range []struct {
			info   grpc.StreamServerInfo
			stream *scriptedStream
			err    error
		}{
			{grpc.StreamServerInfo{FullMethod: "/test.v1.S/Watch", IsServerStream: true},
				&scriptedStream{recv: []error{nil}, sends: 3, sendErr: errors.New("gone")}, nil},
			{grpc.StreamServerInfo{FullMethod: "/test.v1.S/Upload", IsClientStream: true},
				&scriptedStream{recv: []error{nil, nil}, sends: 1}, status.Error(codes.InvalidArgument, "bad chunk")},
			{grpc.StreamServerInfo{FullMethod: "/test.v1.S/Chat", IsClientStream: true, IsServerStream: true},
				&scriptedStream{recv: []error{nil, errors.New("reset")}, sends: 2}, nil},
		} {
			_ = streams[side](nil, c.stream, &c.info, func(_ any, ss grpc.ServerStream) error {
				for ss.RecvMsg(nil) == nil {
				}
				for ss.SendMsg(nil) == nil {
				}
				return c.err
			})
		}
	}

	want, got := series(t, theirsReg), series(t, oursReg)
	if !slices.Equal(got, want) {
		t.Errorf("rpcMetrics' series differ from the provider's:\n got %s\nwant %s",
			strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if len(want) < 80 {
		t.Errorf("the provider has only %d series: the comparison covers too little", len(want))
	}
}

// series lists reg's series, sorted, each with its value (a histogram's
// sample count: durations differ between runs).
func series(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			line := f.GetName() + "{" + strings.Join(labels, ",") + "} "
			switch {
			case m.GetCounter() != nil:
				line += fmt.Sprint(m.GetCounter().GetValue())
			case m.GetHistogram() != nil:
				line += fmt.Sprintf("count=%d buckets=%d", m.GetHistogram().GetSampleCount(), len(m.GetHistogram().GetBucket()))
			}
			out = append(out, f.GetHelp()+" | "+line)
		}
	}
	slices.Sort(out)
	return out
}

// BenchmarkRPCMetricsUnary is one successful unary call through the
// metrics interceptor: rpcMetrics against the provider it replaced.
//
//	go test -run '^$' -bench RPCMetricsUnary -benchmem ./internal/serve/
func BenchmarkRPCMetricsUnary(b *testing.B) {
	provided := services{"test.v1.S": {Methods: []grpc.MethodInfo{{Name: "Get"}}}}
	ours := newRPCMetrics()
	ours.initialize(provided)
	theirs := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	theirs.InitializeMetrics(provided)
	info := &grpc.UnaryServerInfo{FullMethod: "/test.v1.S/Get"}
	handler := func(context.Context, any) (any, error) { return "resp", nil }
	for _, side := range []struct {
		name string
		i    grpc.UnaryServerInterceptor
	}{{"rpcMetrics", ours.unary}, {"provider", theirs.UnaryServerInterceptor()}} {
		b.Run(side.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				_, _ = side.i(ctx, "req", info, handler)
			}
		})
	}
}
