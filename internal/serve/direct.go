package serve

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/metadata"
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
// whose request the path alone makes, and that writes its whole answer
// (the generated handler writes a response_body field alone).
func (r *route) pathOnly() ([]string, bool) {
	if r.method != http.MethodGet || r.input == nil || r.responseBody != "" {
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
		if m, ok := l.unary[rt.rpc]; ok && f.addDirect(rt, m) {
			f.local = l
		}
	}
}

// addDirect makes rt a direct route, served by calling m, when its request
// its path alone makes; and one the face serves without the gateway's
// router (shortcut) when the table is whole and rt alone in it.
func (f *restFace) addDirect(rt *route, m localMethod) bool {
	names, ok := rt.pathOnly()
	if !ok {
		return false
	}
	if f.direct == nil {
		f.direct = map[string]directRoute{}
	}
	d := directRoute{rt: rt, names: names, method: m}
	f.direct[rt.patternKey()] = d
	if f.wholeTable && f.routes.alone(rt) {
		if f.shortcuts == nil {
			f.shortcuts = map[*route]*directRoute{}
		}
		f.shortcuts[rt] = &d
	}
	return true
}

// alone reports whether the gateway, given a path without a colon, can
// route a GET rt matches to rt only: rt has no verb and no "**", and no
// other GET route without a verb overlaps it (overlaps). A GET route with a
// verb matches only a path whose last segment holds ":" and the verb.
func (t routeTable) alone(rt *route) bool {
	if rt.method != http.MethodGet || rt.verb != "" || slices.Contains(rt.segments, "**") {
		return false
	}
	for _, o := range t {
		if o != rt && o.method == http.MethodGet && o.verb == "" && overlaps(o.segments, rt.segments) {
			return false
		}
	}
	return true
}

// overlaps reports whether some path matches both templates' segments:
// each pair equal or one a variable ("*"), until both end or one reaches
// a "**".
func overlaps(a, b []string) bool {
	for i := 0; ; i++ {
		switch {
		case i == len(a) || i == len(b):
			return len(a) == len(b) || (i < len(a) && a[i] == "**") || (i < len(b) && b[i] == "**")
		case a[i] == "**" || b[i] == "**":
			return true
		case a[i] != "*" && b[i] != "*" && a[i] != b[i]:
			return false
		}
	}
}

// shortcut is the direct route of a GET the face serves without the
// gateway's router, and the values of its path's variables, when the
// gateway would route r to the same route with the same values: rt, the
// route the table matched, is alone (routeTable.alone); the path holds
// no colon (no verb route can match it); and its segments, as the gateway
// splits them (the unescaped path on "/", its default, legacy unescaping
// mode), match rt's template with no variable empty. Any other request
// takes the gateway's router, whose middleware (directly) still serves a
// direct route's. The gateway's router tried every GET route before the
// one that matched, each an allocation or more, and copied the request
// to give its context the pattern. TestShortcutRoutesAsTheGateway holds
// shortcut's answers to the gateway's router's.
func (f *restFace) shortcut(r *http.Request, rt *route) (*directRoute, []string, bool) {
	d, ok := f.shortcuts[rt]
	if !ok || r.Method != http.MethodGet {
		return nil, nil, false
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/")
	if !ok || strings.Contains(path, ":") {
		return nil, nil, false
	}
	values, ok := rt.walk(path, make([]string, 0, len(d.names)), true)
	if !ok || len(values) != len(d.names) {
		return nil, nil, false
	}
	return d, values, true
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
		values := make([]string, len(d.names))
		for i, n := range d.names {
			v, ok := params[n]
			if !ok {
				f.gatewayError(r.Context(), f.mux, f.outbound, w, r, status.Errorf(codes.InvalidArgument, "missing parameter %s", n))
				return
			}
			values[i] = v
		}
		f.serveDirect(w, r, values, d)
	}
}

// serveDirect serves r by calling d's method with the request whose
// fields d.names are values, and writes its answer as the gateway would.
func (f *restFace) serveDirect(w http.ResponseWriter, r *http.Request, values []string, d *directRoute) {
	ctx, err := f.incoming(r, d)
	if err != nil {
		f.gatewayError(r.Context(), f.mux, f.outbound, w, r, err)
		return
	}
	dec := func(in any) error {
		msg := in.(proto.Message).ProtoReflect()
		for i, n := range d.names {
			msg.Set(msg.Descriptor().Fields().ByName(protoreflect.Name(n)), protoreflect.ValueOfString(values[i]))
		}
		return nil
	}
	out, header, trailer, err := f.local.call(ctx, d.method, d.rt.rpc, dec)
	msg, ok := out.(proto.Message)
	if err == nil && ok && !acceptsTrailers(r) {
		f.answer(ctx, w, r, msg, header)
		return
	}
	ctx = runtime.NewServerMetadataContext(ctx, runtime.ServerMetadata{HeaderMD: header, TrailerMD: trailer})
	if err != nil {
		f.gatewayError(ctx, f.mux, f.outbound, w, r, err)
		return
	}
	if !ok {
		f.gatewayError(ctx, f.mux, f.outbound, w, r, status.Errorf(codes.Internal, "serve: %s answered %T, not a message", d.rt.rpc, out))
		return
	}
	runtime.ForwardResponseMessage(ctx, f.mux, f.outbound, w, r, msg, f.mux.GetForwardResponseOptions()...)
}

// acceptsTrailers reports whether the request takes trailers (TE:
// trailers), as the gateway asks before it forwards trailer metadata.
func acceptsTrailers(r *http.Request) bool {
	return strings.Contains(strings.ToLower(r.Header.Get("TE")), "trailers")
}

// answer writes a direct call's answer as runtime.ForwardResponseMessage
// does with the face's gateway options, for a request that takes no
// trailers: the header metadata as Grpc-Metadata- headers (the gateway's
// default outgoing header matcher: muxOptions sets none, nor a response
// rewriter), the marshaler's content type, the forward-response option
// (forwarded, which names the route and cannot fail) and the marshaled
// answer. The gateway's function first put the metadata in the context
// (two allocations) and read it back. TestAnswerMatchesTheGateway holds
// answer to that function, and TestDirectRESTMatchesTheGateway
// (services/delivery) the answers to the generated handler's.
func (f *restFace) answer(ctx context.Context, w http.ResponseWriter, r *http.Request, msg proto.Message, header metadata.MD) {
	for k, vs := range header {
		for _, v := range vs {
			w.Header().Add(runtime.MetadataHeaderPrefix+k, v)
		}
	}
	w.Header().Set("Content-Type", f.outbound.ContentType(msg))
	f.noteGRPC(ctx)
	buf, err := f.outbound.Marshal(msg)
	if err != nil {
		grpclog.Errorf("Marshal error: %v", err)
		f.gatewayError(runtime.NewServerMetadataContext(ctx, runtime.ServerMetadata{HeaderMD: header}), f.mux, f.outbound, w, r, err)
		return
	}
	if _, err := w.Write(buf); err != nil && !errors.Is(err, http.ErrBodyNotAllowed) {
		grpclog.Errorf("Failed to write response: %v", err)
	}
}
