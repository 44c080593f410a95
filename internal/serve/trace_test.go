package serve

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/vendorgate/vendorgate/internal/tracing"
)

// tracedServer starts the echo service with its spans in an in-memory
// exporter.
func tracedServer(t *testing.T) (*server, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	p, err := tracing.New(t.Context(), tracing.Options{Service: "echo", Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(t.Context()) })
	return start(t, func(o *Options) { o.Tracing = p }), exp
}

// spansOf waits for the server spans of trace id, until want of them ended.
func spansOf(t *testing.T, exp *tracetest.InMemoryExporter, id trace.TraceID, want int) []tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []tracetest.SpanStub
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID() == id {
				got = append(got, s)
			}
		}
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTracesContinueTheCallersTrace(t *testing.T) {
	t.Parallel()
	s, exp := tracedServer(t)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	id, _ := trace.TraceIDFromHex(traceID)
	const callerParent = "00f067aa0ba902b7"

	t.Run("REST", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/echo", strings.NewReader(`{"text":"hi","mode":"ok"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", "00-"+traceID+"-"+callerParent+"-01")
		// A caller cannot pose as the REST face's own span.
		req.Header.Set("Grpc-Metadata-traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got HTTP %d, want 200", resp.StatusCode)
		}
		spans := spansOf(t, exp, id, 2)
		var rest, rpc *tracetest.SpanStub
		for i := range spans {
			switch {
			case spans[i].SpanKind == trace.SpanKindServer && spans[i].Name == "POST":
				rest = &spans[i]
			case spans[i].SpanKind == trace.SpanKindServer && spans[i].Name == "test.v1.EchoService/Echo":
				rpc = &spans[i]
			}
		}
		if rest == nil || rpc == nil {
			t.Fatalf("got spans %v, want a REST and a gRPC server span in trace %s", names(spans), traceID)
		}
		if got := rest.Parent.SpanID().String(); got != callerParent {
			t.Errorf("REST span: got parent %s, want the caller's %s", got, callerParent)
		}
		if rpc.Parent.SpanID() != rest.SpanContext.SpanID() {
			t.Errorf("gRPC span: got parent %s, want the REST span %s", rpc.Parent.SpanID(), rest.SpanContext.SpanID())
		}
	})
	t.Run("gRPC", func(t *testing.T) {
		const grpcTrace = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
		gid, _ := trace.TraceIDFromHex(grpcTrace)
		ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", "00-"+grpcTrace+"-"+callerParent+"-01")
		if _, err := s.call(ctx, "hi", "ok"); err != nil {
			t.Fatal(err)
		}
		spans := spansOf(t, exp, gid, 1)
		if len(spans) != 1 || spans[0].Parent.SpanID().String() != callerParent || spans[0].SpanKind != trace.SpanKindServer {
			t.Errorf("got %v, want one server span, child of the caller's %s", names(spans), callerParent)
		}
	})
}

func TestTracesOffByDefault(t *testing.T) {
	t.Parallel()
	p, err := tracing.New(t.Context(), tracing.Options{Service: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Enabled() || p.Exporter() != tracing.ExporterNone {
		t.Errorf("got exporter %q enabled %v, want none", p.Exporter(), p.Enabled())
	}
	if opts := grpcTracing(p); opts != nil {
		t.Errorf("got %d gRPC options, want none when traces are off", len(opts))
	}
}

func names(spans []tracetest.SpanStub) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.SpanKind.String()+" "+s.Name+" parent "+s.Parent.SpanID().String())
	}
	return out
}
