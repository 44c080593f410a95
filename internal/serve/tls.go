package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"github.com/soheilhy/cmux"
	"google.golang.org/grpc/credentials"

	"github.com/vendorgate/vendorgate/internal/auth"
)

// serverTLS prepares opts.TLS for the shared listener: HTTP/1.1 is
// preferred in ALPN, so that REST clients (curl offers h2 first) speak
// HTTP/1.1, which the HTTP side serves, while gRPC clients, which offer h2
// only, get h2.
func serverTLS(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.NextProtos = []string{"http/1.1", "h2"}
	return c
}

// tlsConnOf finds the TLS connection under c (cmux wraps it).
func tlsConnOf(c net.Conn) *tls.Conn {
	for {
		switch v := c.(type) {
		case *tls.Conn:
			return v
		case *cmux.MuxConn:
			c = v.Conn
		default:
			return nil
		}
	}
}

// handshaken are the gRPC server's credentials on a TLS listener: the
// handshake already happened (cmux had to read through it to tell gRPC
// from HTTP), so they only report its state, client certificate included.
type handshaken struct{}

func (handshaken) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("serve: server-side credentials")
}

func (handshaken) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc := tlsConnOf(c)
	if tc == nil {
		return nil, nil, errors.New("serve: connection is not TLS")
	}
	return c, credentials.TLSInfo{State: tc.ConnectionState(), CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

func (handshaken) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (h handshaken) Clone() credentials.TransportCredentials { return h }

func (handshaken) OverrideServerName(string) error { return nil }

type tlsConnKey struct{}

// withTLSConn is the HTTP server's ConnContext on a TLS listener: REST
// handlers find the connection's client certificate through it.
func withTLSConn(ctx context.Context, c net.Conn) context.Context {
	if tc := tlsConnOf(c); tc != nil {
		return context.WithValue(ctx, tlsConnKey{}, tc)
	}
	return ctx
}

// restCertName is the caller the verified client certificate of the REST
// request in ctx names, or "".
func restCertName(ctx context.Context) string {
	tc, _ := ctx.Value(tlsConnKey{}).(*tls.Conn)
	if tc == nil {
		return ""
	}
	chains := tc.ConnectionState().VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return ""
	}
	return auth.CertName(chains[0][0])
}
