package serve

import (
	"context"
	"net"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
)

// incoming is the context of a direct call of d's route: r's context with
// the incoming metadata and path pattern runtime.AnnotateIncomingContext
// gives it, built without the gateway's general case, which a direct
// route never needs: annotators (the face sets one only with traces on,
// when no route is direct), binary headers and header matchers other than
// incomingHeader. The metadata is the gateway's, value for value and in
// its order (TestIncomingMatchesTheGateway); the gateway built it as a list
// of pairs, made it a map and copied the map: 20 allocations where this
// makes 7 (BenchmarkIncoming). The gateway's RPC method is not in the
// context (the gateway keeps its key to itself): the face reads the route
// from the call (restCall.matched). A request with a Grpc-Timeout header,
// or a gateway with a default timeout, takes the gateway's function.
func (f *restFace) incoming(r *http.Request, d *directRoute) (context.Context, error) {
	ctx := r.Context()
	if runtime.DefaultContextTimeout != 0 || len(r.Header["Grpc-Timeout"]) > 0 {
		return runtime.AnnotateIncomingContext(ctx, f.mux, r, d.rt.rpc, runtime.WithHTTPPathPattern(d.rt.template))
	}
	ctx = runtime.WithHTTPPathPattern(d.rt.template)(ctx)
	// Most requests have one value of each key: one array holds them.
	values := make([]string, 0, 4)
	md := make(metadata.MD, 4)
	add := func(key, v string) {
		if old := md[key]; len(old) > 0 {
			md[key] = append(old, v)
			return
		}
		values = append(values, v)
		md[key] = values[len(values)-1 : len(values) : len(values)]
	}
	for _, v := range r.Header.Values("Authorization") {
		if metadataText(v) {
			add("authorization", v)
		}
	}
	for key, vals := range r.Header {
		switch key = textproto.CanonicalMIMEHeaderKey(key); key {
		case "X-Forwarded-For", "X-Forwarded-Host":
			continue
		}
		// incomingHeader maps X-Request-Id only: a text key, not one
		// the gateway reserves, without the binary suffix.
		name, ok := incomingHeader(key)
		if !ok {
			continue
		}
		for _, v := range vals {
			if metadataText(v) {
				add(name, v)
			}
		}
	}
	if host := r.Header.Get("X-Forwarded-Host"); host != "" && metadataText(host) {
		add("x-forwarded-host", host)
	} else if r.Host != "" && metadataText(r.Host) {
		add("x-forwarded-host", r.Host)
	}
	var xff []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		if metadataText(v) {
			xff = append(xff, v)
		}
	}
	if addr := r.RemoteAddr; addr != "" {
		if ip, _, err := net.SplitHostPort(addr); err == nil && metadataText(ip) {
			xff = append(xff, ip)
		}
	}
	if len(xff) > 0 {
		add("x-forwarded-for", strings.Join(xff, ", "))
	}
	if len(md) == 0 {
		return ctx, nil
	}
	return metadata.NewIncomingContext(ctx, md), nil
}

// metadataText reports whether v may be a gRPC metadata text value:
// printable ASCII, as the gateway requires of what it forwards.
func metadataText(v string) bool {
	for i := range len(v) {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}
