package rpcstatus

import (
	"errors"
	"slices"
	"strings"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// InvalidArgument is the INVALID_ARGUMENT status for a request that broke
// the rules in violations. It carries a google.rpc.BadRequest detail with the
// violations and an ErrorInfo whose "fields" metadata lists the offending
// field paths, comma-separated. The message names each field, e.g.
// "invalid request: origin_id: value length must be at least 1 characters".
func InvalidArgument(domain string, violations []*errdetails.BadRequest_FieldViolation) *status.Status {
	var fields, parts []string
	for _, v := range violations {
		part := v.GetDescription()
		if f := v.GetField(); f != "" {
			part = f + ": " + part
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
		parts = append(parts, part)
	}
	msg := "invalid request"
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, "; ")
	}
	return newStatus(codes.InvalidArgument, msg,
		&errdetails.BadRequest{FieldViolations: violations},
		info(reason(codes.InvalidArgument), domain, map[string]string{metaFields: strings.Join(fields, ",")}),
	)
}

// FromValidation converts the error of a protovalidate Validator into a
// status: a *protovalidate.ValidationError becomes InvalidArgument with one
// field violation per rule violation; any other error (a rule that does not
// compile or fails at run time) is our bug and becomes INTERNAL. A nil error
// is OK.
func FromValidation(err error, domain string) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return newStatus(codes.Internal, "internal error: the request could not be validated", info(reason(codes.Internal), domain, nil))
	}
	violations := make([]*errdetails.BadRequest_FieldViolation, 0, len(verr.Violations))
	for _, v := range verr.Violations {
		desc := describe(v.Proto.GetRuleId(), v.Proto.GetMessage())
		field := protovalidate.FieldPathString(v.Proto.GetField())
		if field == "" {
			// A message-level rule has no field path; our contracts name
			// such rules "<field>.<rule>" so the violation can still name
			// the field the caller must fix.
			field, _, _ = strings.Cut(v.Proto.GetRuleId(), ".")
		}
		violations = append(violations, &errdetails.BadRequest_FieldViolation{
			Field:       field,
			Description: desc,
			Reason:      ruleReason(v.Proto.GetRuleId()),
		})
	}
	return InvalidArgument(domain, violations)
}

// describe is a violation's description as a sentence a caller can act
// on: protovalidate's own words, except where they quote a regular
// expression, which tells a caller little.
func describe(ruleID, message string) string {
	switch {
	case ruleID == "string.pattern":
		return "is not in the expected format (see the field's description in the API documentation)"
	case message == "":
		return "breaks the rule " + ruleID
	}
	return message
}

// ruleReason turns a protovalidate rule id such as "string.min_len" into the
// UPPER_SNAKE_CASE form AIP-193 asks of a reason: "STRING_MIN_LEN".
func ruleReason(ruleID string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		default:
			return '_'
		}
	}, ruleID)
}
