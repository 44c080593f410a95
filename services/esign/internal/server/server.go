// Package server implements vendorgate.esign.v1.EsignService on top of the
// contracts use case (which alone calls Fadada): proto ↔ domain mapping, the
// spooling of streamed uploads (size limit and file type checked before
// anything reaches the vendor) and the streaming of downloads. Handlers
// return Go errors (internal/domainerr for the service's own refusals);
// internal/serve's error interceptor turns them into statuses.
//
// Every mutation runs through internal/idempotency with the caller's
// optional request_id (AIP-155). Each handler says how an interrupted
// attempt (one that may have reached the vendor, then lost its answer or
// its process) is resolved: by reading Fadada back, by the vendor's own
// duplicate guard where there is one (both in contracts), by sending again where
// the call is naturally idempotent, and otherwise not at all
// (idempotency.ErrCannotTell: UNKNOWN until an operator resolves it); and
// how a call resolved applied without a recorded answer
// (idempotency.Attempt.Applied) builds its response without sending.
package server

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
	"github.com/vendorgate/vendorgate/services/esign/internal/links"
)

// Domain is the google.rpc.ErrorInfo domain of the esign service.
const Domain = "esign.vendorgate.dev"

// Contracts is what the server needs from the contracts use case
// (contracts.Service), through which every Fadada call goes.
type Contracts interface {
	RegisterAccount(ctx context.Context, openID string, t contracts.AccountType) (string, error)
	ApplyCertificate(ctx context.Context, customerID, verifiedSerialNo string) error
	ResumeApplyCertificate(ctx context.Context, customerID, verifiedSerialNo string) error
	AddSignature(ctx context.Context, customerID string, image []byte) (string, error)
	CustomSignature(ctx context.Context, customerID, content string) ([]byte, error)
	PersonCertification(ctx context.Context, verifiedSerialNo string) (contracts.Certification, error)
	CompanyCertification(ctx context.Context, verifiedSerialNo string) (contracts.Certification, error)
	GetFile(ctx context.Context, uuid string, consume contracts.FileConsumer) error

	UploadContract(ctx context.Context, u contracts.Upload, f contracts.File) error
	ResumeUploadContract(ctx context.Context, u contracts.Upload, f contracts.File) error
	CheckUpload(ctx context.Context, u contracts.Upload) (contracts.Copy, error)
	UploadTemplate(ctx context.Context, templateID string, f contracts.File) error
	GenerateContract(ctx context.Context, g contracts.Generate) (contracts.Generated, error)
	ResumeGenerateContract(ctx context.Context, g contracts.Generate) (contracts.Generated, error)
	ContractExists(ctx context.Context, contractID string) (bool, error)
	RequireContract(ctx context.Context, contractID string) error
	Links(contractID string) (contracts.Generated, error)
	VendorLinks(contractID string) (contracts.VendorLinks, error)
	DownloadContract(ctx context.Context, contractID string, consume contracts.FileConsumer) error
	ArchiveContract(ctx context.Context, contractID string) (string, error)
	ResumeArchiveContract(ctx context.Context, contractID string) (string, error)
}

// Linker makes the links a person opens to a contract: the service's own
// (links.Issuer).
type Linker interface {
	ContractLinks(contractID string) (links.Links, error)
}

// Defaults for Options fields left zero.
const (
	DefaultMaxUploadBytes = 20 << 20
	DefaultLinkValidity   = 15 * time.Minute
	// ChunkBytes is the size of a download chunk.
	ChunkBytes = 64 << 10
)

// Options tunes a Server.
type Options struct {
	// MaxUploadBytes bounds an uploaded file (ESIGN_MAX_UPLOAD_BYTES).
	MaxUploadBytes int64
	// Links makes the links GetContractLinks and GenerateContract hand
	// out: the service's own (ESIGN_LINK_MODE=proxy); nil hands out
	// Fadada's signed links (vendor).
	Links Linker
	// LinkValidity is how long Fadada's signed links are said to be valid
	// (ESIGN_LINK_VALIDITY), when Links is nil.
	LinkValidity time.Duration
	// SpoolDir is where uploads are spooled; empty means os.TempDir().
	SpoolDir string
	// Usage answers GetUsage; nil fails it.
	Usage Usage
	// Logger receives what the handlers log; nil discards it.
	Logger *slog.Logger
	// AbsentGrace is how old an unresolved upload or generation must be
	// before the reconciler takes its contract's absence at Fadada for
	// "not applied"; zero means DefaultAbsentGrace.
	AbsentGrace time.Duration
	// Now is the clock of the reconciler's grace; nil means time.Now.
	Now func() time.Time
}

// Server is the EsignService implementation. Requests reach it already
// checked against their protovalidate rules.
type Server struct {
	esignv1.UnimplementedEsignServiceServer
	contracts Contracts
	ids       *idempotency.Store
	opts      Options
	log       *slog.Logger
}

// New returns a Server whose mutations keep their request_id records in
// ids.
func New(c Contracts, ids *idempotency.Store, opts Options) *Server {
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if opts.LinkValidity <= 0 {
		opts.LinkValidity = DefaultLinkValidity
	}
	if opts.AbsentGrace <= 0 {
		opts.AbsentGrace = DefaultAbsentGrace
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{contracts: c, ids: ids, opts: opts, log: log}
}

// RegisterAccount implements EsignServiceServer. Interrupted: sent again,
// since account_register.api is naturally idempotent (the same open_id
// always gives back the same customer_id).
func (s *Server) RegisterAccount(ctx context.Context, req *esignv1.RegisterAccountRequest) (*esignv1.RegisterAccountResponse, error) {
	return idempotency.Run(ctx, s.ids, "RegisterAccount", req.GetRequestId(), req,
		func(ctx context.Context, _ idempotency.Attempt) (*esignv1.RegisterAccountResponse, error) {
			t := contracts.AccountPerson
			if req.GetAccountType() == esignv1.AccountType_ACCOUNT_TYPE_COMPANY {
				t = contracts.AccountCompany
			}
			id, err := s.contracts.RegisterAccount(ctx, req.GetOpenId(), t)
			if err != nil {
				return nil, err
			}
			return &esignv1.RegisterAccountResponse{CustomerId: id}, nil
		})
}

// ApplyCertificate implements EsignServiceServer. Interrupted: resolved by
// the vendor's duplicate guard. apply_cert.api refuses a second
// application, so it is sent again and that refusal is the earlier
// attempt's success; any other answer is the answer
// (contracts.Service.ResumeApplyCertificate).
func (s *Server) ApplyCertificate(ctx context.Context, req *esignv1.ApplyCertificateRequest) (*esignv1.ApplyCertificateResponse, error) {
	return idempotency.Run(ctx, s.ids, "ApplyCertificate", req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*esignv1.ApplyCertificateResponse, error) {
			if a.Applied {
				return &esignv1.ApplyCertificateResponse{}, nil
			}
			send := s.contracts.ApplyCertificate
			if a.Interrupted {
				send = s.contracts.ResumeApplyCertificate
			}
			if err := send(ctx, req.GetCustomerId(), req.GetVerifiedSerialno()); err != nil {
				return nil, err
			}
			return &esignv1.ApplyCertificateResponse{}, nil
		})
}

// ReasonSignatureIDUnknown is the reason of a repeat of an AddSignature
// that was resolved applied by an operator: Fadada cannot tell the seal's
// signature_id (FAILED_PRECONDITION).
const ReasonSignatureIDUnknown = "SIGNATURE_ID_UNKNOWN"

// AddSignature implements EsignServiceServer. Interrupted: not sent again
// and UNKNOWN (idempotency.ErrCannotTell). add_signature.api adds one more
// seal per call (it is not idempotent), has no duplicate guard and no read
// of a signer's seals, so neither a re-send nor a read-back is safe.
func (s *Server) AddSignature(ctx context.Context, req *esignv1.AddSignatureRequest) (*esignv1.AddSignatureResponse, error) {
	if ct := sniff(req.GetFile()); ct != "image/png" && ct != "image/jpeg" {
		return nil, domainerr.InvalidArgument("file", "SEAL_NOT_AN_IMAGE", "must be a PNG or JPEG image, got "+ct)
	}
	return idempotency.Run(ctx, s.ids, "AddSignature", req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*esignv1.AddSignatureResponse, error) {
			switch {
			case a.Applied:
				return nil, domainerr.FailedPrecondition(ReasonSignatureIDUnknown, "the seal under request_id "+req.GetRequestId()+
					" was resolved applied by an operator, and Fadada cannot tell its signature_id: find it in the Fadada console")
			case a.Interrupted:
				return nil, idempotency.ErrCannotTell
			}
			id, err := s.contracts.AddSignature(ctx, req.GetCustomerId(), req.GetFile())
			if err != nil {
				return nil, err
			}
			return &esignv1.AddSignatureResponse{SignatureId: id}, nil
		})
}

// CreateCustomSignature implements EsignServiceServer. Interrupted: sent
// again, since custom_signature.api only draws an image from the text and
// stores nothing (naturally idempotent).
func (s *Server) CreateCustomSignature(ctx context.Context, req *esignv1.CreateCustomSignatureRequest) (*esignv1.CreateCustomSignatureResponse, error) {
	return idempotency.Run(ctx, s.ids, "CreateCustomSignature", req.GetRequestId(), req,
		func(ctx context.Context, _ idempotency.Attempt) (*esignv1.CreateCustomSignatureResponse, error) {
			img, err := s.contracts.CustomSignature(ctx, req.GetCustomerId(), req.GetContent())
			if err != nil {
				return nil, err
			}
			return &esignv1.CreateCustomSignatureResponse{File: img, ContentType: sniff(img)}, nil
		})
}

// GenerateContract implements EsignServiceServer. Interrupted: resolved by
// reading the contract back, then the vendor's duplicate guard on contract
// ids (contracts.Service.ResumeGenerateContract); resolved applied: the
// links are those of GetContractLinks. With the service's own links
// (Options.Links), every answer, a repeat's too, carries fresh ones: the
// recorded answer's would have expired.
func (s *Server) GenerateContract(ctx context.Context, req *esignv1.GenerateContractRequest) (*esignv1.GenerateContractResponse, error) {
	g := generate(req)
	resp, err := idempotency.Run(ctx, s.ids, MethodGenerateContract, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*esignv1.GenerateContractResponse, error) {
			send := s.contracts.GenerateContract
			switch {
			case a.Applied && s.opts.Links != nil:
				send = func(context.Context, contracts.Generate) (contracts.Generated, error) {
					return contracts.Generated{}, nil
				}
			case a.Applied:
				send = func(context.Context, contracts.Generate) (contracts.Generated, error) {
					return s.contracts.Links(g.ContractID)
				}
			case a.Interrupted:
				send = s.contracts.ResumeGenerateContract
			}
			out, err := send(ctx, g)
			if err != nil {
				return nil, err
			}
			resp := &esignv1.GenerateContractResponse{ContractId: req.GetContractId()}
			if s.opts.Links == nil {
				resp.ViewUrl, resp.DownloadUrl = out.ViewURL, out.DownloadURL
			}
			return resp, nil
		})
	if err != nil || s.opts.Links == nil {
		return resp, err
	}
	l, err := s.opts.Links.ContractLinks(req.GetContractId())
	if err != nil {
		return nil, err
	}
	resp.ViewUrl, resp.DownloadUrl, resp.ExpireTime = l.View, l.Download, timestamppb.New(l.ExpireTime)
	return resp, nil
}

// generate maps a GenerateContractRequest to the use case's.
func generate(req *esignv1.GenerateContractRequest) contracts.Generate {
	g := contracts.Generate{
		TemplateID: req.GetTemplateId(), ContractID: req.GetContractId(), DocTitle: req.GetDocTitle(),
		ParameterMap: req.GetParameterMap(),
	}
	for _, t := range req.GetDynamicTables() {
		dt := contracts.DynamicTable{
			Headers: t.GetHeaders(), ColWidthPercent: t.GetColWidthPercent(), CellHeight: t.GetCellHeight(),
			CellHorizontalAlignment: t.GetCellHorizontalAlignment(), CellVerticalAlignment: t.GetCellVerticalAlignment(),
			PageBegin: t.GetPageBegin(), TheFirstHeader: t.GetTheFirstHeader(),
		}
		for _, r := range t.GetRows() {
			dt.Rows = append(dt.Rows, r.GetCells())
		}
		g.DynamicTables = append(g.DynamicTables, dt)
	}
	if fs := req.GetFontSize(); fs > 0 {
		g.FontSize = strconv.FormatFloat(fs, 'f', -1, 64)
	}
	if ft := req.GetFontType(); ft != esignv1.FontType_FONT_TYPE_UNSPECIFIED {
		g.FontType = strconv.Itoa(int(ft) - 1)
	}
	return g
}

// GetContractLinks implements EsignServiceServer. A contract Fadada does
// not have is its NOT_FOUND (one read of the contract's first bytes), so
// that no link is handed out that opens nothing. The links are the
// service's own (Options.Links), or Fadada's signed ones, whose expiry the
// vendor does not state: expire_time is then the signing time plus
// Options.LinkValidity.
func (s *Server) GetContractLinks(ctx context.Context, req *esignv1.GetContractLinksRequest) (*esignv1.GetContractLinksResponse, error) {
	if err := s.contracts.RequireContract(ctx, req.GetContractId()); err != nil {
		return nil, err
	}
	if s.opts.Links != nil {
		l, err := s.opts.Links.ContractLinks(req.GetContractId())
		if err != nil {
			return nil, err
		}
		return &esignv1.GetContractLinksResponse{ViewUrl: l.View, DownloadUrl: l.Download, ExpireTime: timestamppb.New(l.ExpireTime)}, nil
	}
	links, err := s.contracts.VendorLinks(req.GetContractId())
	if err != nil {
		return nil, err
	}
	return &esignv1.GetContractLinksResponse{
		ViewUrl: links.View, DownloadUrl: links.Download,
		ExpireTime: timestamppb.New(links.SignedAt.Add(s.opts.LinkValidity)),
	}, nil
}

// ArchiveContract implements EsignServiceServer. Interrupted: sent again,
// since archiving is naturally idempotent at the vendor; its "already
// archived" is the earlier attempt's success
// (contracts.Service.ResumeArchiveContract).
func (s *Server) ArchiveContract(ctx context.Context, req *esignv1.ArchiveContractRequest) (*esignv1.ArchiveContractResponse, error) {
	return idempotency.Run(ctx, s.ids, MethodArchiveContract, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*esignv1.ArchiveContractResponse, error) {
			if a.Applied {
				// Resolved applied by an operator: the vendor's message
				// was never read.
				return &esignv1.ArchiveContractResponse{}, nil
			}
			send := s.contracts.ArchiveContract
			if a.Interrupted {
				send = s.contracts.ResumeArchiveContract
			}
			msg, err := send(ctx, req.GetContractId())
			if err != nil {
				return nil, err
			}
			return &esignv1.ArchiveContractResponse{Message: msg}, nil
		})
}

// GetPersonCertification implements EsignServiceServer.
func (s *Server) GetPersonCertification(ctx context.Context, req *esignv1.GetPersonCertificationRequest) (*esignv1.GetPersonCertificationResponse, error) {
	info, err := s.contracts.PersonCertification(ctx, req.GetVerifiedSerialno())
	if err != nil {
		return nil, err
	}
	return &esignv1.GetPersonCertificationResponse{Certification: certification(info), Person: person(info.Person)}, nil
}

// GetCompanyCertification implements EsignServiceServer.
func (s *Server) GetCompanyCertification(ctx context.Context, req *esignv1.GetCompanyCertificationRequest) (*esignv1.GetCompanyCertificationResponse, error) {
	info, err := s.contracts.CompanyCertification(ctx, req.GetVerifiedSerialno())
	if err != nil {
		return nil, err
	}
	return &esignv1.GetCompanyCertificationResponse{
		Certification: certification(info), Company: company(info.Company), Manager: person(info.Manager),
	}, nil
}
