package rpcstatus

import (
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reasons of the requests refused before any handler runs, as the
// ErrorInfo reason.
const (
	// ReasonRequestTooLarge is a request body or gRPC message over its limit;
	// the ErrorInfo metadata "limit_bytes" says the limit.
	ReasonRequestTooLarge = "REQUEST_TOO_LARGE"
	// ReasonMalformedBody is a body that is not JSON at all.
	ReasonMalformedBody = "MALFORMED_BODY"
	// ReasonUnsupportedMediaType is a body in a format other than JSON.
	ReasonUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	// ReasonRouteNotFound is a path no route serves.
	ReasonRouteNotFound = "ROUTE_NOT_FOUND"
	// ReasonMethodNotAllowed is a path served for other HTTP methods only.
	ReasonMethodNotAllowed = "METHOD_NOT_ALLOWED"
	// ReasonRequestTimeout is a body that did not arrive in time.
	ReasonRequestTimeout = "REQUEST_TIMEOUT"
	// ReasonBodyReadFailed is a body whose connection broke while it was read.
	ReasonBodyReadFailed = "BODY_READ_FAILED"
)

// MetaLimitBytes is the ErrorInfo metadata key that carries the size limit
// of a REQUEST_TOO_LARGE error, in bytes.
const MetaLimitBytes = "limit_bytes"

// RequestTooLarge is the RESOURCE_EXHAUSTED status of a request whose body
// or message is over limit bytes, with ErrorInfo reason REQUEST_TOO_LARGE
// and the limit in its metadata. The REST face sends it as HTTP 413.
func RequestTooLarge(domain string, limit int64) *status.Status {
	return newStatus(codes.ResourceExhausted,
		fmt.Sprintf("the request is larger than the limit of %d bytes", limit),
		info(ReasonRequestTooLarge, domain, map[string]string{MetaLimitBytes: strconv.FormatInt(limit, 10)}))
}

// Refused is a status with code c and an ErrorInfo with reason and metadata
// meta, for a request refused before it reached a handler: a route that does
// not exist, a body that cannot be read.
func Refused(c codes.Code, domain, reason, msg string, meta map[string]string) *status.Status {
	return newStatus(c, msg, info(reason, domain, meta))
}
