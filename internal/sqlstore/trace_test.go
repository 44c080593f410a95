package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
)

// TestStoreSpans: a store call inside a traced call gets a client span
// named by its statement's first word, with the dialect, and never the
// statement or its arguments; an untraced call records nothing.
func TestStoreSpans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteURL(t))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (x TEXT)`); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("an untraced call recorded %d spans, want 0", n)
	}
	traced, parent := tp.Tracer("test").Start(ctx, "rpc")
	if _, err := db.ExecContext(traced, `INSERT INTO t VALUES ($1)`, "secret-value"); err != nil {
		t.Fatal(err)
	}
	var x string
	if err := db.QueryRowContext(traced, `SELECT x FROM t`).Scan(&x); err != nil {
		t.Fatal(err)
	}
	parent.End()
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.Emit(), "secret-value") || strings.Contains(a.Value.Emit(), "INTO t") {
				t.Errorf("span %s holds %s=%s", s.Name(), a.Key, a.Value.Emit())
			}
		}
		if s.Name() != "rpc" && s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s is not a child of the call's span", s.Name())
		}
	}
	if strings.Join(names, ",") != "store INSERT,store SELECT,rpc" {
		t.Errorf("got spans %v, want store INSERT, store SELECT, rpc", names)
	}
}
