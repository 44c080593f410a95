package serve

import (
	"net/http"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// directRoute is a unary route the REST face serves by calling the
// service's method itself: a GET whose request its path alone makes.
type directRoute struct {
	rt     *route
	names  []string // the path's variables, each a string field
	method localMethod
}

// pathOnly reports the route's path variables when the route binds every
// field of its request, each a top-level string, from its path: a GET
// whose request the path alone makes.
func (r *route) pathOnly() ([]string, bool) {
	if r.method != http.MethodGet || r.input == nil {
		return nil, false
	}
	var names []string
	for _, v := range r.vars {
		if v != "" {
			names = append(names, v)
		}
	}
	fields := r.input.Fields()
	if len(names) == 0 || len(names) != fields.Len() {
		return nil, false
	}
	for _, n := range names {
		fd := fields.ByName(protoreflect.Name(n))
		if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated {
			return nil, false
		}
	}
	return names, true
}

// patternKey is the route as the gateway's runtime.Pattern prints it,
// after its HTTP method: "GET /v1/delivery/orders/{origin_id=*}".
func (r *route) patternKey() string {
	var b strings.Builder
	b.WriteString(r.method + " ")
	for i, seg := range r.segments {
		b.WriteString("/")
		if r.vars[i] != "" {
			seg = "{" + r.vars[i] + "=" + seg + "}"
		}
		b.WriteString(seg)
	}
	if r.verb != "" {
		b.WriteString(":" + r.verb)
	}
	return b.String()
}

// setDirect finds the routes the face serves directly: the unary methods l
// calls in the caller's goroutine (none when traces are on: their calls
// take the channel, whose stats handler gives them their span) whose
// request their path alone makes.
func (f *restFace) setDirect(l *Local) {
	if l.unary == nil {
		return
	}
	for _, rt := range f.routes {
		m, ok := l.unary[rt.rpc]
		if !ok {
			continue
		}
		if names, ok := rt.pathOnly(); ok {
			if f.direct == nil {
				f.direct = map[string]directRoute{}
			}
			f.direct[rt.patternKey()] = directRoute{rt: rt, names: names, method: m}
			f.local = l
		}
	}
}

// directly is the gateway's middleware that serves a direct route's
// request once the gateway matched it, instead of the route's generated
// handler: it sets the path's variables in the request the method decodes
// and calls the method through the Local chain (Local.call, as
// Local.invoke does),
// where the generated handler built the request, copied it in through the
// channel and the answer out. The gateway still routes the request (its
// precedence, a verb route's over a variable's, is untouched) and
// unescapes its path, annotates its context, writes its answer
// (ForwardResponseMessage) and its errors (gatewayError). A REST GetOrder
// makes 386 → 368 allocations. TestDirectRESTMatchesTheGateway
// (services/delivery) holds its answers to the generated handler's.
func (f *restFace) directly(next runtime.HandlerFunc) runtime.HandlerFunc {
	if len(f.direct) == 0 {
		return next
	}
	// The gateway wraps each handler it registers, one method and
	// pattern's: the first request through it tells which route it is.
	var once sync.Once
	var d *directRoute
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		once.Do(func() {
			if pat, ok := runtime.HTTPPattern(r.Context()); ok {
				if dr, ok := f.direct[r.Method+" "+pat.String()]; ok {
					d = &dr
				}
			}
		})
		if d == nil {
			next(w, r, params)
			return
		}
		f.serveDirect(w, r, params, *d)
	}
}

func (f *restFace) serveDirect(w http.ResponseWriter, r *http.Request, params map[string]string, d directRoute) {
	ctx, err := runtime.AnnotateIncomingContext(r.Context(), f.mux, r, d.rt.rpc, runtime.WithHTTPPathPattern(d.rt.template))
	if err != nil {
		f.gatewayError(r.Context(), f.mux, f.outbound, w, r, err)
		return
	}
	dec := func(in any) error {
		msg := in.(proto.Message).ProtoReflect()
		for _, n := range d.names {
			v, ok := params[n]
			if !ok {
				return status.Errorf(codes.InvalidArgument, "missing parameter %s", n)
			}
			msg.Set(msg.Descriptor().Fields().ByName(protoreflect.Name(n)), protoreflect.ValueOfString(v))
		}
		return nil
	}
	out, header, trailer, err := f.local.call(ctx, d.method, d.rt.rpc, dec)
	ctx = runtime.NewServerMetadataContext(ctx, runtime.ServerMetadata{HeaderMD: header, TrailerMD: trailer})
	if err != nil {
		f.gatewayError(ctx, f.mux, f.outbound, w, r, err)
		return
	}
	msg, ok := out.(proto.Message)
	if !ok {
		f.gatewayError(ctx, f.mux, f.outbound, w, r, status.Errorf(codes.Internal, "serve: %s answered %T, not a message", d.rt.rpc, out))
		return
	}
	runtime.ForwardResponseMessage(ctx, f.mux, f.outbound, w, r, msg, f.mux.GetForwardResponseOptions()...)
}
