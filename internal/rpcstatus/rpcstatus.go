// Package rpcstatus is the one place where Go errors become gRPC statuses.
//
// Every non-OK status it returns carries a google.rpc.ErrorInfo detail
// (AIP-193): a machine-readable reason, the service's domain and, for vendor
// failures, the vendor's own code and message, so that callers never have to
// parse status messages.
package rpcstatus

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"maps"
	"net"
	"strconv"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// Metadata keys of the ErrorInfo detail.
const (
	metaVendor        = "vendor"
	metaEndpoint      = "endpoint"
	metaVendorCode    = "vendor_code"
	metaVendorMessage = "vendor_message"
	metaHTTPStatus    = "http_status"
	metaCheckConfig   = "check_config"
	metaFields        = "fields"
)

// FromError converts err into a gRPC status whose ErrorInfo detail names
// domain (e.g. "delivery.vendorgate.dev"):
//
//   - nil is OK;
//   - a gRPC status error keeps its code, message and details (an ErrorInfo is
//     added only when it has none);
//   - a *domainerr.Error maps its Kind to one code, with its message, its
//     reason in the ErrorInfo (in a BadRequest violation for an invalid
//     argument) and its retry-after in a RetryInfo;
//   - a *vendorerr.Error maps its Kind to one code, with the vendor, endpoint,
//     vendor code, vendor message and HTTP status in the ErrorInfo metadata;
//   - context.DeadlineExceeded and context.Canceled keep their meaning;
//   - anything else is INTERNAL with a generic message, because its text was
//     never meant for the caller.
func FromError(err error, domain string) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	if st, ok := status.FromError(err); ok {
		return withErrorInfo(st, domain)
	}
	if de, ok := domainerr.As(err); ok {
		return fromDomain(de, domain)
	}
	if ve, ok := vendorerr.As(err); ok {
		return fromVendor(ve, domain)
	}
	if storeDown(err) {
		return fromDomain(domainerr.StoreUnavailable(err), domain)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return newStatus(codes.DeadlineExceeded, "the request ran out of time", info(reason(codes.DeadlineExceeded), domain, nil))
	case errors.Is(err, context.Canceled):
		return newStatus(codes.Canceled, "the request was canceled", info(reason(codes.Canceled), domain, nil))
	default:
		return newStatus(codes.Internal, "internal error", info(reason(codes.Internal), domain, nil))
	}
}

// storeDown reports whether an unclassified error is a connection to the
// store that failed: a refused, reset or timed-out network connection, or a
// connection database/sql gave up on. Vendor failures are classified before
// they get here, so the only connections left are the store's.
func storeDown(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)
}

// fromDomain maps a domain failure to its one gRPC code.
func fromDomain(de *domainerr.Error, domain string) *status.Status {
	if de.Kind == domainerr.KindInvalidArgument {
		return InvalidArgument(domain, []*errdetails.BadRequest_FieldViolation{{
			Field: de.Field, Description: de.Message, Reason: de.Reason,
		}})
	}
	var code codes.Code
	switch de.Kind {
	case domainerr.KindNotFound:
		code = codes.NotFound
	case domainerr.KindFailedPrecondition:
		code = codes.FailedPrecondition
	case domainerr.KindAborted:
		code = codes.Aborted
	case domainerr.KindDeadlineExceeded:
		code = codes.DeadlineExceeded
	case domainerr.KindUnknown:
		code = codes.Unknown
	case domainerr.KindResourceExhausted:
		code = codes.ResourceExhausted
	case domainerr.KindUnauthenticated:
		code = codes.Unauthenticated
	case domainerr.KindPermissionDenied:
		code = codes.PermissionDenied
	case domainerr.KindUnavailable:
		code = codes.Unavailable
	default:
		// A kind this switch does not know is our bug, not the caller's.
		return newStatus(codes.Internal, "internal error", info(reason(codes.Internal), domain, nil))
	}
	details := []protoadapt.MessageV1{info(cmp.Or(de.Reason, reason(code)), domain, maps.Clone(de.Metadata))}
	if de.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(de.RetryAfter)})
	}
	return newStatus(code, de.Message, details...)
}

// fromVendor maps a classified vendor failure to its one gRPC code.
func fromVendor(ve *vendorerr.Error, domain string) *status.Status {
	vendor := ve.Vendor
	if vendor == "" {
		vendor = "the vendor"
	}
	meta := map[string]string{
		metaVendor:        ve.Vendor,
		metaEndpoint:      ve.Endpoint,
		metaVendorCode:    ve.Code,
		metaVendorMessage: ve.Message,
	}
	if ve.HTTPStatus != 0 {
		meta[metaHTTPStatus] = strconv.Itoa(ve.HTTPStatus)
	}

	var code codes.Code
	var msg string
	switch ve.Kind {
	case vendorerr.KindInvalidArgument:
		code, msg = codes.InvalidArgument, vendor+" rejected a parameter"
	case vendorerr.KindAlreadyExists:
		code, msg = codes.AlreadyExists, vendor+" says it already exists"
	case vendorerr.KindNotFound:
		code, msg = codes.NotFound, vendor+" did not find it"
	case vendorerr.KindRefused:
		code, msg = codes.FailedPrecondition, vendor+" refused the request"
	case vendorerr.KindAuth:
		// The caller can do nothing about our credentials, and the vendor's
		// message may echo our key or signature: say whose fault it is and
		// keep the vendor's words out of the response.
		code, msg = codes.Internal, "vendorgate is misconfigured: "+vendor+" rejected its vendor credentials"
		delete(meta, metaVendorMessage)
		if ve.Config != "" {
			msg += " (check " + ve.Config + ")"
			meta[metaCheckConfig] = ve.Config
		}
	case vendorerr.KindThrottled:
		code, msg = codes.ResourceExhausted, vendor+" is rate-limiting vendorgate"
	case vendorerr.KindUnavailable:
		code, msg = codes.Unavailable, vendor+" is unavailable"
	case vendorerr.KindOutcomeUnknown:
		// The call may have been applied; repeating it blindly could
		// apply it twice.
		code, msg = codes.Unknown, vendor+" may or may not have applied the request: its outcome is unknown"
	case vendorerr.KindUnreadable:
		// The vendor answered in a shape we cannot read: our decoder's
		// gap, not the caller's fault and not an outage.
		code, msg = codes.Internal, vendor+" answered in a shape vendorgate cannot read"
	case vendorerr.KindUnsendable:
		field := cmp.Or(ve.Field, "request")
		return InvalidArgument(domain, []*errdetails.BadRequest_FieldViolation{{
			Field: field, Reason: ve.ReasonString(),
			Description: "cannot be sent to " + vendor + ": " + cmp.Or(ve.Message, "it holds a character the vendor's transport does not allow"),
		}})
	case vendorerr.KindRateLimited:
		code, msg = codes.ResourceExhausted, "vendorgate's rate limit for "+vendor+" has no room within the deadline"
	case vendorerr.KindCircuitOpen:
		code, msg = codes.Unavailable, vendor+" is failing; calls are paused (circuit open)"
	default:
		code, msg = codes.Unknown, vendor+" failed"
	}
	if vm := meta[metaVendorMessage]; vm != "" {
		msg += ": " + vm
	}
	details := []protoadapt.MessageV1{info(ve.ReasonString(), domain, meta)}
	if ve.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(ve.RetryAfter)})
	}
	return newStatus(code, msg, details...)
}

// withErrorInfo returns st unchanged when it already has an ErrorInfo, and
// otherwise st with one added whose reason is the code's name.
func withErrorInfo(st *status.Status, domain string) *status.Status {
	if st.Code() == codes.OK {
		return st
	}
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.ErrorInfo); ok {
			return st
		}
	}
	return addDetails(st, info(reason(st.Code()), domain, nil))
}

// info builds an ErrorInfo, leaving out empty metadata values.
func info(reason, domain string, meta map[string]string) *errdetails.ErrorInfo {
	maps.DeleteFunc(meta, func(_, v string) bool { return v == "" })
	if len(meta) == 0 {
		meta = nil
	}
	return &errdetails.ErrorInfo{Reason: reason, Domain: domain, Metadata: meta}
}

// reason is the ErrorInfo reason for a status that has no finer one, e.g.
// "DEADLINE_EXCEEDED".
func reason(c codes.Code) string {
	return rpccode.Code(c).String()
}

// newStatus builds a non-OK status with details.
func newStatus(c codes.Code, msg string, details ...protoadapt.MessageV1) *status.Status {
	return addDetails(status.New(c, msg), details...)
}

// addDetails appends details to a non-OK status.
func addDetails(st *status.Status, details ...protoadapt.MessageV1) *status.Status {
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		// Only an OK code or a detail that cannot be marshaled fails, and
		// callers pass neither; the bare status still has the right code.
		return st
	}
	return withDetails
}
