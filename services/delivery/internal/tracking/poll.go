package tracking

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// tracerName is the instrumentation scope of the poll spans.
const tracerName = "github.com/vendorgate/vendorgate/services/delivery/internal/tracking"

// SpanPoll names the root span of one poll of an order: the vendor's read
// and the store calls of the event it records are its children.
const SpanPoll = "vendorgate.delivery.poll"

// AttrOriginID is the polled order's origin_id, on a poll span.
const AttrOriginID = attribute.Key("vendorgate.delivery.origin_id")

// poller reads one order from the vendor for all of its watchers.
type poller struct {
	refs   int
	cancel context.CancelFunc
}

// poll starts (or joins) originID's poller and returns the function that
// leaves it; the last watcher to leave stops it.
func (t *Tracker) poll(originID string) (release func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pollers[originID]
	if p == nil {
		ctx, cancel := context.WithCancel(t.ctx)
		p = &poller{cancel: cancel}
		t.pollers[originID] = p
		go t.runPoller(ctx, originID)
	}
	p.refs++
	var once bool
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if once {
			return
		}
		once = true
		if p.refs--; p.refs == 0 {
			p.cancel()
			if t.pollers[originID] == p {
				delete(t.pollers, originID)
			}
		}
	}
}

// runPoller reads originID every PollInterval while it holds the order's
// poll lock, so that in a replica set one replica polls each order; the
// others try again at every tick, and take over when that replica leaves.
func (t *Tracker) runPoller(ctx context.Context, originID string) {
	tick := time.NewTicker(t.opts.PollInterval)
	defer tick.Stop()
	var unlock func()
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if unlock == nil {
			u, ok, err := t.locks.TryLock(ctx, "delivery_poll:"+originID)
			if err != nil {
				t.opts.Logger.Warn("tracking: take poll lock", "origin_id", originID, "err", err)
				continue
			}
			if !ok {
				continue
			}
			unlock = u
		}
		at := t.opts.Now()
		e, err := t.pollOnce(ctx, originID)
		if err != nil {
			continue
		}
		t.polled(originID, e, at)
		if t.Final(e) {
			return
		}
	}
}

// pollOnce reads originID from the vendor once, under a root span of its
// own (SpanPoll), so that the vendor read and its store calls form a trace.
func (t *Tracker) pollOnce(ctx context.Context, originID string) (store.Event, error) {
	ctx, span := t.opts.TracerProvider.Tracer(tracerName).Start(ctx, SpanPoll, trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(AttrOriginID.String(originID)))
	defer span.End()
	e, err := t.Refresh(ctx, originID, store.SourcePoll)
	if err != nil {
		// Not the error's text: a vendor's message may quote what was sent.
		span.SetStatus(codes.Error, "poll failed")
		if ctx.Err() == nil {
			t.opts.Logger.WarnContext(ctx, "tracking: poll order", "origin_id", originID, "err", err)
		}
	}
	return e, err
}
