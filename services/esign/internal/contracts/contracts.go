// Package contracts holds esign's rules beyond mapping: the uploads and the
// generation that carry the caller's own id are mutations sent once each,
// re-sent explicitly when the vendor may not have seen them, and a
// "duplicate id" met by a re-send is resolved instead of surfaced:
//
//   - a contract (uploaddocs, generate_contract) is a success when it
//     exists at the vendor: its download works;
//   - a template is a success only when this service (any process or
//     replica, through the store) sent that id itself, since a template
//     cannot be read back.
//
// The Resume methods run a mutation whose earlier attempt with the same
// request_id may have reached the vendor (idempotency.Attempt.Interrupted):
// they resolve it by the vendor's own duplicate guard (contract ids,
// template ids, an archived contract) instead of failing or sending blindly.
package contracts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
)

// Vendor is what the use case needs of the Fadada client.
type Vendor interface {
	UploadDocs(ctx context.Context, contractID, title string, doc fadada.Document) error
	UploadTemplate(ctx context.Context, templateID string, doc fadada.Document) error
	GenerateContract(ctx context.Context, g fadada.Generate) (fadada.Generated, error)
	DownloadContract(ctx context.Context, contractID string, consume fadada.FileConsumer) error
	ContractLinks(contractID string) (fadada.Links, error)
	ContractFiling(ctx context.Context, contractID string) (string, error)
}

// Templates records the template ids sent to the vendor, for every process
// and replica (the store).
type Templates interface {
	// MarkTemplateSent records templateID and reports whether it was
	// recorded before.
	MarkTemplateSent(ctx context.Context, templateID string, at time.Time) (before bool, err error)
	// ForgetTemplate removes templateID.
	ForgetTemplate(ctx context.Context, templateID string) error
}

// Options configures a Service.
type Options struct {
	// Resends is how many times a send whose outcome is unknown (or that
	// never left) is sent again; zero means 2.
	Resends int
	// ResendBackoff is the wait before the first re-send, doubled after
	// each; zero means 200ms.
	ResendBackoff time.Duration
}

// Service sends uploads and generations at most once each attempt and
// resolves duplicates of its own re-sends.
type Service struct {
	v         Vendor
	templates Templates
	opts      Options
}

// New returns a Service over v that records the template ids it sends in
// templates.
func New(v Vendor, templates Templates, opts Options) *Service {
	if opts.Resends == 0 {
		opts.Resends = 2
	}
	if opts.ResendBackoff == 0 {
		opts.ResendBackoff = 200 * time.Millisecond
	}
	return &Service{v: v, templates: templates, opts: opts}
}

// File is an upload's bytes, spooled so that a re-send can read them again
// (e.g. an *os.File), or a URL for the vendor to fetch.
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
func (f File) document() (fadada.Document, error) {
	if f.Content == nil {
		return fadada.Document{URL: f.URL}, nil
	}
	if _, err := f.Content.Seek(0, io.SeekStart); err != nil {
		return fadada.Document{}, fmt.Errorf("rewind the upload: %w", err)
	}
	return fadada.Document{Name: f.Name, ContentType: f.ContentType, Content: f.Content}, nil
}

// resendable reports whether the vendor may not have applied a send: its
// outcome is unknown, or it failed in a way that is safe to repeat.
func resendable(err error) bool {
	return err != nil && (vendorerr.IsKind(err, vendorerr.KindOutcomeUnknown) || vendorcall.Retryable(err))
}

// send runs attempt, re-sending while the vendor may not have seen it. It
// reports whether the final error came from a re-send.
func (s *Service) send(ctx context.Context, attempt func() error) (resent bool, err error) {
	err = attempt()
	wait := s.opts.ResendBackoff
	for i := 0; i < s.opts.Resends && resendable(err) && !vendorerr.IsKind(err, vendorerr.KindCircuitOpen); i++ {
		select {
		case <-ctx.Done():
			return resent, err
		case <-time.After(wait):
		}
		wait *= 2
		resent = true
		err = attempt()
	}
	return resent, err
}

// UploadContract uploads a PDF contract under contractID. A duplicate met
// by our own re-send is a success when the contract exists.
func (s *Service) UploadContract(ctx context.Context, contractID, title string, f File) error {
	resent, err := s.send(ctx, func() error {
		doc, err := f.document()
		if err != nil {
			return err
		}
		return s.v.UploadDocs(ctx, contractID, title, doc)
	})
	if resent && vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		return s.confirmContract(ctx, contractID, err)
	}
	return err
}

// UploadTemplate uploads a template under templateID. A duplicate is a
// success only when the service sent that id before (a reply lost on the
// way back, then the caller's or our own re-send, possibly after a restart
// or through another replica). This is also how an interrupted attempt is
// resumed: uploadtemplate.api has a duplicate guard (2507 模板号重复), and
// the store says whether the template it guards is ours.
func (s *Service) UploadTemplate(ctx context.Context, templateID string, f File) error {
	sentBefore, err := s.templates.MarkTemplateSent(ctx, templateID, time.Now())
	if err != nil {
		return err
	}
	resent, err := s.send(ctx, func() error {
		doc, err := f.document()
		if err != nil {
			return err
		}
		return s.v.UploadTemplate(ctx, templateID, doc)
	})
	if (resent || sentBefore) && vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
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

// ResumeUploadContract resumes an interrupted UploadContract:
// uploaddocs.api guards contract ids (2510 合同id重复), so a contract that
// exists is the earlier attempt's success and is not sent again; one that
// does not is sent.
func (s *Service) ResumeUploadContract(ctx context.Context, contractID, title string, f File) error {
	exists, err := s.contractExists(ctx, contractID)
	if err != nil || exists {
		return err
	}
	return s.UploadContract(ctx, contractID, title, f)
}

// GenerateContract fills a template into contract g.ContractID. A
// duplicate met by our own re-send is a success when the contract exists;
// the links are then the signed browser links of GetContractLinks.
func (s *Service) GenerateContract(ctx context.Context, g fadada.Generate) (fadada.Generated, error) {
	var out fadada.Generated
	resent, err := s.send(ctx, func() error {
		var err error
		out, err = s.v.GenerateContract(ctx, g)
		return err
	})
	if resent && vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		if err := s.confirmContract(ctx, g.ContractID, err); err != nil {
			return fadada.Generated{}, err
		}
		return s.links(g.ContractID)
	}
	return out, err
}

// ResumeGenerateContract resumes an interrupted GenerateContract:
// generate_contract.api guards contract ids (2510 合同id重复), so a contract
// that exists is the earlier attempt's success (its links are then the
// signed browser links of GetContractLinks) and is not generated again.
func (s *Service) ResumeGenerateContract(ctx context.Context, g fadada.Generate) (fadada.Generated, error) {
	exists, err := s.contractExists(ctx, g.ContractID)
	if err != nil {
		return fadada.Generated{}, err
	}
	if exists {
		return s.links(g.ContractID)
	}
	return s.GenerateContract(ctx, g)
}

// links are a contract's signed browser links, in place of the ones a
// generate_contract reply would have carried.
func (s *Service) links(contractID string) (fadada.Generated, error) {
	l, err := s.v.ContractLinks(contractID)
	if err != nil {
		return fadada.Generated{}, err
	}
	return fadada.Generated{ViewURL: l.View, DownloadURL: l.Download}, nil
}

// CodeArchived is contractFiling.api's 合同已归档 (the contract is archived).
const CodeArchived = "1402"

// ResumeArchiveContract resumes an interrupted ArchiveContract. Archiving
// is naturally idempotent at the vendor: a second contractFiling.api of
// an archived contract changes nothing and answers 1402 合同已归档, which
// here is the earlier attempt's success.
func (s *Service) ResumeArchiveContract(ctx context.Context, contractID string) (string, error) {
	msg, err := s.v.ContractFiling(ctx, contractID)
	if ve, ok := vendorerr.As(err); ok && ve.Code == CodeArchived {
		return ve.Message, nil
	}
	return msg, err
}

// errFound stops a download once its first bytes show the contract exists.
var errFound = errors.New("contract found")

// contractExists reports whether the vendor has contractID, by starting
// its download (the only read of a contract the API has).
func (s *Service) contractExists(ctx context.Context, contractID string) (bool, error) {
	err := s.v.DownloadContract(ctx, contractID, func(string, io.Reader) error { return errFound })
	switch {
	case err == nil || errors.Is(err, errFound):
		return true, nil
	case vendorerr.IsKind(err, vendorerr.KindNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("read back contract %s: %w", contractID, err)
	}
}

// confirmContract checks that a contract whose re-send met "duplicate id"
// exists, by starting its download; dup is returned when it does not.
func (s *Service) confirmContract(ctx context.Context, contractID string, dup error) error {
	exists, err := s.contractExists(ctx, contractID)
	switch {
	case err != nil:
		return fmt.Errorf("re-sent contract %s met a duplicate: %w", contractID, err)
	case !exists:
		return dup
	}
	return nil
}
