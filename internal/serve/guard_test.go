package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/vendorgate/vendorgate/internal/auth"
)

// startGuarded runs the echo service behind an api-key guard: key "good"
// may call it, key "other" may call only another service; metrics move to
// a listener of their own.
func startGuarded(t *testing.T) (*server, string) {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	body := "callers:\n" +
		"  - name: echoer\n    keys: [\"" + auth.HashKey("good") + "\"]\n    allow: [\"test.v1.EchoService/*\"]\n" +
		"  - name: stranger\n    keys: [\"" + auth.HashKey("other") + "\"]\n    allow: [\"vendorgate.delivery.v1.DeliveryService/*\"]\n"
	if err := os.WriteFile(keys, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := auth.New(context.Background(), auth.Options{Service: "echo", Config: auth.Config{Mode: auth.ModeAPIKey, KeysFile: keys, ReloadInterval: 1}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := l.Addr().String()
	_ = l.Close()
	s := start(t, func(o *Options) {
		o.Guard = g
		o.REST.MetricsAddr = metricsAddr
	})
	return s, metricsAddr
}

func withBearer(key string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
}

// TestGuardOverGRPCAndREST: no key and a wrong key are UNAUTHENTICATED /
// 401, a key of a caller not allowed the RPC is PERMISSION_DENIED / 403,
// all with ErrorInfo; the right key works; health stays open.
func TestGuardOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	s, _ := startGuarded(t)
	grpcCases := []struct {
		ctx    context.Context
		code   codes.Code
		reason string
	}{
		{context.Background(), codes.Unauthenticated, auth.ReasonMissing},
		{withBearer("wrong"), codes.Unauthenticated, auth.ReasonInvalid},
		{withBearer("other"), codes.PermissionDenied, auth.ReasonDenied},
		{withBearer("good"), codes.OK, ""},
	}
	for _, c := range grpcCases {
		_, err := s.call(c.ctx, "hi", "ok")
		st := status.Convert(err)
		info, _ := details(st)
		if st.Code() != c.code || (c.reason != "" && info.GetReason() != c.reason) {
			t.Errorf("gRPC: got %s %v, want %s %s", st.Code(), info, c.code, c.reason)
		}
		if strings.Contains(st.Message(), "echoer") || strings.Contains(st.Message(), "good") {
			t.Errorf("gRPC: the refusal %q names a caller or key", st.Message())
		}
	}
	restCases := []struct {
		key    string
		code   int
		reason string
	}{
		{"", http.StatusUnauthorized, auth.ReasonMissing},
		{"wrong", http.StatusUnauthorized, auth.ReasonInvalid},
		{"other", http.StatusForbidden, auth.ReasonDenied},
		{"good", http.StatusOK, ""},
	}
	for _, c := range restCases {
		req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/echo", strings.NewReader(`{"text":"hi","mode":"ok"}`))
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != c.code || (c.reason != "" && !strings.Contains(string(body), c.reason)) {
			t.Errorf("REST key %q: got %d %s, want %d %s", c.key, resp.StatusCode, body, c.code, c.reason)
		}
	}
	if _, err := healthpb.NewHealthClient(s.conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health without a key: %v", err)
	}
	if code, _ := s.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz without a key: got %d", code)
	}
}

// TestMetricsOnTheirOwnListener: with METRICS_ADDR the metrics leave the
// service's port, and carry the caller label.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	s, metricsAddr := startGuarded(t)
	if _, err := s.call(withBearer("good"), "hi", "ok"); err != nil {
		t.Fatal(err)
	}
	if code, _ := s.get(t, "/metrics"); code == http.StatusOK {
		t.Error("/metrics still served on the service's port")
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `vendorgate_caller_requests_total{caller="echoer"`) {
		t.Errorf("METRICS_ADDR /metrics: got %d without the caller's requests", resp.StatusCode)
	}
}
