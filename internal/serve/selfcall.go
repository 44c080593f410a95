package serve

import (
	"context"
	"crypto/tls"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// selfCallKey marks the request context of a WrapREST handler with the REST
// face, so that OutgoingContext can make its gRPC calls the gateway's.
type selfCallKey struct{}

// withSelfCalls lets h's requests use OutgoingContext.
func (f *restFace) withSelfCalls(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), selfCallKey{}, f)
		ctx = context.WithValue(ctx, restCallKey{}, &restCall{client: f.clientAddress(r)})
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// OutgoingContext is, for a WrapREST handler that serves request r through
// its own client of the service's gRPC endpoint (dialed with
// SelfDialOptions), r's context carrying what the REST gateway's calls
// carry: the caller's address, method and path for the access log, the
// verified client certificate's caller (AUTH_MODE=mtls) and the
// Authorization header, so that the guard admits or refuses the REST
// caller, not the handler. Outside a WrapREST handler it is r's context.
func OutgoingContext(r *http.Request) context.Context {
	f, _ := r.Context().Value(selfCallKey{}).(*restFace)
	if f == nil {
		return r.Context()
	}
	md := f.metadata(r.Context(), r)
	if v := r.Header.Get("Authorization"); v != "" {
		md.Set("authorization", v)
	}
	return metadata.NewOutgoingContext(r.Context(), md)
}

// SelfDialOptions are the transport options of a service's own client of
// its gRPC endpoint, as the gateway dials it: plaintext, or, when the
// listener is TLS (Options.TLS, here serverTLS), TLS pinned to the
// server's own certificate.
//
// They fix the client's flow-control windows as the gateway's are, so that
// a download whose REST client reads nothing holds a bounded buffer.
func SelfDialOptions(serverTLS *tls.Config) []grpc.DialOption {
	creds := insecure.NewCredentials()
	if serverTLS != nil {
		creds = credentials.NewTLS(gatewayTLS(serverTLS))
	}
	return append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, selfWindows()...)
}
