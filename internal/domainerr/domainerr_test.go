package domainerr

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestAsFindsWrappedErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		wantKind Kind
		wantOK   bool
	}{
		{"not found, wrapped", fmt.Errorf("get: %w", NotFound("ORDER_NOT_FOUND", "no order")), KindNotFound, true},
		{"aborted", Aborted("BUSY", "busy", time.Second), KindAborted, true},
		{"invalid argument", InvalidArgument("vin", "VIN_MALFORMED", "too short"), KindInvalidArgument, true},
		{"resource exhausted", ResourceExhausted("REQUEST_TOO_LARGE", "too large", nil), KindResourceExhausted, true},
		{"plain error", errors.New("boom"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, ok := As(tt.err)
			if ok != tt.wantOK || (ok && e.Kind != tt.wantKind) {
				t.Errorf("got %v, %v, want kind %v, %v", e, ok, tt.wantKind, tt.wantOK)
			}
		})
	}
}

func TestErrorIsItsMessage(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("lookup: %w", DeadlineExceeded("PURCHASE_NOT_COMPLETE", "not in time"))
	if got, want := err.Error(), "lookup: not in time"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := KindFailedPrecondition.String(), "FailedPrecondition"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
