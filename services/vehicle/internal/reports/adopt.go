package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
)

// Adopt hands to the request_id engine the purchases recorded before the
// engine kept vehicle's request ids, once at start: those of unknown
// outcome become its unknown operations (listed and resolved like any
// other), and the orders bought since boughtSince (now less
// REQUEST_ID_TTL) its records, so that a repeat of their request id
// returns them instead of buying again. A purchase the engine knows is
// left alone, so Adopt may run at every start. It returns how many it
// handed over.
func (s *Service) Adopt(ctx context.Context, boughtSince time.Time) (int, error) {
	rows, err := s.store.WithRequestID(ctx, s.opts.Now().Add(-buyingSuspectAfter), boughtSince)
	if err != nil {
		return 0, err
	}
	adopted := 0
	for _, o := range rows {
		_, err := s.opts.Requests.Get(ctx, o.RequestID)
		if d, ok := domainerr.As(err); !ok || d.Kind != domainerr.KindNotFound {
			if err != nil {
				return adopted, err
			}
			continue // the engine knows it
		}
		method, req := adoptedRequest(o)
		_, err = idempotency.Run(ctx, s.opts.Requests, method, o.RequestID, req,
			func(context.Context, idempotency.Attempt) (*orderReply, error) {
				if sold(o) {
					return orderResponse(o), nil
				}
				return nil, fmt.Errorf("%w: recorded as unknown before the service kept its request ids in one place", idempotency.ErrCannotTell)
			})
		if d, _ := domainerr.As(err); err != nil && (d == nil || d.Reason != idempotency.ReasonOutcomeUnknown) {
			return adopted, err
		}
		if o.State == StateBuying {
			if err := s.store.MarkUnknownByRequestID(ctx, o.RequestID); err != nil {
				return adopted, err
			}
		}
		adopted++
	}
	if adopted > 0 {
		s.log.InfoContext(ctx, "purchases handed to the request_id engine", "purchases", adopted)
	}
	return adopted, nil
}
