package restfiles

import (
	"context"
	"errors"
	"io"
	"net/http"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/serve"
)

// Downloads: the gateway writes a newline after every streamed HttpBody
// chunk and wraps a stream's error in {"error": …}; these handlers stream
// DownloadContract and GetFile from the service's own gRPC endpoint
// instead, writing the raw bytes with the first chunk's content type, the
// service's Content-Disposition, and an error before the first byte in the
// REST face's one error shape. A failure after the first byte breaks the
// response (the length is not announced: a chunked body that ended
// cleanly would look whole to the client).

// Downloads builds the handlers of the download routes.
type Downloads struct {
	// Client is a client of the service's own gRPC endpoint.
	Client esignv1.EsignServiceClient
}

// Contract serves GET /v1/esign/contracts/{contract_id}/content.
func (d Downloads) Contract(http.Handler) http.Handler {
	return d.handler(func(ctx context.Context, id string) (grpc.ServerStreamingClient[httpbody.HttpBody], error) {
		return d.Client.DownloadContract(ctx, &esignv1.DownloadContractRequest{ContractId: id})
	})
}

// File serves GET /v1/esign/files/{uuid}.
func (d Downloads) File(http.Handler) http.Handler {
	return d.handler(func(ctx context.Context, uuid string) (grpc.ServerStreamingClient[httpbody.HttpBody], error) {
		return d.Client.GetFile(ctx, &esignv1.GetFileRequest{Uuid: uuid})
	})
}

// handler takes the id from the route pattern's {id} wildcard and streams
// the RPC's chunks.
func (d Downloads) handler(open func(context.Context, string) (grpc.ServerStreamingClient[httpbody.HttpBody], error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(serve.OutgoingContext(r))
		defer cancel()
		s, err := open(ctx, r.PathValue("id"))
		if err != nil {
			serve.WriteError(w, status.Convert(err))
			return
		}
		first, err := s.Recv()
		if errors.Is(err, io.EOF) {
			first, err = &httpbody.HttpBody{ContentType: "application/octet-stream"}, nil
		}
		if err != nil {
			serve.WriteError(w, status.Convert(err))
			return
		}
		if md, err := s.Header(); err == nil {
			if v := md.Get("content-disposition"); len(v) > 0 {
				w.Header().Set("Content-Disposition", v[0])
			}
		}
		w.Header().Set("Content-Type", first.GetContentType())
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(first.GetData()); err != nil {
			return
		}
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				// Only breaking the connection tells the client the body
				// is incomplete (as httputil.ReverseProxy does).
				panic(http.ErrAbortHandler)
			}
			if _, err := w.Write(m.GetData()); err != nil {
				return
			}
		}
	})
}
