// Package restfiles serves the REST face's file routes that grpc-gateway
// cannot serve as they should be. Uploads: the multipart/form-data uploads
// (POST /v1/esign/contracts and /v1/esign/templates), which grpc-gateway
// cannot map to a client stream. It streams the `file` part, in chunks,
// into a gRPC client stream to the service's own endpoint, so the
// interceptors (validation, error mapping, logging, metrics) run exactly
// once and memory stays bounded. Any other content type (JSON with the
// file in base64) is passed on to the gateway. Uploads and downloads alike
// carry the REST request's Authorization header to that endpoint, whose
// guard (internal/auth) admits or refuses the caller as for every RPC.
package restfiles

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/rpcstatus"
	"github.com/vendorgate/vendorgate/internal/serve"
)

// ChunkBytes is the size of the chunks streamed to the service.
const ChunkBytes = 64 << 10

// maxFieldBytes bounds a form field other than file.
const maxFieldBytes = 64 << 10

// Uploads builds the multipart handlers of the upload routes.
type Uploads struct {
	// Client is a client of the service's own gRPC endpoint.
	Client esignv1.EsignServiceClient
	// MaxUploadBytes is ESIGN_MAX_UPLOAD_BYTES; the body may exceed it by
	// the form fields' size, and the service refuses a larger file.
	MaxUploadBytes int64
	// Domain is the ErrorInfo domain of the handler's own errors.
	Domain string
}

// stream is one upload RPC's client stream, seen through the form.
type stream interface {
	send(fields url.Values, chunk []byte) error
	close() (proto.Message, error)
}

type contractStream struct {
	grpc.ClientStreamingClient[esignv1.UploadContractRequest, esignv1.UploadContractResponse]
	sent bool
}

func (s *contractStream) send(f url.Values, chunk []byte) error {
	m := &esignv1.UploadContractRequest{File: chunk}
	if !s.sent {
		m.ContractId, m.DocTitle, m.DocUrl, s.sent = f.Get("contract_id"), f.Get("doc_title"), f.Get("doc_url"), true
		m.RequestId = f.Get("request_id")
	}
	return s.Send(m)
}

func (s *contractStream) close() (proto.Message, error) { return s.CloseAndRecv() }

type templateStream struct {
	grpc.ClientStreamingClient[esignv1.UploadTemplateRequest, esignv1.UploadTemplateResponse]
	sent bool
}

func (s *templateStream) send(f url.Values, chunk []byte) error {
	m := &esignv1.UploadTemplateRequest{File: chunk}
	if !s.sent {
		m.TemplateId, m.DocUrl, s.sent = f.Get("template_id"), f.Get("doc_url"), true
		m.RequestId = f.Get("request_id")
	}
	return s.Send(m)
}

func (s *templateStream) close() (proto.Message, error) { return s.CloseAndRecv() }

// Contracts wraps the gateway's POST /v1/esign/contracts.
func (u Uploads) Contracts(next http.Handler) http.Handler {
	return u.handler(next, func(ctx context.Context) (stream, error) {
		s, err := u.Client.UploadContract(ctx)
		return &contractStream{ClientStreamingClient: s}, err
	})
}

// Templates wraps the gateway's POST /v1/esign/templates.
func (u Uploads) Templates(next http.Handler) http.Handler {
	return u.handler(next, func(ctx context.Context) (stream, error) {
		s, err := u.Client.UploadTemplate(ctx)
		return &templateStream{ClientStreamingClient: s}, err
	})
}

func (u Uploads) handler(next http.Handler, open func(context.Context) (stream, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, u.MaxUploadBytes+1<<20)
		// A body that breaks off half-way must cancel the stream, so the
		// service never takes a truncated file for a whole one.
		ctx, cancel := context.WithCancel(serve.OutgoingContext(r))
		defer cancel()
		r = r.WithContext(ctx)
		resp, err := u.stream(r, open)
		if err != nil {
			serve.WriteError(w, u.status(err))
			return
		}
		body, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp)
		if err != nil {
			serve.WriteError(w, status.New(codes.Internal, "internal error"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

// badForm is a multipart body that cannot be read.
type badForm struct{ err error }

func (b badForm) Error() string { return b.err.Error() }

func (u Uploads) status(err error) *status.Status {
	var tooLarge *http.MaxBytesError
	var bad badForm
	switch {
	case errors.As(err, &tooLarge):
		return rpcstatus.RequestTooLarge(u.Domain, u.MaxUploadBytes)
	case errors.As(err, &bad):
		return rpcstatus.Refused(codes.InvalidArgument, u.Domain, rpcstatus.ReasonMalformedBody, "malformed multipart body: "+bad.Error(), nil)
	}
	return status.Convert(err)
}

// stream reads the form's fields, then streams its file part (the fields
// must come first, as curl -F and browsers send them in order).
func (u Uploads) stream(r *http.Request, open func(context.Context) (stream, error)) (proto.Message, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badForm{err}
	}
	fields := url.Values{}
	var s stream
	for s == nil {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, badFormOr(err)
		}
		if part.FormName() != "file" {
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes))
			if err != nil {
				return nil, badFormOr(err)
			}
			fields.Add(part.FormName(), string(v))
			continue
		}
		if s, err = open(r.Context()); err != nil {
			return nil, err
		}
		if err := copyFile(s, fields, part); err != nil && !errors.Is(err, io.EOF) {
			// io.EOF from Send: the service has answered already; its
			// status comes from close.
			return nil, err
		}
	}
	if s == nil {
		// No file part: a doc_url upload, or a refusal from the service.
		if s, err = open(r.Context()); err != nil {
			return nil, err
		}
		if err := s.send(fields, nil); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	return s.close()
}

// copyFile streams part to s in chunks, the first with the fields.
func copyFile(s stream, fields url.Values, part io.Reader) error {
	buf := make([]byte, ChunkBytes)
	sent := false
	for {
		n, err := io.ReadFull(part, buf)
		if n > 0 || !sent {
			if serr := s.send(fields, buf[:n]); serr != nil {
				return serr
			}
			sent = true
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return badFormOr(err)
		}
	}
}

// badFormOr keeps a too-large body as is and makes any other read
// failure a malformed form.
func badFormOr(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	return badForm{err}
}
