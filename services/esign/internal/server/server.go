// Package server implements vendorgate.esign.v1.EsignService on top of the
// Fadada client and the contracts use case: proto ↔ domain mapping, the
// spooling of streamed uploads (size limit and file type checked before
// anything reaches the vendor) and the streaming of downloads. Handlers
// return Go errors (internal/domainerr for the service's own refusals);
// internal/serve's error interceptor turns them into statuses.
package server

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
)

// Domain is the google.rpc.ErrorInfo domain of the esign service.
const Domain = "esign.vendorgate.dev"

// Vendor is what the server needs from the Fadada client.
type Vendor interface {
	RegisterAccount(ctx context.Context, openID string, t fadada.AccountType) (string, error)
	ApplyCert(ctx context.Context, customerID, verifiedSerialNo string) error
	AddSignature(ctx context.Context, customerID string, image []byte) (string, error)
	CustomSignature(ctx context.Context, customerID, content string) ([]byte, error)
	ContractLinks(contractID string) (fadada.Links, error)
	DownloadContract(ctx context.Context, contractID string, consume fadada.FileConsumer) error
	ContractFiling(ctx context.Context, contractID string) (string, error)
	PersonCertInfo(ctx context.Context, verifiedSerialNo string) (fadada.CertInfo, error)
	CompanyCertInfo(ctx context.Context, verifiedSerialNo string) (fadada.CertInfo, error)
	GetFile(ctx context.Context, uuid string, consume fadada.FileConsumer) error
}

// Contracts is what the server needs from the contracts use case.
type Contracts interface {
	UploadContract(ctx context.Context, contractID, title string, f contracts.File) error
	UploadTemplate(ctx context.Context, templateID string, f contracts.File) error
	GenerateContract(ctx context.Context, g fadada.Generate) (fadada.Generated, error)
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
	// LinkValidity is how long signed browser links are said to be valid
	// (ESIGN_LINK_VALIDITY).
	LinkValidity time.Duration
	// SpoolDir is where uploads are spooled; empty means os.TempDir().
	SpoolDir string
}

// Server is the EsignService implementation. Requests reach it already
// checked against their protovalidate rules.
type Server struct {
	esignv1.UnimplementedEsignServiceServer
	vendor    Vendor
	contracts Contracts
	opts      Options
}

// New returns a Server.
func New(v Vendor, c Contracts, opts Options) *Server {
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if opts.LinkValidity <= 0 {
		opts.LinkValidity = DefaultLinkValidity
	}
	return &Server{vendor: v, contracts: c, opts: opts}
}

// RegisterAccount implements EsignServiceServer.
func (s *Server) RegisterAccount(ctx context.Context, req *esignv1.RegisterAccountRequest) (*esignv1.RegisterAccountResponse, error) {
	t := fadada.AccountPerson
	if req.GetAccountType() == esignv1.AccountType_ACCOUNT_TYPE_COMPANY {
		t = fadada.AccountCompany
	}
	id, err := s.vendor.RegisterAccount(ctx, req.GetOpenId(), t)
	if err != nil {
		return nil, err
	}
	return &esignv1.RegisterAccountResponse{CustomerId: id}, nil
}

// ApplyCertificate implements EsignServiceServer.
func (s *Server) ApplyCertificate(ctx context.Context, req *esignv1.ApplyCertificateRequest) (*esignv1.ApplyCertificateResponse, error) {
	if err := s.vendor.ApplyCert(ctx, req.GetCustomerId(), req.GetVerifiedSerialno()); err != nil {
		return nil, err
	}
	return &esignv1.ApplyCertificateResponse{}, nil
}

// AddSignature implements EsignServiceServer.
func (s *Server) AddSignature(ctx context.Context, req *esignv1.AddSignatureRequest) (*esignv1.AddSignatureResponse, error) {
	if ct := sniff(req.GetFile()); ct != "image/png" && ct != "image/jpeg" {
		return nil, domainerr.InvalidArgument("file", "SEAL_NOT_AN_IMAGE", "must be a PNG or JPEG image, got "+ct)
	}
	id, err := s.vendor.AddSignature(ctx, req.GetCustomerId(), req.GetFile())
	if err != nil {
		return nil, err
	}
	return &esignv1.AddSignatureResponse{SignatureId: id}, nil
}

// CreateCustomSignature implements EsignServiceServer.
func (s *Server) CreateCustomSignature(ctx context.Context, req *esignv1.CreateCustomSignatureRequest) (*esignv1.CreateCustomSignatureResponse, error) {
	img, err := s.vendor.CustomSignature(ctx, req.GetCustomerId(), req.GetContent())
	if err != nil {
		return nil, err
	}
	return &esignv1.CreateCustomSignatureResponse{File: img, ContentType: sniff(img)}, nil
}

// GenerateContract implements EsignServiceServer.
func (s *Server) GenerateContract(ctx context.Context, req *esignv1.GenerateContractRequest) (*esignv1.GenerateContractResponse, error) {
	g := fadada.Generate{
		TemplateID: req.GetTemplateId(), ContractID: req.GetContractId(), DocTitle: req.GetDocTitle(),
		ParameterMap: req.GetParameterMap(),
	}
	for _, t := range req.GetDynamicTables() {
		dt := fadada.DynamicTable{
			Headers: t.GetHeaders(), ColWidthPercent: t.GetColWidthPercent(), CellHeight: t.GetCellHeight(),
			CellHorizontalAlignment: t.GetCellHorizontalAlignment(), CellVerticalAlignment: t.GetCellVerticalAlignment(),
			PageBegin: t.GetPageBegin(), TheFirstHeader: t.GetTheFirstHeader(),
		}
		for _, r := range t.GetRows() {
			dt.Datas = append(dt.Datas, r.GetCells())
		}
		g.DynamicTables = append(g.DynamicTables, dt)
	}
	if fs := req.GetFontSize(); fs > 0 {
		g.FontSize = strconv.FormatFloat(fs, 'f', -1, 64)
	}
	if ft := req.GetFontType(); ft != esignv1.FontType_FONT_TYPE_UNSPECIFIED {
		g.FontType = strconv.Itoa(int(ft) - 1)
	}
	out, err := s.contracts.GenerateContract(ctx, g)
	if err != nil {
		return nil, err
	}
	return &esignv1.GenerateContractResponse{ContractId: req.GetContractId(), ViewUrl: out.ViewURL, DownloadUrl: out.DownloadURL}, nil
}

// GetContractLinks implements EsignServiceServer. The vendor does not say
// how long a link's timestamp is accepted; expire_time is the signing time
// plus the configured validity (ESIGN_LINK_VALIDITY).
func (s *Server) GetContractLinks(_ context.Context, req *esignv1.GetContractLinksRequest) (*esignv1.GetContractLinksResponse, error) {
	links, err := s.vendor.ContractLinks(req.GetContractId())
	if err != nil {
		return nil, err
	}
	return &esignv1.GetContractLinksResponse{
		ViewUrl: links.View, DownloadUrl: links.Download,
		ExpireTime: timestamppb.New(links.SignedAt.Add(s.opts.LinkValidity)),
	}, nil
}

// ArchiveContract implements EsignServiceServer.
func (s *Server) ArchiveContract(ctx context.Context, req *esignv1.ArchiveContractRequest) (*esignv1.ArchiveContractResponse, error) {
	msg, err := s.vendor.ContractFiling(ctx, req.GetContractId())
	if err != nil {
		return nil, err
	}
	return &esignv1.ArchiveContractResponse{Message: msg}, nil
}

// GetPersonCertification implements EsignServiceServer.
func (s *Server) GetPersonCertification(ctx context.Context, req *esignv1.GetPersonCertificationRequest) (*esignv1.GetPersonCertificationResponse, error) {
	info, err := s.vendor.PersonCertInfo(ctx, req.GetVerifiedSerialno())
	if err != nil {
		return nil, err
	}
	return &esignv1.GetPersonCertificationResponse{Certification: certification(info), Person: person(info.Person)}, nil
}

// GetCompanyCertification implements EsignServiceServer.
func (s *Server) GetCompanyCertification(ctx context.Context, req *esignv1.GetCompanyCertificationRequest) (*esignv1.GetCompanyCertificationResponse, error) {
	info, err := s.vendor.CompanyCertInfo(ctx, req.GetVerifiedSerialno())
	if err != nil {
		return nil, err
	}
	return &esignv1.GetCompanyCertificationResponse{
		Certification: certification(info), Company: company(info.Company), Manager: person(info.Manager),
	}, nil
}
