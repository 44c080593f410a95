package serve

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/dynamicpb"
)

// callWithID invokes Echo over gRPC with x-request-id set to id (none when
// empty), and returns the response header's x-request-id.
func (s *server) callWithID(ctx context.Context, mode, id string) (string, error) {
	if id != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, requestIDKey, id)
	}
	var header metadata.MD
	err := s.conn.Invoke(ctx, echoMethod, s.echo.request("hi", mode), dynamicpb.NewMessage(s.echo.resp), grpc.Header(&header))
	return strings.Join(header.Get(requestIDKey), ","), err
}

func TestCauseLoggedOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mode      string
		requestID string // sent by the client; "" lets the server make one
		wantCause string
		wantStack bool
	}{
		{"plain error with the client's request id", "error", "req-42", "query orders: connection refused", false},
		{"plain error, generated request id", "error", "", "query orders: connection refused", false},
		{"secret in a URL query is not logged", "url-error", "req-43",
			`get report: Get "https://vendor.example/report?[redacted]": connection reset by peer`, false},
		{"panic", "panic", "req-44", "panic: echo: told to panic", true},
		{"request id too long to log is replaced", "error", strings.Repeat("x", maxRequestIDLen+1), "query orders: connection refused", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, nil)
			gotID, err := s.callWithID(t.Context(), tt.mode, tt.requestID)
			if got := status.Code(err); got != codes.Internal {
				t.Fatalf("got code %v, want %v", got, codes.Internal)
			}
			if status.Convert(err).Message() != "internal error" {
				t.Errorf("got message %q, want %q", status.Convert(err).Message(), "internal error")
			}
			wantID := tt.requestID
			if len(wantID) > maxRequestIDLen || wantID == "" {
				if len(gotID) < 16 || gotID == tt.requestID {
					t.Errorf("got response x-request-id %q, want a generated one", gotID)
				}
				wantID = gotID
			}
			if gotID != wantID {
				t.Errorf("got response x-request-id %q, want %q", gotID, wantID)
			}

			lines := s.logs.lines(t, "call failed")
			if len(lines) != 1 {
				t.Fatalf("got %d cause lines, want 1:\n%s", len(lines), s.logs)
			}
			l := lines[0]
			want := map[string]any{"grpc.method": echoMethod, "request_id": wantID, "grpc.code": "Internal", "cause": tt.wantCause}
			for k, v := range want {
				if l[k] != v {
					t.Errorf("log %s: got %v, want %v", k, l[k], v)
				}
			}
			if stack, _ := l["stack"].(string); tt.wantStack != strings.Contains(stack, "echoService") {
				t.Errorf("got stack %q, want one naming the handler: %v", stack, tt.wantStack)
			}
			logs := s.logs.String()
			if n := strings.Count(logs, `"cause":`); n != 1 {
				t.Errorf("got %d causes in the log, want one:\n%s", n, logs)
			}
			if strings.Contains(logs, "secret-sign-xyz") {
				t.Errorf("the log contains the URL's secret:\n%s", logs)
			}
		})
	}
}

func TestDomainErrorMapped(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	gotID, err := s.callWithID(t.Context(), "not-found", "req-7")
	st := status.Convert(err)
	if st.Code() != codes.NotFound || st.Message() != `order "A1" is not known here` {
		t.Errorf("got %v %q, want %v %q", st.Code(), st.Message(), codes.NotFound, `order "A1" is not known here`)
	}
	info, _ := details(st)
	want := &errdetails.ErrorInfo{Reason: "ORDER_NOT_FOUND", Domain: testDomain}
	if diff := cmp.Diff(want, info, protocmp.Transform()); diff != "" {
		t.Errorf("ErrorInfo (-want +got):\n%s", diff)
	}
	if gotID != "req-7" {
		t.Errorf("got response x-request-id %q, want req-7", gotID)
	}
	if lines := s.logs.lines(t, "call failed"); len(lines) != 0 {
		t.Errorf("got cause lines %v for a NOT_FOUND, want none", lines)
	}
}
