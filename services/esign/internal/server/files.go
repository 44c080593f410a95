package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path"
	"strconv"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/rpcstatus"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
)

// HeaderContentDisposition is the gRPC response header that carries a
// download's file name; the REST face sends it as Content-Disposition.
const HeaderContentDisposition = "content-disposition"

// Uploads are spooled to a temporary file before anything is sent to the
// vendor: the size limit and the file type are then known to hold when
// the vendor call starts (no upload is aborted half-way at the vendor), a
// re-send can read the file again, and memory stays bounded whatever the
// file's size.

// spool writes first and the chunks next returns (until io.EOF) into a
// temporary file, refusing more than max bytes, and returns the file's
// SHA-256 (computed on the way, for the request_id fingerprint). The
// caller closes and removes the file (discard).
func (s *Server) spool(first []byte, next func() ([]byte, error)) (*os.File, int64, []byte, error) {
	f, err := os.CreateTemp(s.opts.SpoolDir, "esign-upload-")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("spool the upload: %w", err)
	}
	h := sha256.New()
	var size int64
	chunk := first
	for {
		size += int64(len(chunk))
		if size > s.opts.MaxUploadBytes {
			discard(f)
			return nil, 0, nil, domainerr.ResourceExhausted(rpcstatus.ReasonRequestTooLarge,
				fmt.Sprintf("the file is larger than the limit of %d bytes (ESIGN_MAX_UPLOAD_BYTES)", s.opts.MaxUploadBytes),
				map[string]string{rpcstatus.MetaLimitBytes: strconv.FormatInt(s.opts.MaxUploadBytes, 10)})
		}
		if _, err := f.Write(chunk); err != nil {
			discard(f)
			return nil, 0, nil, fmt.Errorf("spool the upload: %w", err)
		}
		h.Write(chunk)
		chunk, err = next()
		if errors.Is(err, io.EOF) {
			return f, size, h.Sum(nil), nil
		}
		if err != nil {
			discard(f)
			return nil, 0, nil, err
		}
	}
}

func discard(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}

// fileKind is "pdf", "doc", "docx" or "" from a file's first bytes.
func fileKind(f io.ReaderAt) string {
	head := make([]byte, 8)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return "pdf"
	case bytes.HasPrefix(head, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}):
		return "doc"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "docx"
	}
	return ""
}

var kindTypes = map[string]string{
	"pdf":  "application/pdf",
	"doc":  "application/msword",
	"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

// spooled is a checked upload.
type spooled struct {
	// file is the upload for the use case.
	file contracts.File
	// sum is the SHA-256 of the file's bytes (of none for a doc_url).
	sum []byte
	// cleanup removes the spooled file once the vendor call is done.
	cleanup func()
}

// upload spools a streamed upload and checks it: exactly one of file and
// doc_url, and a file of an allowed kind.
func (s *Server) upload(docURL string, first []byte, next func() ([]byte, error), name string, allowed ...string) (spooled, error) {
	f, size, sum, err := s.spool(first, next)
	if err != nil {
		return spooled{}, err
	}
	cleanup := func() { discard(f) }
	switch {
	case docURL != "" && size > 0:
		cleanup()
		return spooled{}, domainerr.InvalidArgument("file", "FILE_AND_DOC_URL", "send either file or doc_url, not both")
	case docURL != "":
		cleanup()
		return spooled{file: contracts.File{URL: docURL}, sum: sum, cleanup: func() {}}, nil
	case size == 0:
		cleanup()
		return spooled{}, domainerr.InvalidArgument("file", "FILE_OR_DOC_URL_REQUIRED", "send file or doc_url")
	}
	kind := fileKind(f)
	for _, a := range allowed {
		if kind == a {
			return spooled{file: contracts.File{Name: name + "." + kind, ContentType: kindTypes[kind], Content: f}, sum: sum, cleanup: cleanup}, nil
		}
	}
	cleanup()
	return spooled{}, domainerr.InvalidArgument("file", "FILE_TYPE_NOT_ALLOWED",
		fmt.Sprintf("must be one of %v by its content", allowed))
}

// UploadContract implements EsignServiceServer. The request_id is the
// first message's; the request it stands for is the first message's fields
// (without its first bytes) and the SHA-256 of the whole file, which the
// record keeps (contracts.Upload) for the reconciler. Interrupted: resolved
// by reading the contract back and comparing its SHA-256
// (contracts.Service.ResumeUploadContract); a copy with other bytes is
// CONTRACT_CONTENT_MISMATCH, and the engine resolves the record NOT_APPLIED
// (idempotency.FoundNotApplied): the upload as asked was not applied, and
// nothing will apply it under this request_id. The contract_id stays taken
// at Fadada, so a new request_id with the same contract_id meets Fadada's
// duplicate guard (ALREADY_EXISTS) and can never pass the wrong copy off as
// this file.
// Resolved applied: the answer is the contract_id, without sending.
func (s *Server) UploadContract(stream grpc.ClientStreamingServer[esignv1.UploadContractRequest, esignv1.UploadContractResponse]) error {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return domainerr.InvalidArgument("contract_id", "REQUIRED", "the upload is empty")
	}
	if err != nil {
		return err
	}
	switch {
	case first.GetContractId() == "":
		return domainerr.InvalidArgument("contract_id", "REQUIRED", "required in the first message")
	case first.GetDocTitle() == "":
		return domainerr.InvalidArgument("doc_title", "REQUIRED", "required in the first message")
	}
	up, err := s.upload(first.GetDocUrl(), first.GetFile(), func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetFile(), err
	}, first.GetContractId(), "pdf")
	if err != nil {
		return err
	}
	defer up.cleanup()
	header := &esignv1.UploadContractRequest{ContractId: first.GetContractId(), DocTitle: first.GetDocTitle(), DocUrl: first.GetDocUrl()}
	u := contracts.Upload{ContractID: header.GetContractId(), DocTitle: header.GetDocTitle(), DocURL: header.GetDocUrl()}
	if up.file.Content != nil {
		u.SHA256 = hex.EncodeToString(up.sum)
	}
	// The request_id travels in the first message, where the guard (which
	// finds it in unary requests) cannot see it: the usage ledger gets it here.
	rid := first.GetRequestId()
	ctx := usage.WithRequestID(stream.Context(), rid)
	resp, err := idempotency.RunFingerprint(ctx, s.ids, MethodUploadContract, rid, idempotency.Fingerprint(header, up.sum), u.Encode(),
		func(ctx context.Context, a idempotency.Attempt) (*esignv1.UploadContractResponse, error) {
			var err error
			switch {
			case a.Applied:
			case a.Interrupted:
				err = s.contracts.ResumeUploadContract(ctx, u, up.file)
				if de, ok := domainerr.As(err); ok && de.Reason == contracts.ReasonContentMismatch {
					err = idempotency.FoundNotApplied(fmt.Errorf("%s (found on a repeat): %w", contracts.ReasonContentMismatch, err))
				}
			default:
				err = s.contracts.UploadContract(ctx, u, up.file)
			}
			if err != nil {
				return nil, err
			}
			return &esignv1.UploadContractResponse{ContractId: header.GetContractId()}, nil
		})
	if err != nil {
		return err
	}
	return stream.SendAndClose(resp)
}

// UploadTemplate implements EsignServiceServer; its request_id is read as
// UploadContract's. Interrupted: sent again, and the vendor's duplicate
// guard on template ids (2507) resolves it, since the store says whether
// the template it guards is ours (contracts.Service.UploadTemplate).
func (s *Server) UploadTemplate(stream grpc.ClientStreamingServer[esignv1.UploadTemplateRequest, esignv1.UploadTemplateResponse]) error {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return domainerr.InvalidArgument("template_id", "REQUIRED", "the upload is empty")
	}
	if err != nil {
		return err
	}
	if first.GetTemplateId() == "" {
		return domainerr.InvalidArgument("template_id", "REQUIRED", "required in the first message")
	}
	up, err := s.upload(first.GetDocUrl(), first.GetFile(), func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetFile(), err
	}, first.GetTemplateId(), "pdf", "doc", "docx")
	if err != nil {
		return err
	}
	defer up.cleanup()
	header := &esignv1.UploadTemplateRequest{TemplateId: first.GetTemplateId(), DocUrl: first.GetDocUrl()}
	// The request_id travels in the first message, where the guard (which
	// finds it in unary requests) cannot see it: the usage ledger gets it here.
	ctx := usage.WithRequestID(stream.Context(), first.GetRequestId())
	kept, _ := proto.MarshalOptions{Deterministic: true}.Marshal(header)
	resp, err := idempotency.RunFingerprint(ctx, s.ids, "UploadTemplate", first.GetRequestId(), idempotency.Fingerprint(header, up.sum), kept,
		func(ctx context.Context, a idempotency.Attempt) (*esignv1.UploadTemplateResponse, error) {
			if a.Applied {
				return &esignv1.UploadTemplateResponse{TemplateId: header.GetTemplateId()}, nil
			}
			if err := s.contracts.UploadTemplate(ctx, header.GetTemplateId(), up.file); err != nil {
				return nil, err
			}
			return &esignv1.UploadTemplateResponse{TemplateId: header.GetTemplateId()}, nil
		})
	if err != nil {
		return err
	}
	return stream.SendAndClose(resp)
}

// sendFile streams body as HttpBody chunks, the first with contentType,
// after a header naming the file.
func sendFile(stream grpc.ServerStreamingServer[httpbody.HttpBody], name, contentType string, body io.Reader) error {
	// A uuid may be a path (headPhotoPath): the file name is its last part.
	name = path.Base(name)
	if exts, _ := mime.ExtensionsByType(contentType); contentType == "application/pdf" {
		name += ".pdf"
	} else if len(exts) > 0 {
		name += exts[0]
	}
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if err := stream.SendHeader(metadata.Pairs(HeaderContentDisposition, disposition)); err != nil {
		return err
	}
	buf := make([]byte, ChunkBytes)
	first := true
	for {
		n, err := body.Read(buf)
		if n > 0 {
			msg := &httpbody.HttpBody{Data: buf[:n]}
			if first {
				msg.ContentType, first = contentType, false
			}
			// Send encodes the message before it returns: buf may be reused.
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// DownloadContract implements EsignServiceServer.
func (s *Server) DownloadContract(req *esignv1.DownloadContractRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	return s.contracts.DownloadContract(stream.Context(), req.GetContractId(), func(ct string, body io.Reader) error {
		return sendFile(stream, req.GetContractId(), ct, body)
	})
}

// GetFile implements EsignServiceServer.
func (s *Server) GetFile(req *esignv1.GetFileRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	return s.contracts.GetFile(stream.Context(), req.GetUuid(), func(ct string, body io.Reader) error {
		return sendFile(stream, req.GetUuid(), ct, body)
	})
}
