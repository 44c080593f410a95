package serve

import (
	"context"
	"maps"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// rpcMetrics are the gRPC server metrics: the series of go-grpc-middleware's
// Prometheus provider (grpc_server_started_total, _handled_total,
// _msg_received_total, _msg_sent_total and the grpc_server_handling_seconds
// histogram, with its names, labels, help and buckets), which the alerts
// and the dashboard read. The provider looked every series up by its label
// values on every call (a hash of three or four strings under a lock, for
// five series a call: 1.2 % of a GetOrder's CPU); here each method's
// series are looked up once, when initialize sees the method, and a call
// finds them with one map read.
type rpcMetrics struct {
	started, handled, received, sent *prometheus.CounterVec
	seconds                          *prometheus.HistogramVec
	// methods are the series of every method initialize saw, by full
	// method name; the map is replaced, never changed, so calls read it
	// without a lock.
	methods atomic.Pointer[map[string]*methodMetrics]
}

// methodMetrics are one method's series.
type methodMetrics struct {
	started, received, sent prometheus.Counter
	seconds                 prometheus.Observer
	// handled is indexed by the call's code; a code beyond it (none that
	// grpc-go sends), or of a method initialize did not see, is looked up
	// when it happens.
	handled [codes.Unauthenticated + 1]prometheus.Counter
	// handledVec and labels look up any other code: the method's
	// grpc_type, grpc_service and grpc_method.
	handledVec *prometheus.CounterVec
	labels     [3]string
}

func newRPCMetrics() *rpcMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	m := &rpcMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total",
			Help: "Total number of RPCs started on the server.",
		}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "Total number of RPCs completed on the server, regardless of success or failure.",
		}, append(labels[:3:3], "grpc_code")),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_received_total",
			Help: "Total number of RPC stream messages received on the server.",
		}, labels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_sent_total",
			Help: "Total number of gRPC stream messages sent by the server.",
		}, labels),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: prometheus.DefBuckets,
		}, labels),
	}
	m.methods.Store(&map[string]*methodMetrics{})
	return m
}

// Describe implements prometheus.Collector.
func (m *rpcMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *rpcMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *rpcMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.started, m.handled, m.received, m.sent, m.seconds}
}

// initialize creates every series of the methods srv serves, at zero (each
// code of grpc_server_handled_total included), so that a rate over a method
// that has not been called yet is 0 rather than absent; and keeps them for
// the method's calls.
func (m *rpcMetrics) initialize(srv reflection.ServiceInfoProvider) {
	methods := maps.Clone(*m.methods.Load())
	for service, info := range srv.GetServiceInfo() {
		for _, mi := range info.Methods {
			typ := grpcType(mi.IsClientStream, mi.IsServerStream)
			mm := m.series(typ, service, mi.Name)
			for c := range mm.handled {
				mm.handled[c] = m.handled.WithLabelValues(typ, service, mi.Name, codes.Code(c).String())
			}
			methods["/"+service+"/"+mi.Name] = mm
		}
	}
	m.methods.Store(&methods)
}

// series looks up (creating) one method's series, but not those of
// grpc_server_handled_total: initialize creates them all, a method it did
// not see gets the one of its call's code.
func (m *rpcMetrics) series(typ, service, method string) *methodMetrics {
	return &methodMetrics{
		started:    m.started.WithLabelValues(typ, service, method),
		received:   m.received.WithLabelValues(typ, service, method),
		sent:       m.sent.WithLabelValues(typ, service, method),
		seconds:    m.seconds.WithLabelValues(typ, service, method),
		handledVec: m.handled,
		labels:     [3]string{typ, service, method},
	}
}

// grpcType is a method's grpc_type label.
func grpcType(clientStream, serverStream bool) string {
	switch {
	case clientStream && serverStream:
		return "bidi_stream"
	case clientStream:
		return "client_stream"
	case serverStream:
		return "server_stream"
	}
	return "unary"
}

// of returns the series of the method fullMethod ("/pkg.Service/Method"),
// of type typ: those initialize made, or, for a method it did not see,
// looked up now.
func (m *rpcMetrics) of(fullMethod, typ string) *methodMetrics {
	if mm, ok := (*m.methods.Load())[fullMethod]; ok {
		return mm
	}
	service, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return m.series(typ, service, method)
}

// done counts a finished call by its code and observes its duration. A
// context error a handler returned counts as its status (Canceled,
// DeadlineExceeded), as grpc-go sends it.
func (mm *methodMetrics) done(err error, start time.Time) {
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err)
	}
	if c := st.Code(); int(c) < len(mm.handled) && mm.handled[c] != nil {
		mm.handled[c].Inc()
	} else {
		mm.handledVec.WithLabelValues(mm.labels[0], mm.labels[1], mm.labels[2], c.String()).Inc()
	}
	mm.seconds.Observe(time.Since(start).Seconds())
}

// unary is the unary interceptor: started and a message received when the
// call begins, a message sent when it succeeds, handled and its duration
// when it ends.
func (m *rpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	mm := m.of(info.FullMethod, "unary")
	mm.started.Inc()
	mm.received.Inc()
	resp, err := handler(ctx, req)
	if err == nil {
		mm.sent.Inc()
	}
	mm.done(err, start)
	return resp, err
}

// stream is the stream interceptor: started when the stream opens, each
// message received or sent that the stream carried, handled and its
// duration when it ends.
func (m *rpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	mm := m.of(info.FullMethod, grpcType(info.IsClientStream, info.IsServerStream))
	mm.started.Inc()
	err := handler(srv, &countedStream{ServerStream: ss, mm: mm})
	mm.done(err, start)
	return err
}

// countedStream counts the messages a stream carried.
type countedStream struct {
	grpc.ServerStream
	mm *methodMetrics
}

func (s *countedStream) SendMsg(msg any) error {
	err := s.ServerStream.SendMsg(msg)
	if err == nil {
		s.mm.sent.Inc()
	}
	return err
}

func (s *countedStream) RecvMsg(msg any) error {
	err := s.ServerStream.RecvMsg(msg)
	if err == nil {
		s.mm.received.Inc()
	}
	return err
}
