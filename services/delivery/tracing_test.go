package main

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/vendorgate/vendorgate/internal/logging/logtest"
)

// otlpReceiver is an OTLP/HTTP trace endpoint that keeps what it receives.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	names []string // service.name of each batch
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				o.names = append(o.names, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			o.spans = append(o.spans, ss.GetSpans()...)
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func spanAttrs(s *tracepb.Span) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range s.GetAttributes() {
		m[kv.GetKey()] = kv.GetValue()
	}
	return m
}

// TestTraceOfARESTCall: a REST GetOrder sent with a traceparent gives one
// trace, the caller's: the REST server span, the gRPC server span under
// it, and the vendor's client span under that with the call's attributes;
// the service's log lines of the call carry the same trace_id. The spans
// leave by OTLP/HTTP and are flushed when the service stops.
func TestTraceOfARESTCall(t *testing.T) {
	t.Parallel()
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	logs := &logtest.Buffer{}
	h := startLogging(t, logs,
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL)

	if _, err := h.client.CreateOrder(t.Context(), validOrder("TRACE-1")); err != nil {
		t.Fatal(err)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const callerSpan = "00f067aa0ba902b7"
	req, err := http.NewRequest(http.MethodGet, h.rest+"/v1/delivery/orders/TRACE-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got HTTP %d %s, want 200", resp.StatusCode, b)
	}

	// Stopping the service flushes its spans.
	h.stop()
	select {
	case err := <-h.done:
		h.done <- err // for the harness's cleanup
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("service did not stop")
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, name := range recv.names {
		if name != "delivery" {
			t.Errorf("got service.name %q, want delivery", name)
		}
	}
	byID := map[string]*tracepb.Span{}
	var rest, rpc, vendor []*tracepb.Span
	for _, s := range recv.spans {
		if hex.EncodeToString(s.GetTraceId()) != traceID {
			continue
		}
		byID[hex.EncodeToString(s.GetSpanId())] = s
		switch {
		case s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && s.GetName() == "GET /v1/delivery/orders/{origin_id}":
			rest = append(rest, s)
		case s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && s.GetName() == "vendorgate.delivery.v1.DeliveryService/GetOrder":
			rpc = append(rpc, s)
		case s.GetKind() == tracepb.Span_SPAN_KIND_CLIENT && strings.HasPrefix(s.GetName(), "dingdang "):
			vendor = append(vendor, s)
		}
	}
	var got []string
	for _, s := range recv.spans {
		got = append(got, hex.EncodeToString(s.GetTraceId())+" "+s.GetKind().String()+" "+s.GetName())
	}
	if len(rest) != 1 || len(rpc) != 1 || len(vendor) != 1 {
		t.Fatalf("got spans %q, want in trace %s one REST server span, one gRPC server span and one dingdang client span", got, traceID)
	}
	if p := hex.EncodeToString(rest[0].GetParentSpanId()); p != callerSpan {
		t.Errorf("REST span: got parent %s, want the caller's %s", p, callerSpan)
	}
	// The gRPC span is the REST span's child, or a grandchild through a
	// client span of the gateway's own call.
	if !descends(byID, rpc[0], rest[0]) {
		t.Errorf("gRPC span: got parent %x, want a descendant of the REST span %x", rpc[0].GetParentSpanId(), rest[0].GetSpanId())
	}
	if !descends(byID, vendor[0], rpc[0]) {
		t.Errorf("vendor span: got parent %x, want a descendant of the gRPC span %x", vendor[0].GetParentSpanId(), rpc[0].GetSpanId())
	}
	attrs := spanAttrs(vendor[0])
	for key, want := range map[string]string{
		"vendorgate.vendor":           "dingdang",
		"vendorgate.vendor.call_kind": "read",
		"vendorgate.vendor.outcome":   "ok",
	} {
		if got := attrs[key].GetStringValue(); got != want {
			t.Errorf("vendor span: got %s=%q, want %q", key, got, want)
		}
	}
	if got := attrs["vendorgate.vendor.endpoint"].GetStringValue(); !strings.HasPrefix(got, "/open/") {
		t.Errorf("vendor span: got endpoint %q, want the endpoint's name", got)
	}
	if got := attrs["vendorgate.vendor.attempt"].GetIntValue(); got != 1 {
		t.Errorf("vendor span: got attempt %d, want 1", got)
	}
	for _, s := range recv.spans {
		for _, kv := range s.GetAttributes() {
			if v := kv.GetValue().GetStringValue(); strings.Contains(v, "127.0.0.1") && strings.Contains(v, "?") ||
				strings.Contains(v, testSecretKey) || strings.Contains(v, testSecretID) {
				t.Errorf("span %s: got %s=%q, want no vendor URL or credential", s.GetName(), kv.GetKey(), v)
			}
		}
	}

	// The service's log lines of the call carry the trace.
	var traced int
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			continue
		}
		if m["trace_id"] == traceID {
			traced++
			if _, ok := byID[m["span_id"].(string)]; !ok {
				t.Errorf("log line %s: span_id is none of the trace's spans", line)
			}
		}
		if m["msg"] == "finished call" && m["grpc.method"] == "GetOrder" && m["trace_id"] != traceID {
			t.Errorf("got access line %s, want trace_id %s", line, traceID)
		}
	}
	if traced == 0 {
		t.Errorf("got no log line with trace_id %s; logs:\n%s", traceID, logs.String())
	}
}

// descends reports whether s is a descendant of ancestor in spans.
func descends(spans map[string]*tracepb.Span, s, ancestor *tracepb.Span) bool {
	for range 8 {
		parent := hex.EncodeToString(s.GetParentSpanId())
		if parent == hex.EncodeToString(ancestor.GetSpanId()) {
			return true
		}
		if s = spans[parent]; s == nil {
			return false
		}
	}
	return false
}
