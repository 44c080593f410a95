// Package tracing sets up a service's OpenTelemetry traces from the
// standard OTEL_* variables: the tracer provider, its exporter and sampler,
// and the W3C tracecontext and baggage propagator. Traces are off unless
// OTEL_TRACES_EXPORTER names an exporter.
package tracing

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Exporter names, the values of OTEL_TRACES_EXPORTER.
const (
	ExporterNone    = "none"
	ExporterConsole = "console"
	ExporterOTLP    = "otlp"
)

// Options configures New.
type Options struct {
	// Service is the default service.name, e.g. "delivery";
	// OTEL_SERVICE_NAME overrides it.
	Service string
	// Environ holds the OTEL_* variables, as os.Environ() does: the exporter,
	// the OTLP endpoint and protocol, the service name and the sampler are
	// read from it. The OTLP exporter's other settings (headers,
	// certificates, timeout, compression) and the batch processor's are read
	// by the OpenTelemetry SDK from the process environment.
	Environ []string
	// Console is where the console exporter writes, one JSON span per line;
	// nil means standard output.
	Console io.Writer
	// Exporter, when set, receives the spans instead of the exporter
	// OTEL_TRACES_EXPORTER names, synchronously (for tests).
	Exporter sdktrace.SpanExporter
}

// Provider is a service's tracer provider and propagator. The zero
// configuration (OTEL_TRACES_EXPORTER unset or "none") records and
// propagates nothing.
type Provider struct {
	exporter string
	tp       trace.TracerProvider
	sdk      *sdktrace.TracerProvider
	prop     propagation.TextMapPropagator
}

// New builds the Provider OTEL_TRACES_EXPORTER in opts.Environ asks for:
// "none" (the default) for none, "console" for spans written as JSON to
// opts.Console, "otlp" for OTLP over OTEL_EXPORTER_OTLP_PROTOCOL
// ("http/protobuf", the default, or "grpc") to OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. Spans are sampled as
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG say (default
// parentbased_always_on). Shutdown flushes what is buffered.
func New(ctx context.Context, opts Options) (*Provider, error) {
	env := lookup(opts.Environ)
	name := strings.ToLower(strings.TrimSpace(env("OTEL_TRACES_EXPORTER")))
	if opts.Exporter != nil {
		name = "injected"
	}
	if name == "" || name == ExporterNone {
		return &Provider{exporter: ExporterNone, tp: noop.NewTracerProvider(), prop: propagation.NewCompositeTextMapPropagator()}, nil
	}
	sampler, err := samplerFrom(env)
	if err != nil {
		return nil, err
	}
	var processor sdktrace.SpanProcessor
	switch name {
	case "injected":
		processor = sdktrace.NewSimpleSpanProcessor(opts.Exporter)
	case ExporterConsole:
		w := opts.Console
		if w == nil {
			w = os.Stdout
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, fmt.Errorf("tracing: console exporter: %w", err)
		}
		processor = sdktrace.NewBatchSpanProcessor(exp)
	case ExporterOTLP:
		exp, err := otlpExporter(ctx, env)
		if err != nil {
			return nil, err
		}
		processor = sdktrace.NewBatchSpanProcessor(exp)
	default:
		return nil, fmt.Errorf("tracing: OTEL_TRACES_EXPORTER %q: want otlp, console or none", name)
	}
	service := opts.Service
	if s := env("OTEL_SERVICE_NAME"); s != "" {
		service = s
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", service)))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(processor), sdktrace.WithSampler(sampler), sdktrace.WithResource(res))
	return &Provider{
		exporter: name,
		tp:       sdk,
		sdk:      sdk,
		prop:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}, nil
}

// Enabled reports whether spans are recorded and exported; a nil Provider's
// are not.
func (p *Provider) Enabled() bool { return p != nil && p.sdk != nil }

// Exporter names the exporter: "none", "console", "otlp" (or "injected"
// for Options.Exporter).
func (p *Provider) Exporter() string { return p.exporter }

// TracerProvider returns the provider spans are started from; a no-op one
// when traces are off.
func (p *Provider) TracerProvider() trace.TracerProvider { return p.tp }

// Propagator returns the W3C tracecontext and baggage propagator; one that
// carries nothing when traces are off.
func (p *Provider) Propagator() propagation.TextMapPropagator { return p.prop }

// Shutdown flushes the spans still buffered and stops the exporter, within
// ctx.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	if err := p.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// otlpExporter builds the OTLP exporter of OTEL_EXPORTER_OTLP_PROTOCOL.
func otlpExporter(ctx context.Context, env func(string) string) (sdktrace.SpanExporter, error) {
	protocol := env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = env("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	// OTEL_EXPORTER_OTLP_ENDPOINT is a base URL to which the HTTP exporter
	// adds the signal's path; the traces-specific one is used as is.
	endpoint, signalURL := env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), true
	if endpoint == "" {
		endpoint, signalURL = env("OTEL_EXPORTER_OTLP_ENDPOINT"), false
	}
	switch protocol {
	case "", "http/protobuf":
		var opts []otlptracehttp.Option
		if endpoint != "" {
			if !signalURL {
				endpoint = strings.TrimSuffix(endpoint, "/") + "/v1/traces"
			}
			opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTLP/HTTP exporter: %w", err)
		}
		return exp, nil
	case "grpc":
		var opts []otlptracegrpc.Option
		if endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(endpoint))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTLP/gRPC exporter: %w", err)
		}
		return exp, nil
	default:
		return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_PROTOCOL %q: want http/protobuf or grpc", protocol)
	}
}

// samplerFrom reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG as the
// OpenTelemetry specification defines them.
func samplerFrom(env func(string) string) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		arg := env("OTEL_TRACES_SAMPLER_ARG")
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("tracing: OTEL_TRACES_SAMPLER_ARG %q: want a ratio from 0 to 1", arg)
		}
		return r, nil
	}
	switch name := strings.ToLower(strings.TrimSpace(env("OTEL_TRACES_SAMPLER"))); name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio", "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(r), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	default:
		return nil, fmt.Errorf("tracing: OTEL_TRACES_SAMPLER %q: want always_on, always_off, traceidratio or their parentbased_ forms", name)
	}
}

// lookup returns the value of a variable in environ; the last one wins, as
// for os.Getenv.
func lookup(environ []string) func(string) string {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return func(k string) string { return vars[k] }
}
