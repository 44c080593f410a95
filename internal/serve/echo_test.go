package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// echoMethod is the one method of the test service.
const echoMethod = "/test.v1.EchoService/Echo"

// echoService is a test service built at run time, so that the tests need no
// generated code:
//
//	message EchoRequest {
//	  string text = 1 [(buf.validate.field).string.min_len = 1];
//	  string mode = 2; // what the handler does, see echo
//	}
//	message EchoResponse { string text = 1; string request_mode = 2; }
//	service EchoService { rpc Echo(EchoRequest) returns (EchoResponse); }
type echoService struct {
	req, resp protoreflect.MessageDescriptor
	// calls counts the requests that reached the handler.
	calls atomic.Int32
	// started receives a value when a "slow" or "hang" call is in the handler.
	started chan struct{}
	// slowDone counts the "slow" calls whose handler returned their answer.
	slowDone atomic.Int32
	// slowFor is how long a "slow" call takes.
	slowFor time.Duration
}

func newEchoService(t testing.TB) *echoService {
	t.Helper()
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	textOpts := &descriptorpb.FieldOptions{}
	proto.SetExtension(textOpts, validate.E_Field, validate.FieldRules_builder{
		String: validate.StringRules_builder{MinLen: proto.Uint64(1)}.Build(),
	}.Build())
	file := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("test/v1/echo.proto"),
		Package:    proto.String("test.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"buf/validate/validate.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("EchoRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("text"), JsonName: proto.String("text"), Number: proto.Int32(1), Type: str, Label: opt, Options: textOpts},
				{Name: proto.String("mode"), JsonName: proto.String("mode"), Number: proto.Int32(2), Type: str, Label: opt},
			}},
			{Name: proto.String("EchoResponse"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("text"), JsonName: proto.String("text"), Number: proto.Int32(1), Type: str, Label: opt},
				{Name: proto.String("request_mode"), JsonName: proto.String("requestMode"), Number: proto.Int32(2), Type: str, Label: opt},
			}},
		},
	}
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatalf("build echo.proto: %v", err)
	}
	return &echoService{
		req:     fd.Messages().ByName("EchoRequest"),
		resp:    fd.Messages().ByName("EchoResponse"),
		started: make(chan struct{}, 1),
		slowFor: 500 * time.Millisecond,
	}
}

// request builds an EchoRequest.
func (s *echoService) request(text, mode string) *dynamicpb.Message {
	m := dynamicpb.NewMessage(s.req)
	m.Set(s.req.Fields().ByName("text"), protoreflect.ValueOfString(text))
	m.Set(s.req.Fields().ByName("mode"), protoreflect.ValueOfString(mode))
	return m
}

// register is an Options.RegisterGRPC.
func (s *echoService) register(srv grpc.ServiceRegistrar) {
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "test.v1.EchoService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Echo",
			Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := dynamicpb.NewMessage(s.req)
				if err := dec(in); err != nil {
					return nil, err
				}
				handler := func(ctx context.Context, req any) (any, error) {
					return s.echo(ctx, req.(*dynamicpb.Message))
				}
				if interceptor == nil {
					return handler(ctx, in)
				}
				return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: s, FullMethod: echoMethod}, handler)
			},
		}},
		Metadata: "test/v1/echo.proto",
	}, s)
}

// echo does what the request's mode says.
func (s *echoService) echo(ctx context.Context, req *dynamicpb.Message) (*dynamicpb.Message, error) {
	s.calls.Add(1)
	mode := req.Get(s.req.Fields().ByName("mode")).String()
	switch mode {
	case "", "ok":
	case "panic":
		panic("echo: told to panic")
	case "error":
		return nil, errors.New("query orders: connection refused")
	case "url-error":
		// A transport error quoting a URL whose query carries a secret.
		return nil, fmt.Errorf("get report: %w", &url.Error{Op: "Get",
			URL: "https://vendor.example/report?sign=secret-sign-xyz&id=7", Err: errors.New("connection reset by peer")})
	case "not-found":
		return nil, fmt.Errorf("get order: %w", domainerr.NotFound("ORDER_NOT_FOUND", `order "A1" is not known here`))
	case "store-down":
		// 503 with a RetryInfo of 2s.
		return nil, fmt.Errorf("read order: %w", domainerr.StoreUnavailable(errors.New("dial tcp: i/o timeout")))
	case "busy":
		// 429 with a RetryInfo of 300ms: Retry-After rounds it up to 1.
		e := domainerr.ResourceExhausted("SPEND_CAP_REACHED", "the caller is over its rate", nil)
		e.RetryAfter = 300 * time.Millisecond
		return nil, e
	case "exhausted":
		// 429 without a RetryInfo.
		return nil, domainerr.ResourceExhausted("SPEND_CAP_REACHED", "the caller's daily cap is spent", nil)
	case "slow":
		s.started <- struct{}{}
		select {
		case <-time.After(s.slowFor):
			defer s.slowDone.Add(1)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "hang":
		// A vendor call that never answers: only a forced stop ends it.
		s.started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	default:
		kinds := map[string]vendorerr.Kind{
			"invalid":     vendorerr.KindInvalidArgument,
			"exists":      vendorerr.KindAlreadyExists,
			"refused":     vendorerr.KindRefused,
			"auth":        vendorerr.KindAuth,
			"throttled":   vendorerr.KindThrottled,
			"unavailable": vendorerr.KindUnavailable,
		}
		kind, ok := kinds[mode]
		if !ok {
			return nil, status.Errorf(codes.Unimplemented, "unknown mode %q", mode)
		}
		return nil, fmt.Errorf("create order: %w", &vendorerr.Error{
			Kind: kind, Vendor: "dingdang", Endpoint: "/open/order/createOrder",
			HTTPStatus: 200, Code: "20704", Message: "参数无效",
		})
	}
	resp := dynamicpb.NewMessage(s.resp)
	resp.Set(s.resp.Fields().ByName("text"), req.Get(s.req.Fields().ByName("text")))
	resp.Set(s.resp.Fields().ByName("request_mode"), protoreflect.ValueOfString(mode))
	return resp, nil
}

// registerGateway is an Options.RegisterGateway serving POST /v1/echo, the way
// generated RegisterXHandlerClient functions do.
func (s *echoService) registerGateway(_ context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
	return mux.HandlePath(http.MethodPost, "/v1/echo", func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		inbound, outbound := runtime.MarshalerForRequest(mux, r)
		ctx, err := runtime.AnnotateContext(r.Context(), mux, r, echoMethod, runtime.WithHTTPPathPattern("/v1/echo"))
		if err != nil {
			runtime.HTTPError(r.Context(), mux, outbound, w, r, err)
			return
		}
		var md runtime.ServerMetadata
		req := dynamicpb.NewMessage(s.req)
		if err := inbound.NewDecoder(r.Body).Decode(req); err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, status.Error(codes.InvalidArgument, err.Error()))
			return
		}
		resp := dynamicpb.NewMessage(s.resp)
		err = conn.Invoke(ctx, echoMethod, req, resp, grpc.Header(&md.HeaderMD), grpc.Trailer(&md.TrailerMD))
		ctx = runtime.NewServerMetadataContext(ctx, md)
		if err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		runtime.ForwardResponseMessage(ctx, mux, outbound, w, r, resp)
	})
}
