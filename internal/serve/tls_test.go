package serve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/vendorgate/vendorgate/internal/auth"
)

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate whose URI SAN names the caller.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

func newPKI(t *testing.T, clientURI string) testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(tmpl *x509.Certificate) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	u, _ := url.Parse(clientURI)
	p := testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = issue(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	p.client = issue(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "ignored-cn"},
		URIs: []*url.URL{u}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	return p
}

// TestMTLSOverGRPCAndREST: with client certificates the caller is the
// certificate's URI SAN, over gRPC and over REST (through the gateway);
// no certificate is UNAUTHENTICATED / 401.
func TestMTLSOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	const caller = "spiffe://vendorgate/shop"
	pki := newPKI(t, caller)
	keys := filepath.Join(t.TempDir(), "callers.yaml")
	if err := os.WriteFile(keys, []byte("callers:\n  - name: "+caller+"\n    allow: [\"test.v1.EchoService/*\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := auth.New(context.Background(), auth.Options{Service: "echo", Config: auth.Config{Mode: auth.ModeMTLS,
		TLSCert: "x", TLSKey: "x", ClientCA: "x", KeysFile: keys, ReloadInterval: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	s := start(t, func(o *Options) { o.TLS = serverTLS; o.Guard = g })
	addr := strings.TrimPrefix(s.base, "http://")

	dial := func(withCert bool) *grpc.ClientConn {
		cfg := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}
		if withCert {
			cfg.Certificates = []tls.Certificate{pki.client}
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, withCert := range []bool{true, false} {
		s.conn = dial(withCert)
		_, err := s.call(ctx, "hi", "ok")
		want := codes.OK
		if !withCert {
			want = codes.Unauthenticated
		}
		if status.Code(err) != want {
			t.Errorf("gRPC with certificate %v: got %v, want %s", withCert, err, want)
		}
	}
	for _, withCert := range []bool{true, false} {
		cfg := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}
		if withCert {
			cfg.Certificates = []tls.Certificate{pki.client}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
		resp, err := hc.Post("https://"+addr+"/v1/echo", "application/json", strings.NewReader(`{"text":"hi","mode":"ok"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		want := http.StatusOK
		if !withCert {
			want = http.StatusUnauthorized
		}
		if resp.StatusCode != want {
			t.Errorf("REST with certificate %v: got %d %s, want %d", withCert, resp.StatusCode, body, want)
		}
	}
}

// TestSelfCallsCarryTheRESTCaller: a WrapREST handler that serves a REST
// request through the service's Local channel (with OutgoingContext) is admitted or refused as the REST caller: with
// AUTH_MODE=mtls over TLS, the client certificate decides.
func TestSelfCallsCarryTheRESTCaller(t *testing.T) {
	t.Parallel()
	const caller = "spiffe://vendorgate/uploader"
	pki := newPKI(t, caller)
	keys := filepath.Join(t.TempDir(), "callers.yaml")
	if err := os.WriteFile(keys, []byte("callers:\n  - name: "+caller+"\n    allow: [\"test.v1.EchoService/*\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := auth.New(context.Background(), auth.Options{Service: "echo", Config: auth.Config{Mode: auth.ModeMTLS,
		TLSCert: "x", TLSKey: "x", ClientCA: "x", KeysFile: keys, ReloadInterval: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	var echo *echoService // set once start returns; the handler runs later
	local := NewLocal()
	s := start(t, func(o *Options) {
		o.TLS = serverTLS
		o.Guard = g
		o.Local = local
		o.WrapREST = map[string]func(http.Handler) http.Handler{
			"POST /v1/echo-self": func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					resp := dynamicpb.NewMessage(echo.resp)
					err := local.Invoke(OutgoingContext(r), echoMethod, echo.request("hi", "ok"), resp)
					w.WriteHeader(runtime.HTTPStatusFromCode(status.Code(err)))
				})
			},
		}
	})
	echo = s.echo
	addr := strings.TrimPrefix(s.base, "http://")
	for _, withCert := range []bool{true, false} {
		cfg := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}
		if withCert {
			cfg.Certificates = []tls.Certificate{pki.client}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := hc.Post("https://"+addr+"/v1/echo-self", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		want := http.StatusOK
		if !withCert {
			want = http.StatusUnauthorized
		}
		if resp.StatusCode != want {
			t.Errorf("self call with certificate %v: got %d, want %d", withCert, resp.StatusCode, want)
		}
	}
}
