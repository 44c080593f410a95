package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestNewRedactsSecretKeys(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := New(&buf, "debug")
	log.Info("x", "secret_key", "s3cr3t", "Password", "hunter2", "authorization", "hmac id=…", "vendor", "dingdang",
		"token", "tok", "signature", "sig")
	out := buf.String()
	for _, leaked := range []string{"s3cr3t", "hunter2", "hmac id", "tok\"", "sig\""} {
		if strings.Contains(out, leaked) {
			t.Errorf("got %s, want %q redacted", out, leaked)
		}
	}
	if !strings.Contains(out, `"vendor":"dingdang"`) {
		t.Errorf("got %s, want ordinary attributes kept", out)
	}
}

func TestNewAddsTraceContext(t *testing.T) {
	t.Parallel()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	var buf bytes.Buffer
	log := New(&buf, "debug").With("service", "delivery")
	log.InfoContext(ctx, "traced")
	log.Info("untraced")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %s", len(lines), buf.String())
	}
	for _, want := range []string{`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`, `"span_id":"00f067aa0ba902b7"`, `"service":"delivery"`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("got %s, want %s", lines[0], want)
		}
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("got %s, want no trace_id outside a span", lines[1])
	}
}

// TestGRPCLinesAreJSON: grpc-go's and grpc-gateway's own lines come out
// as JSON lines of the service's logger, marked as gRPC's.
func TestGRPCLinesAreJSON(t *testing.T) {
	var buf bytes.Buffer
	g := GRPC(New(&buf, "info"))
	g.Infof("dialing %s", "x") // debug: not written at info
	g.Warningf("transport: %s", "closing")
	g.Errorln("gateway: failed to write response")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (warning and error):\n%s", len(lines), buf.String())
	}
	for i, want := range []struct{ level, msg string }{{"WARN", "transport: closing"}, {"ERROR", "gateway: failed to write response"}} {
		var l map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &l); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, lines[i])
		}
		if l["level"] != want.level || l["msg"] != want.msg || l["component"] != "grpc" {
			t.Errorf("line %d: got %v, want level %s, msg %q, component grpc", i, l, want.level, want.msg)
		}
	}
	if g.V(1) {
		t.Error("V(1) is true, want false")
	}
}
