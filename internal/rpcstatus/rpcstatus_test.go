package rpcstatus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

const domain = "delivery.vendorgate.dev"

func TestFromError(t *testing.T) {
	t.Parallel()

	refused := &vendorerr.Error{
		Kind:       vendorerr.KindRefused,
		Vendor:     "dingdang",
		Endpoint:   "/open/order/createOrder",
		HTTPStatus: 200,
		Code:       "20704",
		Message:    "参数无效",
	}
	withInfo, err := status.New(codes.NotFound, "no such order").WithDetails(&errdetails.ErrorInfo{Reason: "ORDER_NOT_FOUND", Domain: "other.dev"})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		err         error
		wantCode    codes.Code
		wantMessage string
		wantInfo    *errdetails.ErrorInfo
	}{
		{
			name:     "nil",
			err:      nil,
			wantCode: codes.OK,
		},
		{
			name:        "status with ErrorInfo passes through",
			err:         withInfo.Err(),
			wantCode:    codes.NotFound,
			wantMessage: "no such order",
			wantInfo:    &errdetails.ErrorInfo{Reason: "ORDER_NOT_FOUND", Domain: "other.dev"},
		},
		{
			name:        "status without ErrorInfo gains one",
			err:         status.Error(codes.PermissionDenied, "not yours"),
			wantCode:    codes.PermissionDenied,
			wantMessage: "not yours",
			wantInfo:    &errdetails.ErrorInfo{Reason: "PERMISSION_DENIED", Domain: domain},
		},
		{
			name:        "vendor refused",
			err:         fmt.Errorf("create order: %w", refused),
			wantCode:    codes.FailedPrecondition,
			wantMessage: "dingdang refused the request: 参数无效",
			wantInfo: &errdetails.ErrorInfo{Reason: "VENDOR_REFUSED", Domain: domain, Metadata: map[string]string{
				"vendor":         "dingdang",
				"endpoint":       "/open/order/createOrder",
				"vendor_code":    "20704",
				"vendor_message": "参数无效",
				"http_status":    "200",
			}},
		},
		{
			name:        "vendor invalid argument",
			err:         &vendorerr.Error{Kind: vendorerr.KindInvalidArgument, Vendor: "dingdang", Message: "lat out of range"},
			wantCode:    codes.InvalidArgument,
			wantMessage: "dingdang rejected a parameter: lat out of range",
			wantInfo: &errdetails.ErrorInfo{Reason: "VENDOR_INVALID_ARGUMENT", Domain: domain, Metadata: map[string]string{
				"vendor": "dingdang", "vendor_message": "lat out of range",
			}},
		},
		{
			name:        "vendor already exists",
			err:         &vendorerr.Error{Kind: vendorerr.KindAlreadyExists, Vendor: "dingdang", Code: "20001"},
			wantCode:    codes.AlreadyExists,
			wantMessage: "dingdang says it already exists",
			wantInfo: &errdetails.ErrorInfo{Reason: "VENDOR_ALREADY_EXISTS", Domain: domain, Metadata: map[string]string{
				"vendor": "dingdang", "vendor_code": "20001",
			}},
		},
		{
			name:        "vendor not found",
			err:         &vendorerr.Error{Kind: vendorerr.KindNotFound, Vendor: "dingdang"},
			wantCode:    codes.NotFound,
			wantMessage: "dingdang did not find it",
			wantInfo:    &errdetails.ErrorInfo{Reason: "VENDOR_NOT_FOUND", Domain: domain, Metadata: map[string]string{"vendor": "dingdang"}},
		},
		{
			name: "vendor auth hides the vendor message",
			err: &vendorerr.Error{
				Kind: vendorerr.KindAuth, Vendor: "dingdang", HTTPStatus: 401, Code: "401",
				Message: "bad signature for app_secret s3cr3t",
			},
			wantCode:    codes.Internal,
			wantMessage: "vendorgate is misconfigured: dingdang rejected its vendor credentials",
			wantInfo: &errdetails.ErrorInfo{Reason: "VENDOR_AUTH_REJECTED", Domain: domain, Metadata: map[string]string{
				"vendor": "dingdang", "vendor_code": "401", "http_status": "401",
			}},
		},
		{
			name: "vendor auth names the configuration to check",
			err: &vendorerr.Error{
				Kind: vendorerr.KindAuth, Vendor: "fadada", Code: "1003", Message: "msg_digest无效",
				Config: "FADADA_APP_ID, FADADA_APP_SECRET",
			},
			wantCode:    codes.Internal,
			wantMessage: "vendorgate is misconfigured: fadada rejected its vendor credentials (check FADADA_APP_ID, FADADA_APP_SECRET)",
			wantInfo: &errdetails.ErrorInfo{Reason: "VENDOR_AUTH_REJECTED", Domain: domain, Metadata: map[string]string{
				"vendor": "fadada", "vendor_code": "1003", "check_config": "FADADA_APP_ID, FADADA_APP_SECRET",
			}},
		},
		{
			name:        "vendor throttled",
			err:         &vendorerr.Error{Kind: vendorerr.KindThrottled, Vendor: "dingdang", HTTPStatus: 429},
			wantCode:    codes.ResourceExhausted,
			wantMessage: "dingdang is rate-limiting vendorgate",
			wantInfo: &errdetails.ErrorInfo{Reason: "VENDOR_THROTTLED", Domain: domain, Metadata: map[string]string{
				"vendor": "dingdang", "http_status": "429",
			}},
		},
		{
			name:        "vendor unavailable",
			err:         &vendorerr.Error{Kind: vendorerr.KindUnavailable, Vendor: "dingdang", HTTPStatus: 502, Err: errors.New("bad gateway")},
			wantCode:    codes.Unavailable,
			wantMessage: "dingdang is unavailable",
			wantInfo: &errdetails.ErrorInfo{Reason: "VENDOR_UNAVAILABLE", Domain: domain, Metadata: map[string]string{
				"vendor": "dingdang", "http_status": "502",
			}},
		},
		{
			name:        "vendor unavailable wins over the wrapped context error",
			err:         &vendorerr.Error{Kind: vendorerr.KindUnavailable, Vendor: "dingdang", Err: context.DeadlineExceeded},
			wantCode:    codes.Unavailable,
			wantMessage: "dingdang is unavailable",
			wantInfo:    &errdetails.ErrorInfo{Reason: "VENDOR_UNAVAILABLE", Domain: domain, Metadata: map[string]string{"vendor": "dingdang"}},
		},
		{
			name:        "vendor answer unreadable",
			err:         &vendorerr.Error{Kind: vendorerr.KindUnreadable, Vendor: "damaijia", Endpoint: "/package", Err: errors.New("create_time: not a number")},
			wantCode:    codes.Internal,
			wantMessage: "damaijia answered in a shape vendorgate cannot read",
			wantInfo: &errdetails.ErrorInfo{Reason: "VENDOR_RESPONSE_UNREADABLE", Domain: domain, Metadata: map[string]string{
				"vendor": "damaijia", "endpoint": "/package",
			}},
		},
		{
			name:        "a vendor client's finer reason",
			err:         &vendorerr.Error{Kind: vendorerr.KindRefused, Reason: "VENDOR_SIGNATURE_REJECTED", Vendor: "30post", Message: "签名错误"},
			wantCode:    codes.FailedPrecondition,
			wantMessage: "30post refused the request: 签名错误",
			wantInfo: &errdetails.ErrorInfo{Reason: "VENDOR_SIGNATURE_REJECTED", Domain: domain, Metadata: map[string]string{
				"vendor": "30post", "vendor_message": "签名错误",
			}},
		},
		{
			name:        "store down",
			err:         fmt.Errorf("read order: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}),
			wantCode:    codes.Unavailable,
			wantMessage: "the service's store is not answering; nothing was sent to the vendor; retry shortly",
			wantInfo:    &errdetails.ErrorInfo{Reason: "STORE_UNAVAILABLE", Domain: domain},
		},
		{
			name:        "vendor unknown without a vendor name",
			err:         &vendorerr.Error{Kind: vendorerr.KindUnknown, Message: "系统繁忙"},
			wantCode:    codes.Unknown,
			wantMessage: "the vendor failed: 系统繁忙",
			wantInfo:    &errdetails.ErrorInfo{Reason: "VENDOR_UNKNOWN", Domain: domain, Metadata: map[string]string{"vendor_message": "系统繁忙"}},
		},
		{
			name:        "deadline exceeded",
			err:         fmt.Errorf("wait: %w", context.DeadlineExceeded),
			wantCode:    codes.DeadlineExceeded,
			wantMessage: "the request ran out of time",
			wantInfo:    &errdetails.ErrorInfo{Reason: "DEADLINE_EXCEEDED", Domain: domain},
		},
		{
			name:        "canceled",
			err:         context.Canceled,
			wantCode:    codes.Canceled,
			wantMessage: "the request was canceled",
			wantInfo:    &errdetails.ErrorInfo{Reason: "CANCELLED", Domain: domain},
		},
		{
			name:        "anything else is internal and says nothing",
			err:         errors.New("dial postgres://admin:hunter2@db"),
			wantCode:    codes.Internal,
			wantMessage: "internal error",
			wantInfo:    &errdetails.ErrorInfo{Reason: "INTERNAL", Domain: domain},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := FromError(tt.err, domain)
			if got := st.Code(); got != tt.wantCode {
				t.Errorf("code: got %v, want %v", got, tt.wantCode)
			}
			if got := st.Message(); got != tt.wantMessage {
				t.Errorf("message: got %q, want %q", got, tt.wantMessage)
			}
			if diff := cmp.Diff(tt.wantInfo, errorInfo(t, st), protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromErrorPassesStatusThroughUnchanged(t *testing.T) {
	t.Parallel()
	want, err := status.New(codes.NotFound, "no such order").WithDetails(
		&errdetails.ErrorInfo{Reason: "ORDER_NOT_FOUND", Domain: "other.dev"},
		&errdetails.ResourceInfo{ResourceType: "order", ResourceName: "42"},
	)
	if err != nil {
		t.Fatal(err)
	}
	got := FromError(want.Err(), domain)
	if diff := cmp.Diff(want.Proto(), got.Proto(), protocmp.Transform()); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestInvalidArgument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		violations  []*errdetails.BadRequest_FieldViolation
		wantMessage string
		wantInfo    *errdetails.ErrorInfo
	}{
		{
			name: "one field",
			violations: []*errdetails.BadRequest_FieldViolation{
				{Field: "origin_id", Description: "value length must be at least 1 characters"},
			},
			wantMessage: "invalid request: origin_id: value length must be at least 1 characters",
			wantInfo: &errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: domain, Metadata: map[string]string{
				"fields": "origin_id",
			}},
		},
		{
			name: "several fields, one twice, one message-level rule",
			violations: []*errdetails.BadRequest_FieldViolation{
				{Field: "origin_id", Description: "must not be empty"},
				{Field: "receiver_location.latitude", Description: "must be at most 90"},
				{Field: "origin_id", Description: "must be a uuid"},
				{Description: "pickup must precede drop-off"},
			},
			wantMessage: "invalid request: origin_id: must not be empty; receiver_location.latitude: must be at most 90; " +
				"origin_id: must be a uuid; pickup must precede drop-off",
			wantInfo: &errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: domain, Metadata: map[string]string{
				"fields": "origin_id,receiver_location.latitude",
			}},
		},
		{
			name:        "no violations",
			wantMessage: "invalid request",
			wantInfo:    &errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: domain},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := InvalidArgument(domain, tt.violations)
			if got := st.Code(); got != codes.InvalidArgument {
				t.Errorf("code: got %v, want %v", got, codes.InvalidArgument)
			}
			if got := st.Message(); got != tt.wantMessage {
				t.Errorf("message: got %q, want %q", got, tt.wantMessage)
			}
			if diff := cmp.Diff(tt.wantInfo, errorInfo(t, st), protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo (-want +got):\n%s", diff)
			}
			wantBR := &errdetails.BadRequest{FieldViolations: tt.violations}
			if diff := cmp.Diff(wantBR, badRequest(t, st), protocmp.Transform()); diff != "" {
				t.Errorf("BadRequest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromValidation(t *testing.T) {
	t.Parallel()
	validationErr := &protovalidate.ValidationError{Violations: []*protovalidate.Violation{
		{Proto: violation("string.min_len", "value length must be at least 1 characters", "origin_id")},
		{Proto: violation("double.lte", "must be less than or equal to 90", "receiver_location", "latitude")},
		{Proto: violation("order.window", "", "")},
	}}

	tests := []struct {
		name           string
		err            error
		wantCode       codes.Code
		wantViolations []*errdetails.BadRequest_FieldViolation
		wantInfo       *errdetails.ErrorInfo
	}{
		{
			name:     "nil",
			wantCode: codes.OK,
		},
		{
			name:     "validation error",
			err:      fmt.Errorf("validate: %w", validationErr),
			wantCode: codes.InvalidArgument,
			wantViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: "origin_id", Description: "value length must be at least 1 characters", Reason: "STRING_MIN_LEN"},
				{Field: "receiver_location.latitude", Description: "must be less than or equal to 90", Reason: "DOUBLE_LTE"},
				{Field: "order", Description: "breaks the rule order.window", Reason: "ORDER_WINDOW"},
			},
			wantInfo: &errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: domain, Metadata: map[string]string{
				"fields": "origin_id,receiver_location.latitude,order",
			}},
		},
		{
			name:     "compilation error is ours",
			err:      &protovalidate.CompilationError{},
			wantCode: codes.Internal,
			wantInfo: &errdetails.ErrorInfo{Reason: "INTERNAL", Domain: domain},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := FromValidation(tt.err, domain)
			if got := st.Code(); got != tt.wantCode {
				t.Errorf("code: got %v, want %v", got, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantInfo, errorInfo(t, st), protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantViolations, badRequest(t, st).GetFieldViolations(), protocmp.Transform()); diff != "" {
				t.Errorf("field violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRuleReason(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"string.min_len":  "STRING_MIN_LEN",
		"required":        "REQUIRED",
		"repeated.items2": "REPEATED_ITEMS2",
		"":                "",
	} {
		if got := ruleReason(in); got != want {
			t.Errorf("ruleReason(%q): got %q, want %q", in, got, want)
		}
	}
}

// violation builds a protovalidate violation on the field at path; an empty
// path element list means a message-level rule.
func violation(ruleID, msg string, path ...string) *validate.Violation {
	var elems []*validate.FieldPathElement
	for _, name := range path {
		if name != "" {
			elems = append(elems, validate.FieldPathElement_builder{FieldName: proto.String(name)}.Build())
		}
	}
	b := validate.Violation_builder{RuleId: proto.String(ruleID), Message: proto.String(msg)}
	if len(elems) > 0 {
		b.Field = validate.FieldPath_builder{Elements: elems}.Build()
	}
	return b.Build()
}

// errorInfo returns st's one ErrorInfo, or nil for an OK status.
func errorInfo(t *testing.T, st *status.Status) *errdetails.ErrorInfo {
	t.Helper()
	var infos []*errdetails.ErrorInfo
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			infos = append(infos, ei)
		}
	}
	switch {
	case st.Code() == codes.OK && len(infos) == 0:
		return nil
	case len(infos) != 1:
		t.Fatalf("status %v: got %d ErrorInfo details, want 1", st.Code(), len(infos))
	}
	if strings.TrimSpace(infos[0].GetReason()) == "" {
		t.Errorf("ErrorInfo has no reason")
	}
	return infos[0]
}

// badRequest returns st's BadRequest detail, or nil.
func badRequest(t *testing.T, st *status.Status) *errdetails.BadRequest {
	t.Helper()
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			return br
		}
	}
	return nil
}

func TestFromDomainError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		err         error
		wantCode    codes.Code
		wantDetails []proto.Message
	}{
		{
			name:     "not found",
			err:      fmt.Errorf("get report: %w", domainerr.NotFound("ORDER_NOT_FOUND", "no such order")),
			wantCode: codes.NotFound,
			wantDetails: []proto.Message{
				&errdetails.ErrorInfo{Reason: "ORDER_NOT_FOUND", Domain: domain},
			},
		},
		{
			name:     "aborted with retry-after",
			err:      domainerr.Aborted("PURCHASE_IN_PROGRESS", "in progress", 3*time.Second),
			wantCode: codes.Aborted,
			wantDetails: []proto.Message{
				&errdetails.ErrorInfo{Reason: "PURCHASE_IN_PROGRESS", Domain: domain},
				&errdetails.RetryInfo{RetryDelay: durationpb.New(3 * time.Second)},
			},
		},
		{
			name:     "resource exhausted with metadata",
			err:      domainerr.ResourceExhausted("REQUEST_TOO_LARGE", "too large", map[string]string{"limit_bytes": "10"}),
			wantCode: codes.ResourceExhausted,
			wantDetails: []proto.Message{
				&errdetails.ErrorInfo{Reason: "REQUEST_TOO_LARGE", Domain: domain, Metadata: map[string]string{"limit_bytes": "10"}},
			},
		},
		{
			name:     "failed precondition without reason",
			err:      &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Message: "not now", Metadata: map[string]string{"vin": "V"}},
			wantCode: codes.FailedPrecondition,
			wantDetails: []proto.Message{
				&errdetails.ErrorInfo{Reason: "FAILED_PRECONDITION", Domain: domain, Metadata: map[string]string{"vin": "V"}},
			},
		},
		{
			name:     "invalid argument names its field",
			err:      domainerr.InvalidArgument("vin", "VIN_MALFORMED", "must have 17 characters"),
			wantCode: codes.InvalidArgument,
			wantDetails: []proto.Message{
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
					Field: "vin", Description: "must have 17 characters", Reason: "VIN_MALFORMED",
				}}},
				&errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: domain, Metadata: map[string]string{"fields": "vin"}},
			},
		},
		{
			name:     "outcome unknown",
			err:      fmt.Errorf("recharge: %w", domainerr.Unknown("OUTCOME_UNKNOWN", "may have been applied")),
			wantCode: codes.Unknown,
			wantDetails: []proto.Message{
				&errdetails.ErrorInfo{Reason: "OUTCOME_UNKNOWN", Domain: domain},
			},
		},
		{
			name:     "unknown kind is ours",
			err:      &domainerr.Error{Kind: domainerr.Kind(99), Message: "?"},
			wantCode: codes.Internal,
			wantDetails: []proto.Message{
				&errdetails.ErrorInfo{Reason: "INTERNAL", Domain: domain},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := FromError(tt.err, domain)
			if st.Code() != tt.wantCode {
				t.Errorf("got code %v, want %v", st.Code(), tt.wantCode)
			}
			var got []proto.Message
			for _, d := range st.Details() {
				got = append(got, d.(proto.Message))
			}
			if diff := cmp.Diff(tt.wantDetails, got, protocmp.Transform()); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
		})
	}
}
