package sqlstore

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the store spans.
const tracerName = "github.com/vendorgate/vendorgate/internal/sqlstore"

// startSpan starts the client span of one store call (a statement, a
// query until its rows are handed back, or a transaction's begin). Its
// tracer comes from the span already in ctx (the RPC's), so an untraced
// call records nothing. The span holds the dialect and the statement's
// first word (SELECT, INSERT…), never the statement or its arguments.
func (db *DB) startSpan(ctx context.Context, op, query string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, parent
	}
	system := "sqlite"
	if db.Dialect == Postgres {
		system = "postgresql"
	}
	verb := op
	if fields := strings.Fields(query); len(fields) > 0 {
		verb = strings.ToUpper(fields[0])
	}
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, "store "+verb,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", system), attribute.String("db.operation", verb)))
}

// endSpan records a store call's failure, if any, and ends its span.
func endSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, "store call failed")
	}
	span.End()
}
