package vendorcall

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// tracerName is the instrumentation scope of the vendor-call spans.
const tracerName = "github.com/vendorgate/vendorgate/internal/vendorcall"

// Span attributes of a vendor call. The span names the endpoint, never the
// URL: a query string or path may carry credentials or personal data.
const (
	AttrVendor   = attribute.Key("vendorgate.vendor")
	AttrEndpoint = attribute.Key("vendorgate.vendor.endpoint")
	// AttrCallKind is "read" or "mutation".
	AttrCallKind = attribute.Key("vendorgate.vendor.call_kind")
	// AttrAttempt counts a read's attempts from 1; a mutation has one.
	AttrAttempt = attribute.Key("vendorgate.vendor.attempt")
	// AttrCode is the vendor's own code of a refusal, or the HTTP status
	// when it gave none.
	AttrCode = attribute.Key("vendorgate.vendor.code")
	// AttrOutcome is "ok" or the failure's reason (a vendorerr kind, e.g.
	// VENDOR_UNAVAILABLE, OUTCOME_UNKNOWN), as the metrics count it.
	AttrOutcome = attribute.Key("vendorgate.vendor.outcome")
	// AttrCostFen is what the call cost in fen, when it was paid for (or
	// may have been: an unknown outcome is booked at its price).
	AttrCostFen    = attribute.Key("vendorgate.vendor.cost_fen")
	attrHTTPStatus = attribute.Key("http.response.status_code")
)

// startSpan starts the client span of one attempt. Its tracer comes from
// the span already in ctx (the RPC's, whose provider serve set up), so an
// untraced call (traces off, or a background job) records nothing. No trace
// context is sent to the vendor.
func startSpan(ctx context.Context, vendor, endpoint string, mutation bool, attempt int) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, parent
	}
	kind := "read"
	if mutation {
		kind = "mutation"
	}
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, vendor+" "+endpoint,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrVendor.String(vendor), AttrEndpoint.String(endpoint),
			AttrCallKind.String(kind), AttrAttempt.Int(attempt)))
}

// endSpan records an attempt's outcome on its span and ends it.
func endSpan(span trace.Span, outcome string, costFen int64, err error) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrOutcome.String(outcome))
	if costFen > 0 {
		span.SetAttributes(AttrCostFen.Int64(costFen))
	}
	if ve, ok := vendorerr.As(err); ok {
		if ve.Code != "" {
			span.SetAttributes(AttrCode.String(ve.Code))
		}
		if ve.HTTPStatus != 0 {
			span.SetAttributes(attrHTTPStatus.Int(ve.HTTPStatus))
		}
	}
	if err != nil {
		// The reason, not the error text: a vendor's message may quote
		// what was sent.
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}
