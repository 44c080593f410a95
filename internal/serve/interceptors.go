package serve

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"strings"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/rpcstatus"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// interceptors are the chains, unary and stream, from the outside in:
// recovery, metrics, the guard (authentication, permission, caller rate;
// it logs its own refusals), logging, validation, error mapping and
// recovery again.
//
// The inner recovery turns a handler's panic into an error that the mapping
// makes INTERNAL and logs, and that the metrics and the access log count
// like any other failure; the outer one is the safety net for a panic in
// the interceptors themselves.
func interceptors(logger *slog.Logger, domain string, metrics *rpcMetrics, g *guarding, validator protovalidate.Validator) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	recoverer := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		logger.ErrorContext(ctx, "panic in gRPC interceptor",
			"grpc.method", method, "panic", p, "stack", string(debug.Stack()))
		return rpcstatus.FromError(errors.New("panic"), domain).Err()
	})
	handlerPanic := recovery.WithRecoveryHandlerContext(func(_ context.Context, p any) error {
		return &panicError{value: p, stack: debug.Stack()}
	})
	access := accessLog{log: logger}
	v := validating{validator: validator, domain: domain}
	m := mapping{domain: domain, log: logger}

	return []grpc.UnaryServerInterceptor{
			recovery.UnaryServerInterceptor(recoverer),
			metrics.unary,
			g.unary,
			access.unary,
			v.unary,
			m.unary,
			recovery.UnaryServerInterceptor(handlerPanic),
		}, []grpc.StreamServerInterceptor{
			recovery.StreamServerInterceptor(recoverer),
			metrics.stream,
			g.stream,
			access.stream,
			v.stream,
			m.stream,
			recovery.StreamServerInterceptor(handlerPanic),
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

// requestIDKey is the metadata key of the request id: read from the
// incoming call when the client sent one, else generated, and returned in
// the response header of a failed call so that a caller can quote it.
const requestIDKey = "x-request-id"

// maxRequestIDLen bounds a client's request id before it is logged.
const maxRequestIDLen = 128

// mapping is the one place where a handler's error becomes a status, with
// rpcstatus.FromError: a domain error (internal/domainerr) or a vendor
// failure (internal/vendorerr) keeps its meaning, anything else is
// INTERNAL. The cause of every INTERNAL and UNKNOWN is logged here, once,
// with the method and the request id, since the caller only reads
// "internal error".
type mapping struct {
	domain string
	log    *slog.Logger
}

func (m mapping) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err == nil {
		return resp, nil
	}
	id := requestID(ctx)
	// The header is not sent yet: a unary call sends it with the response
	// or the status, after the interceptors return.
	_ = grpc.SetHeader(ctx, metadata.Pairs(requestIDKey, id))
	return resp, m.convert(ctx, info.FullMethod, id, err)
}

func (m mapping) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	err := handler(srv, ss)
	if err == nil {
		return nil
	}
	id := requestID(ss.Context())
	if ss.SetHeader(metadata.Pairs(requestIDKey, id)) != nil {
		// The stream already sent its header.
		ss.SetTrailer(metadata.Pairs(requestIDKey, id))
	}
	return m.convert(ss.Context(), info.FullMethod, id, err)
}

func (m mapping) convert(ctx context.Context, method, id string, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) && !classified(err) {
		// The caller neither left nor ran out of time, and nobody
		// classified the failure: the deadline was one of ours, and vendor
		// calls classify their own (a timed-out mutation is an unknown
		// outcome, never this), so it is the store's timeout
		// (sqlstore.DB.SetTimeout).
		err = domainerr.StoreUnavailable(err)
	}
	st := rpcstatus.FromError(err, m.domain)
	if c := st.Code(); c == codes.Internal || c == codes.Unknown {
		attrs := []slog.Attr{
			slog.String("grpc.method", method),
			slog.String("request_id", id),
			slog.String("grpc.code", c.String()),
			slog.String("cause", causeText(err)),
		}
		var pe *panicError
		if errors.As(err, &pe) {
			attrs = append(attrs, slog.String("stack", string(pe.stack)))
		}
		m.log.LogAttrs(ctx, slog.LevelError, "call failed", attrs...)
	}
	return st.Err()
}

// classified reports whether err carries a domain or vendor classification
// of its own, which decides its status.
func classified(err error) bool {
	if _, ok := domainerr.As(err); ok {
		return true
	}
	_, ok := vendorerr.As(err)
	return ok
}

// requestID is the call's x-request-id metadata when the client sent a
// usable one, else a new random id.
func requestID(ctx context.Context) string {
	if vals := metadata.ValueFromIncomingContext(ctx, requestIDKey); len(vals) > 0 {
		id := vals[0]
		if id != "" && len(id) <= maxRequestIDLen && !strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return id
		}
	}
	return rand.Text()
}

// panicError is a handler's panic, turned into an error by the inner
// recovery interceptor so that the mapping interceptor logs it once, with
// the call's method and request id, like any other cause of an INTERNAL.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

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
