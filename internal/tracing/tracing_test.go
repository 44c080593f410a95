package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestExporterFromTheEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		environ []string
		want    string
		enabled bool
	}{
		{nil, ExporterNone, false},
		{[]string{"OTEL_TRACES_EXPORTER=none"}, ExporterNone, false},
		{[]string{"OTEL_TRACES_EXPORTER=console"}, ExporterConsole, true},
		{[]string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1"}, ExporterOTLP, true},
		{[]string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1"}, ExporterOTLP, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.environ, " "), func(t *testing.T) {
			t.Parallel()
			p, err := New(t.Context(), Options{Service: "delivery", Environ: tt.environ})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			if p.Exporter() != tt.want || p.Enabled() != tt.enabled {
				t.Errorf("got exporter %q enabled %v, want %q %v", p.Exporter(), p.Enabled(), tt.want, tt.enabled)
			}
		})
	}
}

func TestBadSettingsAreErrors(t *testing.T) {
	t.Parallel()
	for _, environ := range [][]string{
		{"OTEL_TRACES_EXPORTER=zipkin"},
		{"OTEL_TRACES_EXPORTER=console", "OTEL_TRACES_SAMPLER=sometimes"},
		{"OTEL_TRACES_EXPORTER=console", "OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=2"},
		{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"},
	} {
		t.Run(strings.Join(environ, " "), func(t *testing.T) {
			t.Parallel()
			p, err := New(t.Context(), Options{Service: "delivery", Environ: environ})
			if err == nil {
				_ = p.Shutdown(context.Background())
				t.Fatal("got nil, want an error naming the variable")
			}
			name, _, _ := strings.Cut(environ[len(environ)-1], "=")
			if !strings.Contains(err.Error(), name) {
				t.Errorf("got %q, want it to name %s", err, name)
			}
		})
	}
}

// TestConsoleExporter: OTEL_TRACES_EXPORTER=console writes each span as
// JSON, with OTEL_SERVICE_NAME as its service, once Shutdown flushes.
func TestConsoleExporter(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p, err := New(t.Context(), Options{Service: "delivery", Console: &out,
		Environ: []string{"OTEL_TRACES_EXPORTER=console", "OTEL_SERVICE_NAME=delivery-canary"}})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("test").Start(t.Context(), "GET /v1/delivery/orders/{origin_id}")
	span.End()
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name     string
		Resource []struct {
			Key   string
			Value struct{ Value any }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("console output %q is not one JSON span: %v", out.String(), err)
	}
	if got.Name != "GET /v1/delivery/orders/{origin_id}" {
		t.Errorf("got span %q, want the one started", got.Name)
	}
	service := ""
	for _, kv := range got.Resource {
		if kv.Key == "service.name" {
			service, _ = kv.Value.Value.(string)
		}
	}
	if service != "delivery-canary" {
		t.Errorf("got service.name %q, want OTEL_SERVICE_NAME's delivery-canary", service)
	}
}

func TestSampler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sampler       string
		parentSampled bool
		want          bool
	}{
		{"", true, true},
		{"", false, false}, // parent-based by default: a caller's decision holds
		{"always_off", true, false},
		{"always_on", false, true},
		{"parentbased_always_off", true, true},
		{"parentbased_always_off", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.sampler, func(t *testing.T) {
			t.Parallel()
			p, err := New(t.Context(), Options{Service: "x", Exporter: noExporter{},
				Environ: []string{"OTEL_TRACES_SAMPLER=" + tt.sampler}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			flags := "00"
			if tt.parentSampled {
				flags = "01"
			}
			ctx := p.Propagator().Extract(t.Context(), propagation.MapCarrier{
				"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-" + flags})
			_, span := p.TracerProvider().Tracer("test").Start(ctx, "s")
			defer span.End()
			if got := span.SpanContext().IsSampled(); got != tt.want {
				t.Errorf("got sampled %v, want %v", got, tt.want)
			}
			if span.SpanContext().TraceID() != trace.SpanContextFromContext(ctx).TraceID() {
				t.Error("got a new trace, want the caller's")
			}
		})
	}
}

// TestOffPropagatesNothing: with traces off nothing of a caller's trace
// context is taken or passed on.
func TestOffPropagatesNothing(t *testing.T) {
	t.Parallel()
	p, err := New(t.Context(), Options{Service: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := p.Propagator().Extract(t.Context(), propagation.MapCarrier{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	if trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("got the caller's trace context, want none with traces off")
	}
}

type noExporter struct{}

func (noExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (noExporter) Shutdown(context.Context) error                             { return nil }
