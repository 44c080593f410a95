package restfiles

import (
	"context"
	"net/http"

	"google.golang.org/grpc/metadata"
)

// withCredentials returns ctx with the REST request's Authorization header
// as the outgoing "authorization" metadata of the call to the service's own
// gRPC endpoint, as the gateway forwards it: the guard there then admits or
// refuses the REST caller, not this handler.
func withCredentials(ctx context.Context, r *http.Request) context.Context {
	if v := r.Header.Values("Authorization"); len(v) > 0 {
		return metadata.AppendToOutgoingContext(ctx, "authorization", v[0])
	}
	return ctx
}
