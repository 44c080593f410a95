package serve

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestAnswerMatchesTheGateway: a direct call's answer (answer) has the
// headers and body the gateway's ForwardResponseMessage writes with the
// face's options: header metadata of one and several values, none, and a
// download (google.api.HttpBody), whose content type is its own.
func TestAnswerMatchesTheGateway(t *testing.T) {
	t.Parallel()
	f := &restFace{marshaler: jsonMarshaler()}
	f.mux = runtime.NewServeMux(f.muxOptions()...)
	for _, c := range []struct {
		name   string
		msg    proto.Message
		header metadata.MD
	}{
		{"no metadata", wrapperspb.String("订单"), nil},
		{"metadata", wrapperspb.String("x"), metadata.Pairs("x-request-id", "r-1", "vendorgate-replayed", "true", "multi", "a", "multi", "b")},
		{"download", &httpbody.HttpBody{ContentType: "application/pdf", Data: []byte("%PDF-1.4")}, metadata.Pairs("x-request-id", "r-2")},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/x/a", nil)
			want := httptest.NewRecorder()
			ctx := runtime.NewServerMetadataContext(r.Context(), runtime.ServerMetadata{HeaderMD: c.header})
			runtime.ForwardResponseMessage(ctx, f.mux, f.outbound, want, r, c.msg, f.mux.GetForwardResponseOptions()...)
			got := httptest.NewRecorder()
			f.answer(r.Context(), got, r, c.msg, c.header)
			if d := cmp.Diff(want.Header(), got.Header()); d != "" || got.Body.String() != want.Body.String() || got.Code != want.Code {
				t.Errorf("answer differs from the gateway's (-gateway +answer):\n%s\nbody %q, the gateway's %q", d, got.Body, want.Body)
			}
		})
	}
}
