package serve

import (
	"regexp"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
)

// Patterns of the gateway's decoding errors (protojson, the query-parameter
// parser and the generated path-parameter code) that name a field.
var (
	unknownFieldRE = regexp.MustCompile(`unknown field "?([A-Za-z0-9_.]+)"?`)
	invalidValueRE = regexp.MustCompile(`invalid value for (\w+) field ([A-Za-z0-9_]+): (.*)`)
	queryFieldRE   = regexp.MustCompile(`parsing (?:field|list) "([A-Za-z0-9_]+)": (.*)`)
	pathParamRE    = regexp.MustCompile(`type mismatch, parameter: ([A-Za-z0-9_.]+), error: (.*)`)
	// protojson prefixes its errors with "proto: (line 1:2): ".
	protoPrefixRE = regexp.MustCompile(`^proto:\s*(?:syntax error\s*)?(?:\(line \d+:\d+\):\s*)?`)
)

// decodeError turns the gateway's error for a request it could not decode
// into INVALID_ARGUMENT with a BadRequest naming the field as the API
// spells it, snake_case, whatever form the caller or protojson used: the
// error text gives the JSON (camelCase) name, which rt's request message
// maps back. A body that is not JSON at all has no field and reason
// MALFORMED_BODY.
func decodeError(domain string, rt *route, text string) *status.Status {
	var input protoreflect.MessageDescriptor
	if rt != nil {
		input = rt.input
	}
	clean := protoPrefixRE.ReplaceAllString(text, "")
	violation := func(field, reason, desc string) *status.Status {
		return rpcstatus.InvalidArgument(domain, []*errdetails.BadRequest_FieldViolation{{
			Field: protoPath(input, field), Description: desc, Reason: reason,
		}})
	}
	if m := unknownFieldRE.FindStringSubmatch(clean); m != nil {
		return violation(m[1], "UNKNOWN_FIELD", "unknown field")
	}
	if m := invalidValueRE.FindStringSubmatch(clean); m != nil {
		reason := "INVALID_VALUE"
		if m[1] == "enum" {
			reason = "UNKNOWN_ENUM_VALUE"
		}
		return violation(m[2], reason, "invalid value for "+m[1]+" field: "+m[3])
	}
	if m := queryFieldRE.FindStringSubmatch(clean); m != nil {
		return violation(m[1], "INVALID_VALUE", m[2])
	}
	if m := pathParamRE.FindStringSubmatch(clean); m != nil {
		return violation(m[1], "INVALID_VALUE", m[2])
	}
	if strings.HasPrefix(clean, "missing parameter ") {
		return violation(strings.TrimPrefix(clean, "missing parameter "), "MISSING_VALUE", "missing parameter")
	}
	return rpcstatus.Refused(codes.InvalidArgument, domain, rpcstatus.ReasonMalformedBody,
		"the request body is not valid JSON: "+clean, nil)
}

// protoPath finds the field named name (its proto name or its JSON name)
// in msg or, breadth first, in the messages it holds, and returns its path
// in proto names, e.g. "receiver_location.latitude". A name that no field
// has is returned as it is.
func protoPath(msg protoreflect.MessageDescriptor, name string) string {
	if msg == nil || name == "" {
		return name
	}
	type node struct {
		md   protoreflect.MessageDescriptor
		path string
	}
	queue := []node{{msg, ""}}
	seen := map[protoreflect.FullName]bool{}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if seen[n.md.FullName()] {
			continue
		}
		seen[n.md.FullName()] = true
		fields := n.md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			p := string(fd.Name())
			if n.path != "" {
				p = n.path + "." + p
			}
			if string(fd.Name()) == name || fd.JSONName() == name {
				return p
			}
			if fd.Message() != nil && !fd.IsMap() && !strings.HasPrefix(string(fd.Message().FullName()), "google.protobuf.") {
				queue = append(queue, node{fd.Message(), p})
			}
		}
	}
	return name
}
