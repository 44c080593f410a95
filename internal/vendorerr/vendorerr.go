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
//
// Every failed vendor call is exactly one of six things, decided once in
// internal/vendorcall (the vendor's client supplies only what its vendor's
// codes mean):
//
//   - not sent: no byte of the request left (KindUnsendable,
//     KindRateLimited, KindCircuitOpen, or KindUnavailable with NotSent
//     set for a refused dial);
//   - refused: the vendor answered with a business refusal
//     (KindInvalidArgument, KindAlreadyExists, KindNotFound, KindRefused,
//     KindAuth);
//   - throttled: the vendor said "too many requests" (KindThrottled);
//   - unavailable: no reply, a 5xx, a read that timed out (KindUnavailable);
//   - unreadable: a read's answer we cannot read (KindUnreadable);
//   - outcome unknown: a mutation may have reached the vendor and no usable
//     answer came (KindOutcomeUnknown).
//
// Only "unavailable" counts against the circuit breaker.
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
	// KindUnavailable is the vendor not serving us: a refused or reset
	// connection before any reply, a 5xx, a read that ran out of time.
	KindUnavailable
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
	// KindUnreadable is a read the vendor answered in a shape we cannot
	// read (a field the decoder does not know how to take, a body over its
	// bound). It maps to INTERNAL: it is neither the caller's fault nor the
	// vendor being down, so it is never retried and never opens the
	// breaker. A mutation's unreadable answer is KindOutcomeUnknown.
	KindUnreadable
	// KindUnsendable is a request that could not be built or that the
	// transport refused to send (e.g. a control character in a value that
	// travels in a header): nothing left. It maps to INVALID_ARGUMENT,
	// naming Field when the vendor client knows it.
	KindUnsendable
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
	case KindOutcomeUnknown:
		return ReasonOutcomeUnknown
	case KindRateLimited:
		return "VENDOR_RATE_LIMITED"
	case KindCircuitOpen:
		return "VENDOR_CIRCUIT_OPEN"
	case KindUnreadable:
		return "VENDOR_RESPONSE_UNREADABLE"
	case KindUnsendable:
		return "VENDOR_REQUEST_UNSENDABLE"
	default:
		return "VENDOR_UNKNOWN"
	}
}

// ReasonOutcomeUnknown is the one ErrorInfo reason of an outcome that may or
// may not have been applied, in every service: on a vendor error of
// KindOutcomeUnknown and on internal/idempotency's repeats of one.
const ReasonOutcomeUnknown = "OUTCOME_UNKNOWN"

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
	// trying again (KindCircuitOpen, KindRateLimited, KindThrottled);
	// internal/rpcstatus turns it into google.rpc.RetryInfo.
	RetryAfter time.Duration
	// Reason, when set, replaces Kind's reason in ErrorInfo and the
	// metric, for a vendor client's finer classification of the same kind
	// (e.g. "VENDOR_SIGNATURE_REJECTED", a KindRefused).
	Reason string
	// NotSent is set when the call is known never to have left, for a
	// kind that does not say so by itself (a refused dial is
	// KindUnavailable).
	NotSent bool
	// Field names the request field a KindUnsendable or
	// KindInvalidArgument failure is about, as it appears on the wire
	// (e.g. "receiver_name"), when the vendor client knows it.
	Field string
}

// ReasonString is the failure's ErrorInfo reason: Reason, else Kind's.
func (e *Error) ReasonString() string {
	if e.Reason != "" {
		return e.Reason
	}
	return e.Kind.String()
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
// A nil err returns at once: errors.As's target escapes, so the call
// allocates, and the breaker and the retry policy ask it of every call that
// succeeded.
func As(err error) (*Error, bool) {
	if err == nil {
		return nil, false
	}
	var ve *Error
	ok := errors.As(err, &ve)
	return ve, ok
}

// NotSent reports whether err is a failure known to have happened before
// any byte reached the vendor: a request that could not be built, our rate
// limit or circuit breaker refusing the call, or a refused dial. Nothing
// can have been applied.
func NotSent(err error) bool {
	ve, ok := As(err)
	if !ok {
		return false
	}
	switch ve.Kind {
	case KindUnsendable, KindRateLimited, KindCircuitOpen:
		return true
	}
	return ve.NotSent
}

// NotApplied reports whether err says for certain that the vendor did not
// apply the call: it was never sent, or the vendor answered with a refusal
// or a throttle. Such a failure may be sent again under the same request_id.
func NotApplied(err error) bool {
	if NotSent(err) {
		return true
	}
	ve, ok := As(err)
	if !ok {
		return false
	}
	switch ve.Kind {
	case KindInvalidArgument, KindNotFound, KindRefused, KindAuth, KindThrottled:
		return true
	}
	return false
}

// IsKind reports whether err is a vendor error of kind k.
func IsKind(err error, k Kind) bool {
	ve, ok := As(err)
	return ok && ve.Kind == k
}
