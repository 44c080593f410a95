package tracking_test

import (
	"context"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdang"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
	"github.com/vendorgate/vendorgate/services/delivery/internal/tracking"
)

// spyVendor is a vendor that keeps the span context of each read.
type spyVendor struct {
	vendor
	mu    sync.Mutex
	spans []trace.SpanContext
}

func (v *spyVendor) GetOrder(ctx context.Context, originID string) (*dingdang.Order, error) {
	v.mu.Lock()
	v.spans = append(v.spans, trace.SpanContextFromContext(ctx))
	v.mu.Unlock()
	return v.vendor.GetOrder(ctx, originID)
}

// TestPollIsARootSpan: each poll of a watched order is a root span,
// vendorgate.delivery.poll with the order's origin_id, and the vendor read
// runs inside it, so that its client span joins that trace.
func TestPollIsARootSpan(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	v := &spyVendor{vendor: vendor{status: "1"}}
	tr, _, _ := newTracker(t, v, tracking.Options{PollInterval: 20 * time.Millisecond, TracerProvider: tp})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Watch(ctx, "P1", 0, func(store.Event) error { return nil }) }()
	var poll sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(10 * time.Second); poll == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, s := range rec.Ended() {
			if s.Name() == tracking.SpanPoll {
				poll = s
				break
			}
		}
	}
	cancel()
	<-done
	if poll == nil {
		t.Fatalf("got no %s span within 10 s", tracking.SpanPoll)
	}
	if poll.Parent().IsValid() {
		t.Errorf("poll span: got parent %s, want a root span", poll.Parent().SpanID())
	}
	var origin string
	for _, kv := range poll.Attributes() {
		if kv.Key == tracking.AttrOriginID {
			origin = kv.Value.Emit()
		}
	}
	if origin != "P1" {
		t.Errorf("poll span %s: got %q, want P1", tracking.AttrOriginID, origin)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var inside bool
	for _, sc := range v.spans {
		inside = inside || sc.SpanID() == poll.SpanContext().SpanID()
	}
	if !inside {
		t.Errorf("vendor reads: got span contexts %v, want one inside the poll span %s", v.spans, poll.SpanContext().SpanID())
	}
}
