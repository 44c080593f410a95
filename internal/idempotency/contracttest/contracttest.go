// Package contracttest is the one table of the request_id wire contract
// (README, "Failures and retries") that every service's tests run against
// the service over gRPC, with its own vendor simulator, so that the four
// services cannot drift apart again: same request shape, same status, same
// reason, same metadata.
package contracttest

import (
	"context"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vendorgate/vendorgate/internal/idempotency"
)

// Service is one service's side of the contract: its mutation that takes a
// request_id, and the vendor behaviours the table needs.
type Service struct {
	// Call sends the service's mutation under requestID over gRPC and
	// returns its error. variant 0 and 1 are two different requests (e.g.
	// two amounts); the same variant is the same request.
	Call func(ctx context.Context, requestID string, variant int) error
	// Hold makes the vendor hold the next call until release is called;
	// entered is closed once the vendor has it.
	Hold func(t *testing.T) (entered <-chan struct{}, release func())
	// LoseNextReply makes the vendor apply the next call and lose its
	// reply.
	LoseNextReply func(t *testing.T)
	// ReadsBack says whether the service resolves a lost reply by asking
	// the vendor (a repeat then succeeds); otherwise every repeat stays
	// UNKNOWN until an operator resolves it.
	ReadsBack bool
	// Resolve calls the service's ResolveOperation.
	Resolve func(ctx context.Context, requestID string, applied bool) error
}

// Run runs the contract's table against svc.
func Run(t *testing.T, svc Service) {
	t.Helper()
	ctx := context.Background()
	rid := func(name string) string { return "contract-" + name + "-" + time.Now().Format("150405.000000") }

	t.Run("same request_id, different request: INVALID_ARGUMENT REQUEST_ID_REUSED", func(t *testing.T) {
		id := rid("reused")
		if err := svc.Call(ctx, id, 0); err != nil {
			t.Fatalf("first call: %v", err)
		}
		if err := svc.Call(ctx, id, 0); err != nil {
			t.Fatalf("the same request again: got %v, want the first answer", err)
		}
		err := svc.Call(ctx, id, 1)
		want(t, err, codes.InvalidArgument, "")
		if v := violation(err); v.GetField() != "request_id" || v.GetReason() != idempotency.ReasonReused {
			t.Errorf("got violation %v, want request_id %s", v, idempotency.ReasonReused)
		}
	})

	t.Run("in flight: ABORTED REQUEST_ID_IN_FLIGHT with RetryInfo", func(t *testing.T) {
		id := rid("inflight")
		entered, release := svc.Hold(t)
		first := make(chan error, 1)
		go func() { first <- svc.Call(ctx, id, 0) }()
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			release()
			t.Fatal("the vendor never got the first call")
		}
		err := svc.Call(ctx, id, 0)
		release()
		want(t, err, codes.Aborted, idempotency.ReasonInFlight)
		wantRequestID(t, err, id)
		if !hasRetryInfo(err) {
			t.Errorf("got %v without RetryInfo", err)
		}
		if err := <-first; err != nil {
			t.Errorf("the first call: %v", err)
		}
	})

	t.Run("lost reply: UNKNOWN OUTCOME_UNKNOWN, then the resolved outcome", func(t *testing.T) {
		id := rid("lost")
		svc.LoseNextReply(t)
		err := svc.Call(ctx, id, 0)
		want(t, err, codes.Unknown, idempotency.ReasonOutcomeUnknown)
		wantRequestID(t, err, id)
		if svc.ReadsBack {
			if err := svc.Call(ctx, id, 0); err != nil {
				t.Fatalf("repeat: got %v, want the outcome read back from the vendor", err)
			}
			err := svc.Resolve(ctx, id, false)
			want(t, err, codes.FailedPrecondition, idempotency.ReasonOutcomeKnown)
			return
		}
		for range 2 {
			err := svc.Call(ctx, id, 0)
			want(t, err, codes.Unknown, idempotency.ReasonOutcomeUnknown)
			wantRequestID(t, err, id)
		}
		if err := svc.Resolve(ctx, id, false); err != nil {
			t.Fatalf("resolve: %v", err)
		}
		err = svc.Call(ctx, id, 0)
		want(t, err, codes.FailedPrecondition, idempotency.ReasonNotApplied)
		wantRequestID(t, err, id)
	})

	t.Run("resolving an unknown request_id: NOT_FOUND OPERATION_NOT_FOUND", func(t *testing.T) {
		err := svc.Resolve(ctx, rid("none"), true)
		want(t, err, codes.NotFound, idempotency.ReasonOperationNotFound)
	})
}

// want fails unless err is a status with code and, when reason is set, an
// ErrorInfo with reason.
func want(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code || (reason != "" && info(err).GetReason() != reason) {
		t.Fatalf("got %v (reason %q), want %v %s", err, info(err).GetReason(), code, reason)
	}
}

func wantRequestID(t *testing.T, err error, id string) {
	t.Helper()
	if got := info(err).GetMetadata()["request_id"]; got != id {
		t.Errorf("got ErrorInfo metadata request_id %q, want %q", got, id)
	}
}

func info(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			return i
		}
	}
	return nil
}

func violation(err error) *errdetails.BadRequest_FieldViolation {
	for _, d := range status.Convert(err).Details() {
		if b, ok := d.(*errdetails.BadRequest); ok && len(b.GetFieldViolations()) > 0 {
			return b.GetFieldViolations()[0]
		}
	}
	return nil
}

func hasRetryInfo(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			return true
		}
	}
	return false
}
