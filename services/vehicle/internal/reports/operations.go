package reports

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
)

// engineUnknown is idempotency.Operation.State of an operation whose
// outcome is unknown and whose call is not in flight.
const engineUnknown = "UNKNOWN"

// Operation is a purchase as the request_id engine records it, with what
// the service's own row of it adds.
type Operation struct {
	// Record is the engine's record: request id, method, state, note,
	// resolutions.
	Record idempotency.Operation
	// Purchase is what was asked to be bought: the row's when there is
	// one, else the request the engine kept.
	Purchase Purchase
	// OrderID is the vendor's order id the row holds; "" for none.
	OrderID string
}

// ListUnresolved returns a page of the purchases of unknown outcome
// (ListUnresolvedOperations) from the request_id engine's records, which
// mark the purchases left in flight by a process that died as unknown
// first, so that they are listed. Each purchase's row follows
// (StateUnknown), for its VIN's lookups.
func (s *Service) ListUnresolved(ctx context.Context, pageSize int, pageToken string) ([]Operation, string, error) {
	ops, next, err := s.opts.Requests.ListUnresolvedPage(ctx, pageSize, pageToken)
	if err != nil {
		return nil, "", err
	}
	out := make([]Operation, 0, len(ops))
	for _, op := range ops {
		if op.State == engineUnknown {
			if err := s.store.MarkUnknownByRequestID(ctx, op.RequestID); err != nil {
				return nil, "", err
			}
		}
		o, err := s.operation(ctx, op)
		if err != nil {
			return nil, "", err
		}
		out = append(out, o)
	}
	return out, next, nil
}

// Resolve records an operator's finding about the purchase under request
// id id (ResolveOperation): applied with the vendor's orderID, or not
// applied. The request_id engine records the finding (it holds the
// request_id's lock, refuses a purchase in flight, an unknown request_id
// and a known outcome), with the response a repeat then returns, and
// passes it on to the usage ledger (OnResolve); the purchase's row
// follows. This is the one place an operator's finding is written; by is
// the operator.
func (s *Service) Resolve(ctx context.Context, id string, applied bool, orderID, by, note string) (Operation, error) {
	op, err := s.opts.Requests.Get(ctx, id)
	if err != nil {
		return Operation{}, err
	}
	row, err := s.store.ByRequestID(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Operation{}, err
	}
	outcome, settle := idempotency.NotApplied, OutcomeNotApplied
	var resp proto.Message
	if applied {
		outcome, settle = idempotency.Applied, OutcomeApplied
		other, err := s.store.ByOrderID(ctx, orderID)
		switch {
		case err == nil && other.RequestID != id:
			return Operation{}, errOrderIDTaken(orderID)
		case err != nil && !errors.Is(err, ErrNotFound):
			return Operation{}, err
		}
		// Bought when its purchase started, as the row will say.
		boughtAt := row.CreatedAt
		if row.ID == "" {
			boughtAt = op.CreatedAt
		}
		resp = resolvedResponse(orderID, purchaseOf(op, row).VIN, boughtAt)
	}
	op, err = s.opts.Requests.Resolve(ctx, id, outcome, resp, by, note)
	if err != nil {
		return Operation{}, err
	}
	if row.ID != "" {
		if err := s.store.Settle(ctx, id, settle, orderID); err != nil {
			// The engine's record stands, and is what the request_id
			// answers; the row stays unknown to its VIN's lookups until
			// this is fixed by hand.
			s.log.ErrorContext(ctx, "resolution recorded, and the purchase's row not updated", "request_id", id,
				"outcome", string(outcome), "order_id", orderID, "error", err.Error())
		}
	}
	if outcome == idempotency.Applied && !sold(row) {
		// Found sold: the money was spent, though no answer said so. (A
		// sale the service recorded was counted when the vendor answered.)
		s.metrics.bought(viaResolveOperation)
	}
	s.metrics.resolved.WithLabelValues(string(outcome)).Inc()
	s.log.InfoContext(ctx, "report purchase resolved by an operator", "request_id", id, "outcome", string(outcome),
		"order_id", orderID, "resolved_by", by)
	return s.operation(ctx, op)
}

// errOrderIDTaken refuses a resolution naming another purchase's order.
func errOrderIDTaken(orderID string) error {
	return domainerr.InvalidArgument("order_id", "ORDER_ID_TAKEN", fmt.Sprintf("order %q is recorded for another purchase", orderID))
}

// Checkers are the reconciler's checks of the purchases of unknown outcome,
// by method (idempotency.Store.NewReconciler). The vendor cannot be asked,
// so they read the service's own record only: a purchase whose order was
// recorded (its answer came, and recording the outcome failed after it) is
// found applied; one that was never recorded as started was never sent.
// The rest wait for an operator.
func (s *Service) Checkers() map[string]idempotency.Checker {
	return map[string]idempotency.Checker{viaOrderReport: s.check, viaLookupHistory: s.check}
}

func (s *Service) check(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
	o, err := s.store.ByRequestID(ctx, op.RequestID)
	switch {
	case errors.Is(err, ErrNotFound):
		return idempotency.Finding{Outcome: idempotency.NotApplied,
			Note: "the purchase was never recorded as started, and the service records it before calling the vendor"}, nil
	case err != nil:
		return idempotency.Finding{}, err
	case sold(o):
		return idempotency.Finding{Outcome: idempotency.Applied, Response: orderResponse(o),
			Note: fmt.Sprintf("the service recorded the vendor's order %s before the outcome could be", o.OrderID)}, nil
	}
	return idempotency.Finding{}, nil
}

// abandoned reports whether the purchase under requestID, recorded as
// started (StateBuying), has an unknown outcome in the engine's record,
// and marks its row so: the call is not in flight, and its answer never
// came or its process died. The engine tells a dead process's record from
// one in flight (Reap).
func (s *Service) abandoned(ctx context.Context, requestID string) (bool, error) {
	op, err := s.opts.Requests.Get(ctx, requestID)
	if d, ok := domainerr.As(err); ok && d.Kind == domainerr.KindNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if op.Unresolved() && op.State != engineUnknown {
		if err := s.opts.Requests.Reap(ctx); err != nil {
			return false, err
		}
		if op, err = s.opts.Requests.Get(ctx, requestID); err != nil {
			return false, err
		}
	}
	if op.State != engineUnknown {
		return false, nil
	}
	return true, s.store.MarkUnknownByRequestID(ctx, requestID)
}

// operation is an engine operation with its purchase's row.
func (s *Service) operation(ctx context.Context, op idempotency.Operation) (Operation, error) {
	row, err := s.store.ByRequestID(ctx, op.RequestID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Operation{}, err
	}
	return Operation{Record: op, Purchase: purchaseOf(op, row), OrderID: row.OrderID}, nil
}
