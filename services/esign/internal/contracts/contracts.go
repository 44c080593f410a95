// Package contracts holds esign's rules beyond mapping: the uploads and the
// generation that carry the caller's own id are mutations sent once each,
// re-sent explicitly when the vendor may not have seen them, and a
// "duplicate id" met by a re-send is resolved instead of surfaced:
//
//   - a contract (uploaddocs, generate_contract) is a success when it
//     exists at the vendor: its download works;
//   - a template is a success only when this process sent that id itself,
//     since a template cannot be read back.
package contracts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
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
	v    Vendor
	opts Options

	mu   sync.Mutex
	sent map[string]bool // template ids this process has sent
}

// New returns a Service over v.
func New(v Vendor, opts Options) *Service {
	if opts.Resends == 0 {
		opts.Resends = 2
	}
	if opts.ResendBackoff == 0 {
		opts.ResendBackoff = 200 * time.Millisecond
	}
	return &Service{v: v, opts: opts, sent: map[string]bool{}}
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
// success only when this process sent that id before (a reply lost on
// the way back, then the caller's or our own re-send).
func (s *Service) UploadTemplate(ctx context.Context, templateID string, f File) error {
	s.mu.Lock()
	sentBefore := s.sent[templateID]
	s.sent[templateID] = true
	s.mu.Unlock()
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
		// It never left: it is not ours at the vendor.
		s.mu.Lock()
		delete(s.sent, templateID)
		s.mu.Unlock()
	}
	return err
}

// GenerateContract fills a template into contract g.ContractID. A
// duplicate met by our own re-send is a success when the contract exists;
// the vendor's links then come from GetContractLinks.
func (s *Service) GenerateContract(ctx context.Context, g fadada.Generate) (fadada.Generated, error) {
	var out fadada.Generated
	resent, err := s.send(ctx, func() error {
		var err error
		out, err = s.v.GenerateContract(ctx, g)
		return err
	})
	if resent && vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		return fadada.Generated{}, s.confirmContract(ctx, g.ContractID, err)
	}
	return out, err
}

// errFound stops a download once its first bytes show the contract exists.
var errFound = errors.New("contract found")

// confirmContract checks that a contract whose re-send met "duplicate id"
// exists, by starting its download; dup is returned when it does not.
func (s *Service) confirmContract(ctx context.Context, contractID string, dup error) error {
	err := s.v.DownloadContract(ctx, contractID, func(string, io.Reader) error { return errFound })
	switch {
	case err == nil || errors.Is(err, errFound):
		return nil
	case vendorerr.IsKind(err, vendorerr.KindNotFound):
		return dup
	default:
		return fmt.Errorf("re-sent contract %s met a duplicate and could not be read back: %w", contractID, err)
	}
}
