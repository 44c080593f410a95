// Package domainerr holds the errors a handler returns when a request
// fails for a reason of its own rather than a vendor's: an id that is not
// known here, an operation that must wait, a state that forbids it, a
// field that breaks a rule no .proto annotation can state.
//
// Handlers return these (or *vendorerr.Error, or any wrapped Go error) and
// never build a gRPC status: internal/serve's error interceptor is the one
// place that turns errors into statuses, through internal/rpcstatus, and
// logs the cause of every INTERNAL and UNKNOWN. This package therefore
// imports nothing of gRPC.
package domainerr

import (
	"errors"
	"strconv"
	"time"
)

// Kind is the class of a domain failure; each maps to one gRPC code.
type Kind int

// The kinds of domain failure.
const (
	// KindInvalidArgument: a request field is wrong in a way only the
	// service can tell (INVALID_ARGUMENT with a BadRequest violation).
	KindInvalidArgument Kind = iota + 1
	// KindNotFound: the id names nothing this service knows (NOT_FOUND).
	KindNotFound
	// KindFailedPrecondition: the system's state forbids the request until
	// someone changes it; retrying as is will not help (FAILED_PRECONDITION).
	KindFailedPrecondition
	// KindAborted: the request collided with concurrent work; the same
	// request may be retried, after RetryAfter if set (ABORTED).
	KindAborted
	// KindDeadlineExceeded: the work did not finish within the caller's
	// budget and goes on without it (DEADLINE_EXCEEDED).
	KindDeadlineExceeded
	// KindUnknown: the service cannot tell whether the request took effect
	// (e.g. a money movement whose vendor reply never came, kept for an
	// operator); repeating it blindly could apply it twice (UNKNOWN).
	KindUnknown
	// KindResourceExhausted: the request is over a limit of the service's,
	// e.g. an upload larger than allowed (RESOURCE_EXHAUSTED; with reason
	// REQUEST_TOO_LARGE the REST face answers 413).
	KindResourceExhausted
	// KindUnauthenticated: the call carries no valid credential
	// (UNAUTHENTICATED, HTTP 401).
	KindUnauthenticated
	// KindPermissionDenied: the caller is known but may not make this call
	// (PERMISSION_DENIED, HTTP 403).
	KindPermissionDenied
	// KindUnavailable: something the service depends on (its store) is
	// not answering; nothing was sent to a vendor, and the same request
	// may be retried after RetryAfter (UNAVAILABLE, HTTP 503).
	KindUnavailable
)

// String is the kind's name, e.g. "NotFound".
func (k Kind) String() string {
	switch k {
	case KindInvalidArgument:
		return "InvalidArgument"
	case KindNotFound:
		return "NotFound"
	case KindFailedPrecondition:
		return "FailedPrecondition"
	case KindAborted:
		return "Aborted"
	case KindDeadlineExceeded:
		return "DeadlineExceeded"
	case KindUnknown:
		return "Unknown"
	case KindResourceExhausted:
		return "ResourceExhausted"
	case KindUnauthenticated:
		return "Unauthenticated"
	case KindPermissionDenied:
		return "PermissionDenied"
	case KindUnavailable:
		return "Unavailable"
	default:
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Error is a domain failure. Its Message is shown to the caller, so it
// must not quote a secret or a vendor's raw reply.
type Error struct {
	// Kind picks the gRPC code.
	Kind Kind
	// Reason is the google.rpc.ErrorInfo reason, UPPER_SNAKE_CASE, e.g.
	// "ORDER_NOT_FOUND". For KindInvalidArgument it is the BadRequest
	// violation's reason, and the ErrorInfo reason stays INVALID_ARGUMENT
	// like every other invalid request's.
	Reason string
	// Message says what happened, for the caller.
	Message string
	// Field is the request field at fault (KindInvalidArgument only), e.g.
	// "vin".
	Field string
	// RetryAfter, when positive, becomes a google.rpc.RetryInfo delay.
	RetryAfter time.Duration
	// Metadata is added to the ErrorInfo metadata, e.g. {"order_id": "…"}.
	Metadata map[string]string

	cause error // for the log, never shown
}

// Error returns the caller-facing message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause kept for the log, if any.
func (e *Error) Unwrap() error { return e.cause }

// WithCause returns a copy of e that keeps cause for the log.
func (e *Error) WithCause(cause error) *Error {
	out := *e
	out.cause = cause
	return &out
}

// NotFound is a KindNotFound error, e.g.
// NotFound("ORDER_NOT_FOUND", `order "X" was not bought through vendorgate`).
func NotFound(reason, message string) *Error {
	return &Error{Kind: KindNotFound, Reason: reason, Message: message}
}

// FailedPrecondition is a KindFailedPrecondition error.
func FailedPrecondition(reason, message string) *Error {
	return &Error{Kind: KindFailedPrecondition, Reason: reason, Message: message}
}

// Aborted is a KindAborted error that the caller may retry after
// retryAfter (zero: no advice).
func Aborted(reason, message string, retryAfter time.Duration) *Error {
	return &Error{Kind: KindAborted, Reason: reason, Message: message, RetryAfter: retryAfter}
}

// DeadlineExceeded is a KindDeadlineExceeded error.
func DeadlineExceeded(reason, message string) *Error {
	return &Error{Kind: KindDeadlineExceeded, Reason: reason, Message: message}
}

// Unknown is a KindUnknown error, e.g.
// Unknown("OUTCOME_UNKNOWN", "the recharge may or may not have been applied").
func Unknown(reason, message string) *Error {
	return &Error{Kind: KindUnknown, Reason: reason, Message: message}
}

// ResourceExhausted is a KindResourceExhausted error with ErrorInfo
// metadata meta, e.g. ResourceExhausted("REQUEST_TOO_LARGE", "the file is
// larger than 20971520 bytes", map[string]string{"limit_bytes": "20971520"}).
func ResourceExhausted(reason, message string, meta map[string]string) *Error {
	return &Error{Kind: KindResourceExhausted, Reason: reason, Message: message, Metadata: meta}
}

// Unauthenticated is a KindUnauthenticated error. Its message must not say
// which credentials exist.
func Unauthenticated(reason, message string) *Error {
	return &Error{Kind: KindUnauthenticated, Reason: reason, Message: message}
}

// PermissionDenied is a KindPermissionDenied error with ErrorInfo metadata
// meta, e.g. {"method": "…"}.
func PermissionDenied(reason, message string, meta map[string]string) *Error {
	return &Error{Kind: KindPermissionDenied, Reason: reason, Message: message, Metadata: meta}
}

// ReasonStoreUnavailable is the reason of a request refused because the
// service's store did not answer before anything was sent to a vendor.
const ReasonStoreUnavailable = "STORE_UNAVAILABLE"

// StoreRetryAfter is the retry advice of ReasonStoreUnavailable.
const StoreRetryAfter = 2 * time.Second

// StoreUnavailable is the KindUnavailable error of a store that failed
// before any vendor call: nothing was sent, and the caller may retry. cause
// is kept for the log, never shown.
func StoreUnavailable(cause error) *Error {
	return &Error{Kind: KindUnavailable, Reason: ReasonStoreUnavailable, RetryAfter: StoreRetryAfter,
		Message: "the service's store is not answering; nothing was sent to the vendor; retry shortly", cause: cause}
}

// InvalidArgument is a KindInvalidArgument error about one request field:
// field is its path ("vin"), reason the violation's reason
// ("VIN_MALFORMED") and description what is wrong with it ("must have 17
// characters, has 16").
func InvalidArgument(field, reason, description string) *Error {
	return &Error{Kind: KindInvalidArgument, Reason: reason, Message: description, Field: field}
}

// As finds a *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
