// Package vendorerr is the one error type a vendor client returns. It says
// what kind of failure happened (so the server can map it to a gRPC status)
// and carries the vendor's own code and message for google.rpc.ErrorInfo.
package vendorerr

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a vendor failure by what the caller can do about it.
type Kind int

// The kinds of vendor failure. Each maps to exactly one gRPC code in
// internal/rpcstatus.
const (
	// KindUnknown is a failure nobody classified; it maps to UNKNOWN.
	KindUnknown Kind = iota
	// KindInvalidArgument is the vendor rejecting a parameter we sent.
	KindInvalidArgument
	// KindAlreadyExists is the vendor refusing a duplicate (e.g. 订单号重复).
	KindAlreadyExists
	// KindNotFound is the vendor saying the object does not exist.
	KindNotFound
	// KindRefused is any other business refusal (FAILED_PRECONDITION).
	KindRefused
	// KindAuth is the gateway rejecting our signature or key: our misconfiguration.
	KindAuth
	// KindThrottled is the vendor or gateway rate-limiting us.
	KindThrottled
	// KindUnavailable is a transport failure, a 5xx or an unparseable body.
	KindUnavailable
	// KindTimeout is the vendor call running out of time before a
	// mutation could have left (or during a read, which is safe to repeat).
	KindTimeout
	// KindOutcomeUnknown is a mutation or purchase that failed after the
	// request may have reached the vendor: no usable answer came back (a
	// dropped connection, a timeout, a 5xx, an unreadable 2xx body), so it
	// may or may not have been applied. It maps to UNKNOWN. Never repeat it
	// blindly: keep it for an operator or read the outcome back.
	KindOutcomeUnknown
	// KindRateLimited is our own per-vendor rate limit refusing a call
	// before anything was sent, because no token was free within the
	// caller's deadline. It maps to RESOURCE_EXHAUSTED.
	KindRateLimited
	// KindCircuitOpen is the per-vendor circuit breaker failing a call at
	// once, before anything was sent, after repeated unavailability. It
	// maps to UNAVAILABLE; RetryAfter says when a probe will be let through.
	KindCircuitOpen
)

// String returns the reason string used in google.rpc.ErrorInfo.
func (k Kind) String() string {
	switch k {
	case KindInvalidArgument:
		return "VENDOR_INVALID_ARGUMENT"
	case KindAlreadyExists:
		return "VENDOR_ALREADY_EXISTS"
	case KindNotFound:
		return "VENDOR_NOT_FOUND"
	case KindRefused:
		return "VENDOR_REFUSED"
	case KindAuth:
		return "VENDOR_AUTH_REJECTED"
	case KindThrottled:
		return "VENDOR_THROTTLED"
	case KindUnavailable:
		return "VENDOR_UNAVAILABLE"
	case KindTimeout:
		return "VENDOR_TIMEOUT"
	case KindOutcomeUnknown:
		return "VENDOR_OUTCOME_UNKNOWN"
	case KindRateLimited:
		return "VENDOR_RATE_LIMITED"
	case KindCircuitOpen:
		return "VENDOR_CIRCUIT_OPEN"
	default:
		return "VENDOR_UNKNOWN"
	}
}

// Error is a classified vendor failure.
type Error struct {
	// Kind is the classification that decides the gRPC code.
	Kind Kind
	// Vendor names the vendor, e.g. "dingdang".
	Vendor string
	// Endpoint is the vendor path that failed, e.g. "/open/order/createOrder".
	Endpoint string
	// HTTPStatus is the vendor's HTTP status, 0 when no response arrived.
	HTTPStatus int
	// Code is the vendor's business code as text ("0", "20704"), empty when none.
	Code string
	// Message is the vendor's message, never containing our secrets.
	Message string
	// Err is the underlying cause, if any.
	Err error
	// Config, for KindAuth, names the configuration variables to check
	// (e.g. "FADADA_APP_ID, FADADA_APP_SECRET"); internal/rpcstatus puts it
	// in the message and the ErrorInfo metadata "check_config".
	Config string
	// RetryAfter, when positive, is how long the caller should wait before
	// trying again (KindCircuitOpen, KindRateLimited); internal/rpcstatus
	// turns it into google.rpc.RetryInfo.
	RetryAfter time.Duration
}

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Vendor, e.Endpoint, e.Kind)
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(" (http %d)", e.HTTPStatus)
	}
	if e.Code != "" {
		s += " code=" + e.Code
	}
	if e.Message != "" {
		s += " msg=" + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var ve *Error
	ok := errors.As(err, &ve)
	return ve, ok
}

// NotSent reports whether err is a failure known to have happened before
// anything reached the vendor: our rate limit or circuit breaker refusing
// the call. A transport failure cannot say as much and is not NotSent.
func NotSent(err error) bool {
	return IsKind(err, KindRateLimited) || IsKind(err, KindCircuitOpen)
}

// IsKind reports whether err is a vendor error of kind k.
func IsKind(err error, k Kind) bool {
	ve, ok := As(err)
	return ok && ve.Kind == k
}
