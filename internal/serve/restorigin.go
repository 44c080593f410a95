package serve

import (
	"context"

	"google.golang.org/grpc"
)

// restOrigin is the REST request a gateway call serves.
type restOrigin struct {
	method, path string
}

// restOriginKey is the context key of the REST call (*restCall) a gRPC
// call serves.
type restOriginKey struct{}

// originFrom returns the REST request behind a gRPC call, if it came
// through the gateway.
func originFrom(ctx context.Context) (restOrigin, bool) {
	c, ok := ctx.Value(restOriginKey{}).(*restCall)
	if !ok {
		return restOrigin{}, false
	}
	return restOrigin{method: c.method, path: c.path}, true
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
