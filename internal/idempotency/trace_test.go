package idempotency_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

// TestReconcilerTracesEachCheck: a reconciler pass gives each operation it
// checks a root span, vendorgate.reconcile with the request_id, the method
// and the finding, and the Checker's vendor call (through vendorcall) is
// a client span under it, in the same trace.
func TestReconcilerTracesEachCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteURL(t))
	s, err := idempotency.New(ctx, db, "delivery", idempotency.Options{TTL: time.Hour, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"created"}`))
	}))
	t.Cleanup(vendor.Close)
	client, err := vendorcall.New("dingdang", vendorcall.Config{}, vendorcall.Options{})
	if err != nil {
		t.Fatal(err)
	}

	_, _ = idempotency.Run(ctx, s, "CreateOrder", "rid-1", wrapperspb.String("order 1"), lost)
	r := s.NewReconciler(map[string]idempotency.Checker{
		"CreateOrder": func(ctx context.Context, _ idempotency.Operation) (idempotency.Finding, error) {
			err := client.Read(ctx, "/open/order/get", vendorcall.RetryPolicy{Tries: 1}, func() (*http.Request, error) {
				return http.NewRequestWithContext(ctx, http.MethodGet, vendor.URL+"/open/order/get", nil)
			}, func([]byte) error { return nil })
			if err != nil {
				return idempotency.Finding{}, err
			}
			return idempotency.Finding{Outcome: idempotency.Applied, Note: "order found"}, nil
		},
	})
	if n, err := r.Once(ctx); err != nil || n != 1 {
		t.Fatalf("Once: got %d, %v; want 1 resolved", n, err)
	}

	var root, child sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		switch {
		case sp.Name() == idempotency.SpanReconcile:
			root = sp
		case sp.Name() == "dingdang /open/order/get":
			child = sp
		}
	}
	if root == nil {
		t.Fatalf("got spans %v, want one named %s", names(rec.Ended()), idempotency.SpanReconcile)
	}
	if root.Parent().IsValid() {
		t.Errorf("reconcile span: got parent %s, want a root span", root.Parent().SpanID())
	}
	want := map[attribute.Key]string{
		idempotency.AttrService:   "delivery",
		idempotency.AttrRequestID: "rid-1",
		idempotency.AttrOperation: "CreateOrder",
		idempotency.AttrFinding:   string(idempotency.Applied),
	}
	got := map[attribute.Key]string{}
	for _, kv := range root.Attributes() {
		got[kv.Key] = kv.Value.Emit()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("reconcile span attribute %s: got %q, want %q", k, got[k], v)
		}
	}
	if child == nil {
		t.Fatalf("got spans %v, want the vendor call's span", names(rec.Ended()))
	}
	if child.Parent().SpanID() != root.SpanContext().SpanID() || child.SpanContext().TraceID() != root.SpanContext().TraceID() {
		t.Errorf("vendor span: got parent %s in trace %s, want the reconcile span %s in trace %s",
			child.Parent().SpanID(), child.SpanContext().TraceID(), root.SpanContext().SpanID(), root.SpanContext().TraceID())
	}
}

// TestReconcilerUntracedByDefault: without a TracerProvider the pass
// works and records nothing (no panic on a nil provider).
func TestReconcilerUntracedByDefault(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		_, _ = idempotency.Run(ctx, f.a, "CreateOrder", "rid-1", wrapperspb.String("o"), lost)
		r := f.b.NewReconciler(map[string]idempotency.Checker{
			"CreateOrder": func(context.Context, idempotency.Operation) (idempotency.Finding, error) {
				return idempotency.Finding{Outcome: idempotency.NotApplied}, nil
			},
		})
		if n, err := r.Once(ctx); err != nil || n != 1 {
			t.Fatalf("Once: got %d, %v; want 1 resolved", n, err)
		}
	})
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}
