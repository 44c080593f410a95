package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/fullstorydev/grpchan/inprocgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vendorgate/vendorgate/internal/auth"
)

// Local is a service's in-process gRPC channel: the REST gateway and the
// WrapREST handlers call the service through it, in the same process,
// through the same interceptor chain as a gRPC caller (guard, metrics,
// access log, validation, error mapping), with no socket and no second
// encoding of the messages (grpchan's inprocgrpc copies them). Run
// registers the service on it and sets its interceptors; a call made
// before Run has is refused UNAVAILABLE.
//
// It is a grpc.ClientConnInterface: a generated client wraps it, e.g.
// esignv1.NewEsignServiceClient(local).
//
// A unary call runs in the caller's goroutine (a REST request's, whose
// stack has grown to what a call needs) unless traces are on, when it goes
// through inprocgrpc so that its stats handler gives it its server span:
// inprocgrpc runs each call in a new goroutine, whose stack grew and was
// copied on every call (12 % of a REST GetOrder's CPU).
type Local struct {
	ch inprocgrpc.Channel
	// used is set by the Run that sets the channel up, ready once it has.
	used, ready atomic.Bool
	// unary are the unary methods by full name ("/pkg.Service/Method"),
	// chain their interceptors; nil when calls go through ch.
	unary map[string]localMethod
	chain grpc.UnaryServerInterceptor
}

// localMethod is a unary method and the implementation that serves it.
type localMethod struct {
	impl    any
	handler grpc.MethodHandler
}

// NewLocal returns a channel for Options.Local.
func NewLocal() *Local { return &Local{} }

var errLocalNotReady = status.Error(codes.Unavailable, "the service is not serving yet")

// Invoke implements grpc.ClientConnInterface.
func (l *Local) Invoke(ctx context.Context, method string, req, resp any, opts ...grpc.CallOption) error {
	if !l.ready.Load() {
		return errLocalNotReady
	}
	if m, ok := l.unary[method]; ok {
		return l.invoke(ctx, m, method, req, resp, opts)
	}
	return l.ch.Invoke(ctx, method, req, resp, opts...)
}

// invoke runs a unary call in the caller's goroutine, as inprocgrpc would
// in its own: the request copied in, the caller's outgoing metadata as the
// call's incoming, the headers and trailers the service sets handed to the
// caller's grpc.Header and grpc.Trailer options, the answer moved out.
func (l *Local) invoke(ctx context.Context, m localMethod, method string, req, resp any, opts []grpc.CallOption) error {
	md, _ := metadata.FromOutgoingContext(ctx)
	sctx := metadata.NewOutgoingContext(metadata.NewIncomingContext(ctx, md), nil)
	dec := func(in any) error { return protoCloner{}.Copy(in, req) }
	out, header, trailer, err := l.call(sctx, m, method, dec)
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = header
		case grpc.TrailerCallOption:
			*o.TrailerAddr = trailer
		}
	}
	if err != nil {
		return err
	}
	// The answer is the caller's now, as a gRPC answer is marshaled once
	// the handler returns: its fields are moved, not deep-copied (3 µs of a
	// REST GetOrder). The request is copied in: a handler may keep the one
	// it was given, and the caller's may be used again.
	if m, ok := out.(proto.Message); ok {
		return moveMessage(resp, m)
	}
	return protoCloner{}.Copy(resp, out)
}

// call runs the unary method m in the caller's goroutine through l's
// chain, with ctx (its metadata the call's incoming) as the call's context
// and dec filling its request, and returns the answer and the headers and
// trailers the service set.
func (l *Local) call(ctx context.Context, m localMethod, method string, dec func(any) error) (out any, header, trailer metadata.MD, err error) {
	sts := &localTransport{method: method}
	out, err = m.handler(m.impl, grpc.NewContextWithServerTransportStream(ctx, sts), dec, l.chain)
	sts.mu.Lock()
	defer sts.mu.Unlock()
	return out, sts.header, sts.trailer, err
}

// localTransport is a direct unary call's grpc.ServerTransportStream: it
// keeps what the service sets of its headers and trailers.
type localTransport struct {
	method          string
	mu              sync.Mutex
	header, trailer metadata.MD
}

func (t *localTransport) Method() string { return t.method }

func (t *localTransport) SetHeader(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.header = metadata.Join(t.header, md)
	return nil
}

func (t *localTransport) SendHeader(md metadata.MD) error { return t.SetHeader(md) }

func (t *localTransport) SetTrailer(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trailer = metadata.Join(t.trailer, md)
	return nil
}

// NewStream implements grpc.ClientConnInterface.
func (l *Local) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if !l.ready.Load() {
		return nil, errLocalNotReady
	}
	cs, err := l.ch.NewStream(ctx, desc, method, opts...)
	if err != nil || !desc.ServerStreams || desc.ClientStreams {
		return cs, err
	}
	return &requestStream{ClientStream: cs}, nil
}

// requestStream is the client side of a server-streaming call (one
// request, a stream of answers). A generated client returns the error of
// sending the request as the call's; inprocgrpc's is io.EOF when the
// service has already ended the call (the guard refused it before the
// handler read the request), and the call's status is what RecvMsg then
// reads. requestStream gives that status instead, so that a refused REST
// watch is its 401, not an unexplained INTERNAL.
type requestStream struct {
	grpc.ClientStream
}

func (s *requestStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if !errors.Is(err, io.EOF) {
		return err
	}
	// The service answered nothing before it ended: what is left is its
	// status (a message cannot come before the request was read).
	if rerr := s.ClientStream.RecvMsg(&emptypb.Empty{}); rerr != nil {
		if _, ok := status.FromError(rerr); ok && status.Code(rerr) != codes.OK {
			return rerr
		}
	}
	return err
}

// setUp registers the service through register and chains the
// interceptors: first the one that makes a REST request's caller the
// call's peer, then the gRPC server's own. It may run once.
func (l *Local) setUp(register func(grpc.ServiceRegistrar), unary []grpc.UnaryServerInterceptor, streams []grpc.StreamServerInterceptor, sh stats.Handler) error {
	if !l.used.CompareAndSwap(false, true) {
		return errors.New("serve: Options.Local is already in use by another Run")
	}
	l.chain = chainUnary(append([]grpc.UnaryServerInterceptor{restCaller}, unary...))
	if sh == nil {
		l.unary = map[string]localMethod{}
	}
	register(localRegistrar{l})
	l.ch.WithCloner(protoCloner{})
	l.ch.WithServerUnaryInterceptor(l.chain)
	l.ch.WithServerStreamInterceptor(chainStream(append([]grpc.StreamServerInterceptor{restCallerStream}, streams...)))
	if sh != nil {
		l.ch.WithServerStatsHandler(sh)
	}
	l.ready.Store(true)
	return nil
}

// localRegistrar registers a service on the channel, and its unary
// methods for direct calls when there are.
type localRegistrar struct{ l *Local }

func (r localRegistrar) RegisterService(sd *grpc.ServiceDesc, impl any) {
	r.l.ch.RegisterService(sd, impl)
	if r.l.unary == nil {
		return
	}
	for _, m := range sd.Methods {
		r.l.unary["/"+sd.ServiceName+"/"+m.MethodName] = localMethod{impl: impl, handler: m.Handler}
	}
}

// protoCloner copies messages between the REST side and the service with
// google.golang.org/protobuf, where inprocgrpc's default goes through the
// older APIv1 reflection.
type protoCloner struct{}

func (protoCloner) Copy(out, in any) error {
	if c, ok := in.(cloned); ok {
		return moveMessage(out, c.m)
	}
	o, ok1 := out.(proto.Message)
	i, ok2 := in.(proto.Message)
	if !ok1 || !ok2 {
		return fmt.Errorf("serve: in-process copy of %T into %T: not protobuf messages", in, out)
	}
	if o.ProtoReflect().Descriptor() != i.ProtoReflect().Descriptor() {
		return fmt.Errorf("serve: in-process copy of %T into %T: different messages", in, out)
	}
	proto.Reset(o)
	proto.Merge(o, i)
	return nil
}

// Clone copies a message a stream sends: the sender may reuse its own once
// SendMsg returns.
func (protoCloner) Clone(in any) (any, error) {
	m, ok := in.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("serve: in-process clone of %T: not a protobuf message", in)
	}
	return cloned{m: proto.Clone(m)}, nil
}

// cloned is a stream's message as inprocgrpc holds it between the two
// sides: a copy nobody else has, which the receiving side takes over
// instead of copying it a second time (a download's chunks were copied on
// send and again on receive: 61 % of the bytes a REST contract round trip
// allocated).
type cloned struct{ m proto.Message }

// moveMessage makes out the message in, which nobody uses after, by
// moving its fields; a deep copy when they are not of one type.
func moveMessage(out any, in proto.Message) error {
	ov, iv := reflect.ValueOf(out), reflect.ValueOf(in)
	if ov.Type() != iv.Type() || ov.Kind() != reflect.Pointer || ov.IsNil() || iv.IsNil() {
		return protoCloner{}.Copy(out, in)
	}
	ov.Elem().Set(iv.Elem())
	return nil
}

// restCaller is the first interceptor of an in-process call: the REST
// request it serves becomes the call's peer (its caller's address), its
// origin (HTTP method and path, for the access log) and, under
// AUTH_MODE=mtls, its verified certificate's caller. inprocgrpc gives the
// server side none of the client context's values; ClientContext reaches
// them. The REST face learns that the call reached the service, so that
// the access log's line is the only one.
func restCaller(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(fromREST(ctx), req)
}

func restCallerStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &contextStream{ServerStream: ss, ctx: fromREST(ss.Context())})
}

func fromREST(ctx context.Context) context.Context {
	// A direct call's context is the client's own.
	cc := inprocgrpc.ClientContext(ctx)
	if cc == nil {
		cc = ctx
	}
	call := callFrom(cc)
	if call == nil {
		return ctx
	}
	call.reachedRP.Store(true)
	if call.client != "" {
		ctx = peer.NewContext(ctx, &call.peer)
	}
	if call.cert != "" {
		ctx = auth.WithRESTCertificate(ctx, call.cert)
	}
	return context.WithValue(ctx, restOriginKey{}, call)
}

// OutgoingContext is, for a WrapREST handler that serves request r through
// the service's Local channel, r's context carrying the request's
// Authorization header as metadata, so that the guard admits or refuses the
// REST caller. Outside a WrapREST handler it is r's context.
func OutgoingContext(r *http.Request) context.Context {
	if callFrom(r.Context()) == nil {
		return r.Context()
	}
	md := metadata.MD{}
	if v := r.Header.Get("Authorization"); v != "" {
		md.Set("authorization", v)
	}
	return metadata.NewOutgoingContext(r.Context(), md)
}

// chainUnary makes one interceptor of several, the first outermost, as
// grpc.ChainUnaryInterceptor does for a server.
func chainUnary(ics []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return ics[0](ctx, req, info, unaryNext(ics, 0, info, handler))
	}
}

func unaryNext(ics []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, last grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(ics)-1 {
		return last
	}
	return func(ctx context.Context, req any) (any, error) {
		return ics[i+1](ctx, req, info, unaryNext(ics, i+1, info, last))
	}
}

// chainStream is chainUnary for streams.
func chainStream(ics []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return ics[0](srv, ss, info, streamNext(ics, 0, info, handler))
	}
}

func streamNext(ics []grpc.StreamServerInterceptor, i int, info *grpc.StreamServerInfo, last grpc.StreamHandler) grpc.StreamHandler {
	if i == len(ics)-1 {
		return last
	}
	return func(srv any, ss grpc.ServerStream) error {
		return ics[i+1](srv, ss, info, streamNext(ics, i+1, info, last))
	}
}
