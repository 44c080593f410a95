// Package contracts is esign's use case: every Fadada call of the service
// goes through it (the server maps protos to its types and back), and it
// holds the rules beyond mapping: how Fadada's state tells whether an
// upload or a generation whose answer never came was applied. The at-most-once bookkeeping (request_id records, unknown
// outcomes, their resolution) is internal/idempotency's; every call here
// is sent once, and this package supplies only the reading back:
//
//   - an uploaded contract is applied when Fadada has it and its bytes
//     have the upload's SHA-256 (downloaded streamed and hashed): a
//     contract that exists with other bytes (a truncated copy, say) is
//     CONTRACT_CONTENT_MISMATCH, never a success;
//   - a generated contract is applied when Fadada has it;
//   - a template is applied when Fadada's duplicate guard (2507) meets an
//     id this service sent itself (the store), since a template cannot be
//     read back;
//   - an archive is applied when Fadada says it is archived
//     (Vendor.Archived);
//   - a certificate application is applied when Fadada refuses a second
//     one (Vendor.CertApplied).
//
// Fadada's duplicate guard on contract ids (2510 合同id重复) is what makes a
// send after an absent read-back safe: an earlier attempt that lands late
// makes the later one fail as a duplicate, never apply twice.
package contracts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// Templates records the template ids sent to the vendor, for every process
// and replica (the store).
type Templates interface {
	// MarkTemplateSent records templateID and reports whether it was
	// recorded before.
	MarkTemplateSent(ctx context.Context, templateID string, at time.Time) (before bool, err error)
	// ForgetTemplate removes templateID.
	ForgetTemplate(ctx context.Context, templateID string) error
}

// ReasonContentMismatch is the ErrorInfo reason of an upload whose
// contract_id Fadada holds with other bytes than the upload's
// (FAILED_PRECONDITION, metadata contract_id).
const ReasonContentMismatch = "CONTRACT_CONTENT_MISMATCH"

// Service sends uploads and generations once each and reads Fadada back
// for the ones whose answer never came.
type Service struct {
	v         Vendor
	templates Templates
}

// New returns a Service over v that records the template ids it sends in
// templates.
func New(v Vendor, templates Templates) *Service {
	return &Service{v: v, templates: templates}
}

// File is an upload's bytes, spooled so that a send after a read-back can
// read them again (e.g. an *os.File), or a URL for the vendor to fetch.
type File struct {
	// URL is doc_url; when set, Content is nil.
	URL string
	// Name is the file name sent with Content.
	Name string
	// ContentType is the file's media type.
	ContentType string
	// Content is read from its start for every send.
	Content io.ReadSeeker
}

// document rewinds f and returns it as a vendor document.
func (f File) document() (Document, error) {
	if f.Content == nil {
		return Document{URL: f.URL}, nil
	}
	if _, err := f.Content.Seek(0, io.SeekStart); err != nil {
		return Document{}, fmt.Errorf("rewind the upload: %w", err)
	}
	return Document{Name: f.Name, ContentType: f.ContentType, Content: f.Content}, nil
}

// Upload is what an UploadContract's request_id record keeps for the
// reconciler and the operator (idempotency's kept bytes): the contract's
// fields and the SHA-256 of the uploaded bytes, which Fadada's copy must
// have.
type Upload struct {
	// ContractID is contract_id.
	ContractID string `json:"contract_id"`
	// DocTitle is doc_title.
	DocTitle string `json:"doc_title"`
	// DocURL is doc_url, for an upload Fadada fetched itself.
	DocURL string `json:"doc_url,omitempty"`
	// SHA256 is the hex SHA-256 of the uploaded file; empty for a doc_url
	// upload, whose bytes vendorgate never saw.
	SHA256 string `json:"sha256,omitempty"`
}

// Encode is u as kept in the request_id record.
func (u Upload) Encode() []byte {
	b, _ := json.Marshal(u)
	return b
}

// DecodeUpload reads an Upload kept by Encode.
func DecodeUpload(b []byte) (Upload, error) {
	var u Upload
	if err := json.Unmarshal(b, &u); err != nil {
		return Upload{}, fmt.Errorf("contracts: kept upload: %w", err)
	}
	return u, nil
}

// UploadContract uploads f under u.ContractID, once. A duplicate contract
// id is the vendor's ALREADY_EXISTS.
func (s *Service) UploadContract(ctx context.Context, u Upload, f File) error {
	doc, err := f.document()
	if err != nil {
		return err
	}
	return s.v.UploadDocs(ctx, u.ContractID, u.DocTitle, doc)
}

// ResumeUploadContract resumes an UploadContract whose earlier attempt may
// have reached Fadada: a contract with the upload's bytes is that
// attempt's success and is not sent again; one with other bytes is
// CONTRACT_CONTENT_MISMATCH; an absent one is sent (Fadada's duplicate
// guard stops a second copy), and a duplicate met then is checked the same
// way.
func (s *Service) ResumeUploadContract(ctx context.Context, u Upload, f File) error {
	c, err := s.CheckUpload(ctx, u)
	if err != nil {
		return err
	}
	switch {
	case c.Matches():
		return nil
	case c.Exists:
		return c.Mismatch(u)
	}
	err = s.UploadContract(ctx, u, f)
	if !vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		return err
	}
	if c, cerr := s.CheckUpload(ctx, u); cerr == nil && c.Exists {
		if c.Matches() {
			return nil
		}
		return c.Mismatch(u)
	}
	return err
}

// Copy is what Fadada holds under an upload's contract_id.
type Copy struct {
	// Exists is whether Fadada has the contract.
	Exists bool
	// SHA256 and Size are the hex SHA-256 and the length of Fadada's copy.
	SHA256 string
	Size   int64
	// want is the upload's SHA-256; empty when it cannot be compared.
	want string
}

// Matches reports whether Fadada has the contract with the upload's bytes
// (or, for a doc_url upload whose bytes vendorgate never saw, at all).
func (c Copy) Matches() bool { return c.Exists && (c.want == "" || c.want == c.SHA256) }

// Mismatch is the error of a contract that Fadada holds with other bytes
// than u's.
func (c Copy) Mismatch(u Upload) error {
	return &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Reason: ReasonContentMismatch,
		Message: fmt.Sprintf("Fadada holds contract_id %s with other bytes than this upload (%d bytes, SHA-256 %s; the upload's is %s): "+
			"the upload was not applied, and Fadada does not replace a contract: upload the file under a new contract_id",
			u.ContractID, c.Size, c.SHA256, u.SHA256),
		Metadata: map[string]string{"contract_id": u.ContractID, "vendor_sha256": c.SHA256, "sha256": u.SHA256}}
}

// CheckUpload reads back what Fadada holds under u.ContractID: it
// downloads the contract streamed and hashes it, so that the check costs
// no memory whatever the file's size.
func (s *Service) CheckUpload(ctx context.Context, u Upload) (Copy, error) {
	c := Copy{want: u.SHA256}
	err := s.v.DownloadContract(ctx, u.ContractID, func(_ string, body io.Reader) error {
		h := sha256.New()
		n, err := io.Copy(h, body)
		if err != nil {
			return err
		}
		c.Exists, c.Size, c.SHA256 = true, n, hex.EncodeToString(h.Sum(nil))
		return nil
	})
	switch {
	case err == nil:
		return c, nil
	case vendorerr.IsKind(err, vendorerr.KindNotFound):
		return Copy{want: u.SHA256}, nil
	default:
		return Copy{}, fmt.Errorf("read back contract %s: %w", u.ContractID, err)
	}
}

// UploadTemplate uploads a template under templateID, once. A duplicate is
// a success only when the service sent that id before (a reply lost on the
// way back, then a repeat, possibly after a restart or through another
// replica): uploadtemplate.api has a duplicate guard (2507 模板号重复), and
// the store says whether the template it guards is ours. This is also how
// an interrupted attempt is resumed.
func (s *Service) UploadTemplate(ctx context.Context, templateID string, f File) error {
	sentBefore, err := s.templates.MarkTemplateSent(ctx, templateID, time.Now())
	if err != nil {
		return err
	}
	doc, err := f.document()
	if err == nil {
		err = s.v.UploadTemplate(ctx, templateID, doc)
	}
	if sentBefore && vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		return nil
	}
	if err != nil && !sentBefore && vendorerr.NotSent(err) {
		// It never left: it is not ours at the vendor. The context may be
		// done already; the forget must still happen.
		if ferr := s.templates.ForgetTemplate(context.WithoutCancel(ctx), templateID); ferr != nil {
			return errors.Join(err, ferr)
		}
	}
	return err
}

// GenerateContract fills a template into contract g.ContractID, once.
func (s *Service) GenerateContract(ctx context.Context, g Generate) (Generated, error) {
	return s.v.GenerateContract(ctx, g)
}

// ResumeGenerateContract resumes a GenerateContract whose earlier attempt
// may have reached Fadada: a contract that exists is that attempt's
// success (its links are then the signed browser links of
// GetContractLinks) and is not generated again; an absent one is generated
// (Fadada's duplicate guard stops a second one, and a duplicate met then
// is the earlier attempt landing late).
func (s *Service) ResumeGenerateContract(ctx context.Context, g Generate) (Generated, error) {
	exists, err := s.ContractExists(ctx, g.ContractID)
	if err != nil {
		return Generated{}, err
	}
	if exists {
		return s.Links(g.ContractID)
	}
	out, err := s.v.GenerateContract(ctx, g)
	if vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		if exists, cerr := s.ContractExists(ctx, g.ContractID); cerr == nil && exists {
			return s.Links(g.ContractID)
		}
	}
	return out, err
}

// VendorLinks are Fadada's signed browser links to contractID.
func (s *Service) VendorLinks(contractID string) (VendorLinks, error) {
	return s.v.ContractLinks(contractID)
}

// DownloadContract streams contractID's PDF to consume.
func (s *Service) DownloadContract(ctx context.Context, contractID string, consume FileConsumer) error {
	return s.v.DownloadContract(ctx, contractID, consume)
}

// Links are a contract's signed browser links, in place of the ones a
// generate_contract reply would have carried.
func (s *Service) Links(contractID string) (Generated, error) {
	l, err := s.v.ContractLinks(contractID)
	if err != nil {
		return Generated{}, err
	}
	return Generated{ViewURL: l.View, DownloadURL: l.Download}, nil
}

// ArchiveContract archives contractID, once, and returns the vendor's
// message.
func (s *Service) ArchiveContract(ctx context.Context, contractID string) (string, error) {
	return s.v.ContractFiling(ctx, contractID)
}

// ResumeArchiveContract resumes an interrupted ArchiveContract. Archiving
// is naturally idempotent at the vendor: a second contractFiling.api of
// an archived contract changes nothing and answers that it is archived
// (Vendor.Archived), which here is the earlier attempt's success, with
// the vendor's message.
func (s *Service) ResumeArchiveContract(ctx context.Context, contractID string) (string, error) {
	msg, err := s.v.ContractFiling(ctx, contractID)
	if archived, ok := s.v.Archived(err); ok {
		return archived, nil
	}
	return msg, err
}

// errFound stops a download once its first bytes show the contract exists.
var errFound = errors.New("contract found")

// RequireContract returns nil when Fadada has contractID, and Fadada's
// refusal (vendorerr.KindNotFound) when it does not, by starting its
// download (the only read of a contract the API has).
func (s *Service) RequireContract(ctx context.Context, contractID string) error {
	err := s.v.DownloadContract(ctx, contractID, func(string, io.Reader) error { return errFound })
	if errors.Is(err, errFound) {
		return nil
	}
	return err
}

// ContractExists reports whether Fadada has contractID (RequireContract).
func (s *Service) ContractExists(ctx context.Context, contractID string) (bool, error) {
	err := s.RequireContract(ctx, contractID)
	switch {
	case err == nil:
		return true, nil
	case vendorerr.IsKind(err, vendorerr.KindNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("read back contract %s: %w", contractID, err)
	}
}
