package idempotency

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the reconciler's spans.
const tracerName = "github.com/vendorgate/vendorgate/internal/idempotency"

// SpanReconcile names the root span of one operation the reconciler checks
// with its vendor: the vendor's read-back calls and the store calls of the
// resolution are its children.
const SpanReconcile = "vendorgate.reconcile"

// Attributes of a reconcile span.
const (
	AttrService   = attribute.Key("vendorgate.service")
	AttrRequestID = attribute.Key("vendorgate.request_id")
	// AttrOperation is the operation's RPC method, e.g. "CreateOrder".
	AttrOperation = attribute.Key("vendorgate.operation")
	// AttrFinding is what the check found: APPLIED, NOT_APPLIED (an
	// Outcome), "unknown" when the vendor cannot tell yet, or "error".
	AttrFinding = attribute.Key("vendorgate.reconcile.finding")
)

// startReconcileSpan starts the root span of op's check. It is a new
// trace: nothing in a background pass is any caller's.
func (s *Store) startReconcileSpan(ctx context.Context, op Operation) (context.Context, trace.Span) {
	return s.tracer.Start(ctx, SpanReconcile, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrService.String(s.service), AttrRequestID.String(op.RequestID), AttrOperation.String(op.Method)))
}

// endReconcileSpan records the check's finding and ends its span.
func endReconcileSpan(span trace.Span, finding string, err error) {
	if span.IsRecording() {
		span.SetAttributes(AttrFinding.String(finding))
		if err != nil {
			// The kind of failure, not its text: a vendor's message may
			// quote what was sent.
			span.SetStatus(codes.Error, finding)
		}
	}
	span.End()
}
