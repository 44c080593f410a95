package serve

import (
	"context"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/rpcstatus"
	"github.com/vendorgate/vendorgate/internal/seriescache"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

// Guard admits or refuses a call before anything else of the service runs
// (internal/auth.Guard): it returns ctx carrying the caller, or a domain
// error (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED).
type Guard interface {
	Admit(ctx context.Context, fullMethod, source string) (context.Context, error)
}

// openMethods need no credentials: probes and service discovery.
var openMethods = []string{"/grpc.health.v1.Health/", "/grpc.reflection."}

// guarding runs the Guard on every call but the open ones, puts the
// request's request_id field (AIP-155) in the context for the usage
// ledger, and counts calls per caller.
type guarding struct {
	guard  Guard
	domain string
	calls  *seriescache.Cache[callerCall, prometheus.Counter]
}

// callerCall names a series of vendorgate_caller_requests_total.
type callerCall struct {
	caller, method string
	code           codes.Code
}

func newGuarding(g Guard, domain string, reg prometheus.Registerer) (*guarding, error) {
	calls, err := vendorcall.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vendorgate_caller_requests_total",
		Help: "RPCs by caller (configured callers only; others pooled as unknown), method and gRPC code.",
	}, []string{"caller", "method", "code"}))
	if err != nil {
		return nil, err
	}
	return &guarding{guard: g, domain: domain, calls: seriescache.New(func(k callerCall) prometheus.Counter {
		return calls.WithLabelValues(k.caller, k.method, k.code.String())
	})}, nil
}

func open(method string) bool {
	for _, p := range openMethods {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

func (g *guarding) admit(ctx context.Context, method string) (context.Context, error) {
	if g.guard == nil {
		return ctx, nil
	}
	source := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		source = p.Addr.String()
	}
	ctx, err := g.guard.Admit(ctx, method, source)
	if err != nil {
		st := rpcstatus.FromError(err, g.domain)
		g.calls.Get(callerCall{callerLabel(ctx), method, st.Code()}).Inc()
		return ctx, st.Err()
	}
	return ctx, nil
}

func (g *guarding) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if open(info.FullMethod) {
		return handler(ctx, req)
	}
	ctx, err := g.admit(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if id := requestIDField(req); id != "" {
		ctx = usage.WithRequestID(ctx, id)
	}
	resp, err := handler(ctx, req)
	g.calls.Get(callerCall{callerLabel(ctx), info.FullMethod, status.Code(err)}).Inc()
	return resp, err
}

func (g *guarding) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if open(info.FullMethod) {
		return handler(srv, ss)
	}
	ctx, err := g.admit(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	err = handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	g.calls.Get(callerCall{callerLabel(ctx), info.FullMethod, status.Code(err)}).Inc()
	return err
}

// callerLabel is the caller for metrics: bounded, since only configured
// callers are ever admitted.
func callerLabel(ctx context.Context) string {
	if c := auth.CallerFrom(ctx); c != "" {
		return c
	}
	return "unknown"
}

// requestIDField is the request's top-level string field request_id, if
// it has one.
func requestIDField(req any) string {
	m, ok := req.(proto.Message)
	if !ok {
		return ""
	}
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName(protoreflect.Name("request_id"))
	if f == nil || f.Kind() != protoreflect.StringKind || f.IsList() {
		return ""
	}
	return r.Get(f).String()
}
