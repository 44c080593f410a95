package serve

import (
	"context"
	"crypto/subtle"
	"net"
	"net/netip"
	"net/url"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/vendorgate/vendorgate/internal/auth"
)

// gatewayCalls recognises the gRPC calls the process's own REST gateway
// makes, by the per-process secret in their metadata and a loopback peer,
// and gives the access log the REST caller's address, method and path
// instead of the gateway's loopback address. Metadata from anyone else is
// ignored, so a caller cannot choose the address it is logged with.
type gatewayCalls struct {
	secret string
	tls    bool // the listener is TLS: REST client certificates are passed on
}

// restOrigin is the REST request a gateway call serves.
type restOrigin struct {
	method, path string
}

type restOriginKey struct{}

// originFrom returns the REST request behind a gRPC call, if it came
// through the gateway.
func originFrom(ctx context.Context) (restOrigin, bool) {
	o, ok := ctx.Value(restOriginKey{}).(restOrigin)
	return o, ok
}

func (g gatewayCalls) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, ok := g.annotate(ctx)
	if ok {
		// The access log writes this call's line: the REST face need not.
		_ = grpc.SetTrailer(ctx, metadata.Pairs(mdLogged, "1"))
	}
	return handler(ctx, req)
}

func (g gatewayCalls) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, ok := g.annotate(ss.Context())
	if !ok {
		return handler(srv, ss)
	}
	ss.SetTrailer(metadata.Pairs(mdLogged, "1"))
	return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
}

// annotate returns ctx with the REST caller as peer, and the REST origin,
// when the call is the gateway's.
func (g gatewayCalls) annotate(ctx context.Context) (context.Context, bool) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx, false
	}
	secret := md.Get(mdGatewaySecret)
	if len(secret) != 1 || subtle.ConstantTimeCompare([]byte(secret[0]), []byte(g.secret)) != 1 {
		return ctx, false
	}
	p, ok := peer.FromContext(ctx)
	if !ok || !isLoopback(p.Addr) {
		return ctx, false
	}
	client := last(md.Get(mdClientAddress))
	if client != "" {
		rp := *p
		rp.Addr = textAddr(client)
		ctx = peer.NewContext(ctx, &rp)
	}
	path := last(md.Get(mdHTTPPath))
	if unescaped, err := url.PathUnescape(path); err == nil {
		path = unescaped
	}
	if cert := last(md.Get(mdClientCert)); g.tls && cert != "" {
		if name, err := url.PathUnescape(cert); err == nil {
			ctx = auth.WithRESTCertificate(ctx, name)
		}
	}
	return context.WithValue(ctx, restOriginKey{}, restOrigin{
		method: last(md.Get(mdHTTPMethod)),
		path:   path,
	}), true
}

func last(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func isLoopback(a net.Addr) bool {
	if a == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// textAddr is a REST caller's address as the REST face saw it.
type textAddr string

func (a textAddr) Network() string { return "tcp" }
func (a textAddr) String() string  { return string(a) }

// contextStream is a ServerStream with another context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }
