package serve

import (
	"context"
	"log/slog"
	"path"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// accessLog writes one line per finished RPC: method, code, duration, peer
// (for a call from the REST gateway, the REST caller, with protocol "rest"
// and the HTTP method and path)
// and, for a status that hides its cause, the cause. It never logs request
// or response bodies or metadata: they carry vendor credentials and
// personal data. Successful calls are logged at debug: at info, a JSON line
// per call was a measurable share of a call's CPU (BenchmarkGetOrder), and
// /metrics already counts them. It replaces go-grpc-middleware's logging
// interceptor, which builds every field before knowing whether the line
// will be written.
type accessLog struct {
	log *slog.Logger
}

func (a accessLog) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	a.finish(ctx, info.FullMethod, "unary", start, err)
	return resp, err
}

func (a accessLog) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	kind := "server_stream"
	switch {
	case info.IsClientStream && info.IsServerStream:
		kind = "bidi_stream"
	case info.IsClientStream:
		kind = "client_stream"
	}
	a.finish(ss.Context(), info.FullMethod, kind, start, err)
	return err
}

func (a accessLog) finish(ctx context.Context, fullMethod, kind string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelDebug
	if code != codes.OK {
		level = slog.Level(logging.DefaultServerCodeToLevel(code))
	}
	if !a.log.Enabled(ctx, level) {
		return
	}
	service, method := path.Split(fullMethod)
	protocol := "grpc"
	origin, viaREST := originFrom(ctx)
	if viaREST {
		protocol = "rest"
	}
	attrs := []slog.Attr{
		slog.String("protocol", protocol),
		slog.String("grpc.component", "server"),
		slog.String("grpc.service", trimSlashes(service)),
		slog.String("grpc.method", method),
		slog.String("grpc.method_type", kind),
		slog.String("grpc.start_time", start.UTC().Format(time.RFC3339)),
		slog.String("grpc.code", code.String()),
	}
	if viaREST {
		attrs = append(attrs, slog.String("http.method", origin.method), slog.String("http.path", origin.path))
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer.address", p.Addr.String()))
	}
	if err != nil {
		// The status only; the error interceptor logs an INTERNAL's cause.
		attrs = append(attrs, slog.String("grpc.error", err.Error()))
	}
	attrs = append(attrs, slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	a.log.LogAttrs(ctx, level, "finished call", attrs...)
}

func trimSlashes(s string) string {
	for len(s) > 0 && s[0] == '/' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
