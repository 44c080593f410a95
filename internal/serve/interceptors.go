package serve

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"runtime/debug"
	"strings"

	"buf.build/go/protovalidate"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
)

// interceptors builds the server options that chain, from the outside in:
// recovery, metrics, logging, validation, error mapping and recovery again.
//
// The inner recovery turns a handler's panic into an INTERNAL status that the
// metrics and the access log count like any other failure; the outer one is
// the safety net for a panic in the interceptors themselves.
func interceptors(logger *slog.Logger, domain string, metrics *grpcprom.ServerMetrics, validator protovalidate.Validator) []grpc.ServerOption {
	recoverer := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		logger.ErrorContext(ctx, "panic in gRPC handler",
			"grpc.method", method, "panic", p, "stack", string(debug.Stack()))
		return rpcstatus.FromError(errors.New("panic"), domain).Err()
	})
	access := accessLog{log: logger}
	v := validating{validator: validator, domain: domain}
	m := mapping{domain: domain}

	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			recovery.UnaryServerInterceptor(recoverer),
			metrics.UnaryServerInterceptor(),
			access.unary,
			v.unary,
			m.unary,
			recovery.UnaryServerInterceptor(recoverer),
		),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(recoverer),
			metrics.StreamServerInterceptor(),
			access.stream,
			v.stream,
			m.stream,
			recovery.StreamServerInterceptor(recoverer),
		),
	}
}

// validating rejects requests that break their protovalidate rules before the
// handler runs, so an invalid request never reaches a vendor.
//
// go-grpc-middleware's protovalidate interceptor is not used because its
// status carries buf.validate.Violations instead of the google.rpc.BadRequest
// and ErrorInfo every other error of ours has.
type validating struct {
	validator protovalidate.Validator
	domain    string
}

func (v validating) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := v.validate(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (v validating) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &validatingStream{ServerStream: ss, v: v})
}

func (v validating) validate(req any) error {
	msg, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	if err := v.validator.Validate(msg); err != nil {
		return rpcstatus.FromValidation(err, v.domain).Err()
	}
	return nil
}

// validatingStream validates each message a client streams in.
type validatingStream struct {
	grpc.ServerStream
	v validating
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.v.validate(m)
}

// mapping converts a handler's error into a status with rpcstatus.FromError:
// a plain Go error is classified, a status the handler built keeps its code
// and message and gains an ErrorInfo if it has none.
type mapping struct {
	domain string
}

func (m mapping) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	return resp, m.convert(err)
}

func (m mapping) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return m.convert(handler(srv, ss))
}

func (m mapping) convert(err error) error {
	if err == nil {
		return nil
	}
	st := rpcstatus.FromError(err, m.domain)
	if _, ok := status.FromError(err); ok {
		// The handler chose the status; its message already says why.
		return st.Err()
	}
	return &mappedError{st: st, cause: err}
}

// mappedError is the status sent to the client together with the Go error it
// came from, so that the access log can name the cause the client must not
// see (an INTERNAL status only says "internal error").
type mappedError struct {
	st    *status.Status
	cause error
}

func (e *mappedError) Error() string              { return e.st.Err().Error() }
func (e *mappedError) GRPCStatus() *status.Status { return e.st }

// causeText is err's text without the query of a request URL it quotes:
// transport errors from a vendor client print the URL, and some vendors take
// their signature or key in the query.
func causeText(err error) string {
	text := err.Error()
	var ue *url.Error
	if !errors.As(err, &ue) {
		return text
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return strings.ReplaceAll(text, ue.URL, "[redacted url]")
	}
	if u.RawQuery == "" && u.Fragment == "" {
		return text
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	return strings.ReplaceAll(text, ue.URL, u.Redacted()+"?[redacted]")
}
