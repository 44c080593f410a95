package vendorcall

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// traced returns a context inside a recording span, and the recorder of
// its provider.
func traced(t *testing.T) (context.Context, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "rpc")
	t.Cleanup(func() { span.End() })
	return ctx, rec
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestCallSpans(t *testing.T) {
	t.Parallel()
	t.Run("read retried", func(t *testing.T) {
		t.Parallel()
		srv := failingOnce(t, http.StatusBadGateway, func(r *http.Request) {
			if r.Header.Get("traceparent") != "" {
				t.Errorf("got traceparent %q sent to the vendor, want none", r.Header.Get("traceparent"))
			}
		})
		ctx, rec := traced(t)
		c := newCaller(t, srv, Config{}, nil)
		if err := c.Read(ctx, "/query", RetryPolicy{InitialInterval: 1}, post(srv.URL+"/query?secret=s3cr3t"), decodeEnvelope); err != nil {
			t.Fatal(err)
		}
		spans := rec.Ended()
		if len(spans) != 2 {
			t.Fatalf("got %d spans, want 2 (one per attempt)", len(spans))
		}
		for i, want := range []map[attribute.Key]string{
			{AttrOutcome: "VENDOR_UNAVAILABLE", AttrCode: "502"},
			{AttrOutcome: "ok"},
		} {
			s := spans[i]
			got := attrs(s)
			if s.Name() != "test /query" || s.SpanKind() != trace.SpanKindClient {
				t.Errorf("span %d: got %q kind %v, want \"test /query\" client", i, s.Name(), s.SpanKind())
			}
			if got[AttrAttempt].AsInt64() != int64(i+1) || got[AttrCallKind].AsString() != "read" ||
				got[AttrVendor].AsString() != "test" || got[AttrEndpoint].AsString() != "/query" {
				t.Errorf("span %d: got %v, want attempt %d of a read of test /query", i, got, i+1)
			}
			for k, v := range want {
				if got[k].AsString() != v {
					t.Errorf("span %d: got %s=%q, want %q", i, k, got[k].AsString(), v)
				}
			}
			for _, kv := range s.Attributes() {
				if kv.Value.Type() == attribute.STRING && (kv.Value.AsString() == srv.URL+"/query?secret=s3cr3t") {
					t.Errorf("span %d: got the URL in %s", i, kv.Key)
				}
			}
		}
	})
	t.Run("mutation unknown", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		ctx, rec := traced(t)
		c := newCaller(t, srv, Config{}, nil)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/create", nil)
		if err := c.Mutate(ctx, "/create", req, decodeEnvelope); err == nil {
			t.Fatal("got nil, want an unknown outcome")
		}
		spans := rec.Ended()
		if len(spans) != 1 {
			t.Fatalf("got %d spans, want 1", len(spans))
		}
		got := attrs(spans[0])
		if got[AttrCallKind].AsString() != "mutation" || got[AttrOutcome].AsString() != "OUTCOME_UNKNOWN" || got[AttrAttempt].AsInt64() != 1 {
			t.Errorf("got %v, want attempt 1 of a mutation, OUTCOME_UNKNOWN", got)
		}
	})
	t.Run("paid mutation carries its cost", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"code":1}`))
		}))
		defer srv.Close()
		ctx, rec := traced(t)
		c, err := New("test", Config{}, Options{HTTPClient: srv.Client(),
			Observe: func(context.Context, Observation) int64 { return 1700 }})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/buy", nil)
		if err := c.Mutate(ctx, "/buy", req, decodeEnvelope); err != nil {
			t.Fatal(err)
		}
		if got := attrs(rec.Ended()[0])[AttrCostFen].AsInt64(); got != 1700 {
			t.Errorf("got cost_fen %d, want 1700", got)
		}
	})
	t.Run("untraced", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"code":1}`))
		}))
		defer srv.Close()
		c := newCaller(t, srv, Config{}, nil)
		if err := c.Read(context.Background(), "/query", NoRetry, post(srv.URL+"/query"), decodeEnvelope); err != nil {
			t.Fatal(err)
		}
	})
}
