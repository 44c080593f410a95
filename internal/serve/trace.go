package serve

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/vendorgate/vendorgate/internal/tracing"
)

// tracerName is the instrumentation scope of the REST server spans.
const tracerName = "github.com/vendorgate/vendorgate/internal/serve"

// grpcTracing is the server option that gives every gRPC call a server
// span (otelgrpc's stats handler), continuing the caller's trace context
// from its metadata; the health service is not traced. No option when
// traces are off.
func grpcTracing(p *tracing.Provider) []grpc.ServerOption {
	if !p.Enabled() {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(localTracing(p))}
}

// localTracing is the stats handler that gives every gRPC call a server
// span, on the network or in process; nil when traces are off.
func localTracing(p *tracing.Provider) stats.Handler {
	if !p.Enabled() {
		return nil
	}
	return otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(p.TracerProvider()),
		otelgrpc.WithPropagators(p.Propagator()),
		// /metrics already has the gRPC metrics; these spans are traces only.
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(func(info *stats.RPCTagInfo) bool {
			return !strings.HasPrefix(info.FullMethodName, "/grpc.health.v1.Health/")
		}),
	)
}

// restSpanKey marks a request whose REST server span is started.
type restSpanKey struct{}

// traced gives each REST request a server span, a child of the caller's
// traceparent when it sends one, named by its route
// ("GET /v1/delivery/orders/{origin_id}"). The span records the method, the
// route, the path as the access log shows it (secret segments redacted,
// never the query) and the status. The gateway's gRPC call carries it in
// its metadata (restFace.metadata), so the gRPC server span is its child.
func (f *restFace) traced(h http.Handler) http.Handler {
	if !f.tracing.Enabled() {
		return h
	}
	tracer := f.tracing.TracerProvider().Tracer(tracerName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(restSpanKey{}) != nil {
			h.ServeHTTP(w, r)
			return
		}
		name := r.Method
		attrs := []attribute.KeyValue{
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", redactPath(r.URL.Path, f.secrets)),
		}
		if rt, _ := f.routes.match(r.Method, r.URL.EscapedPath()); rt != nil {
			name = rt.key()
			attrs = append(attrs, attribute.String("http.route", rt.template))
		}
		ctx := f.tracing.Propagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, restSpanKey{}, true)))
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", code))
		if code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
	})
}

// injectTrace adds the trace context of ctx's span to md, for a gRPC call
// made on behalf of a REST request.
func (f *restFace) injectTrace(ctx context.Context, md metadata.MD) {
	if !f.tracing.Enabled() {
		return
	}
	f.tracing.Propagator().Inject(ctx, mdCarrier(md))
}

// mdCarrier is gRPC metadata as a propagation.TextMapCarrier.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c mdCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
