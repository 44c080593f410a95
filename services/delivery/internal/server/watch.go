package server

import (
	"context"
	"errors"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/internal/pagetoken"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
	"github.com/vendorgate/vendorgate/services/delivery/internal/tracking"
)

// Page sizes of ListOrderEvents.
const (
	defaultEventPage = 50
	maxEventPage     = 500
)

var errNoTracking = errors.New("order tracking is not configured")

// sharedMessages is what *tracking.Tracker offers beside Tracking: a value
// made of an event once for all the watchers of its order, here the
// message they are sent (it is only read: marshalled for each stream).
type sharedMessages interface {
	Derived(e dispatch.Event, build func(dispatch.Event) (any, error)) (any, error)
}

// WatchOrder implements DeliveryService.
func (s *Server) WatchOrder(req *deliveryv1.WatchOrderRequest, stream deliveryv1.DeliveryService_WatchOrderServer) error {
	if s.tracking == nil {
		return errNoTracking
	}
	message := func(e dispatch.Event) (any, error) {
		ev, err := s.event(e)
		if err != nil {
			return nil, err
		}
		return &deliveryv1.WatchOrderResponse{Event: ev}, nil
	}
	if shared, ok := s.tracking.(sharedMessages); ok {
		own := message
		message = func(e dispatch.Event) (any, error) { return shared.Derived(e, own) }
	}
	return s.tracking.Watch(stream.Context(), req.GetOriginId(), req.GetAfterEventId(), func(e dispatch.Event) error {
		m, err := message(e)
		if err != nil {
			return err
		}
		return stream.Send(m.(*deliveryv1.WatchOrderResponse))
	})
}

// eventCursor is ListOrderEvents' page token.
type eventCursor struct {
	// OriginID binds the token to the order it pages (AIP-158).
	OriginID string `json:"o"`
	// After is the last event_id of the previous page.
	After int64 `json:"a"`
}

// ListOrderEvents implements DeliveryService.
func (s *Server) ListOrderEvents(ctx context.Context, req *deliveryv1.ListOrderEventsRequest) (*deliveryv1.ListOrderEventsResponse, error) {
	if s.tracking == nil {
		return nil, errNoTracking
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultEventPage
	}
	size = min(size, maxEventPage)
	var cur eventCursor
	if err := pagetoken.Decode(req.GetPageToken(), &cur); err != nil {
		return nil, err
	}
	if req.GetPageToken() != "" && cur.OriginID != req.GetOriginId() {
		return nil, pagetoken.Invalid("was issued for another order")
	}
	events, err := s.tracking.Events(ctx, req.GetOriginId(), cur.After, size+1)
	if err != nil {
		return nil, err
	}
	out := &deliveryv1.ListOrderEventsResponse{}
	if len(events) > size {
		events = events[:size]
		out.NextPageToken = pagetoken.Encode(eventCursor{OriginID: req.GetOriginId(), After: events[size-1].ID})
	}
	for _, e := range events {
		ev, err := s.event(e)
		if err != nil {
			return nil, err
		}
		out.Events = append(out.Events, ev)
	}
	return out, nil
}

// event maps a recorded status change.
func (s *Server) event(e dispatch.Event) (*deliveryv1.OrderEvent, error) {
	o, err := tracking.Order(e)
	if err != nil {
		return nil, err
	}
	return &deliveryv1.OrderEvent{
		EventId: e.ID, OriginId: e.OriginID, Status: s.statuses.status(e.RawStatus), RawStatus: e.RawStatus,
		Order: s.order(o), Source: eventSources[e.Source], CreateTime: timestamp(e.CreatedAt),
		Final: s.statuses.Final(e.RawStatus),
	}, nil
}

var eventSources = map[dispatch.Source]deliveryv1.OrderEventSource{
	dispatch.SourcePush: deliveryv1.OrderEventSource_ORDER_EVENT_SOURCE_PUSH,
	dispatch.SourcePoll: deliveryv1.OrderEventSource_ORDER_EVENT_SOURCE_POLL,
	dispatch.SourceRead: deliveryv1.OrderEventSource_ORDER_EVENT_SOURCE_READ,
}
