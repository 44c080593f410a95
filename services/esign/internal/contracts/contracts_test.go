package contracts

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/store"
)

// openStore opens a store on url, closed when the test ends.
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// newService is a Service over v with a fresh SQLite store.
func newService(t *testing.T, v Vendor) *Service {
	t.Helper()
	return New(v, openStore(t, sqlstoretest.SQLiteURL(t)), Options{ResendBackoff: time.Millisecond})
}

// fakeVendor answers each send with the next error of its script and
// records what each send read.
type fakeVendor struct {
	mu       sync.Mutex
	script   []error
	sends    int
	bodies   []string
	download error
}

func (f *fakeVendor) next(doc fadada.Document) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	body := ""
	if doc.Content != nil {
		b, _ := io.ReadAll(doc.Content)
		body = string(b)
	}
	f.bodies = append(f.bodies, body)
	f.sends++
	if len(f.script) == 0 {
		return nil
	}
	err := f.script[0]
	f.script = f.script[1:]
	return err
}

func (f *fakeVendor) UploadDocs(_ context.Context, _, _ string, doc fadada.Document) error {
	return f.next(doc)
}

func (f *fakeVendor) UploadTemplate(_ context.Context, _ string, doc fadada.Document) error {
	return f.next(doc)
}

func (f *fakeVendor) GenerateContract(context.Context, fadada.Generate) (fadada.Generated, error) {
	return fadada.Generated{ViewURL: "v"}, f.next(fadada.Document{})
}

func (f *fakeVendor) ContractLinks(id string) (fadada.Links, error) {
	return fadada.Links{View: "view/" + id, Download: "download/" + id}, nil
}

func (f *fakeVendor) ContractFiling(context.Context, string) (string, error) {
	return "操作成功", f.next(fadada.Document{})
}

func (f *fakeVendor) DownloadContract(_ context.Context, _ string, consume fadada.FileConsumer) error {
	if f.download != nil {
		return f.download
	}
	return consume("application/pdf", strings.NewReader("%PDF-"))
}

var (
	unknown = &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: "fadada"}
	dup     = &vendorerr.Error{Kind: vendorerr.KindAlreadyExists, Vendor: "fadada", Code: "2510"}
	missing = &vendorerr.Error{Kind: vendorerr.KindNotFound, Vendor: "fadada", Code: "1802"}
)

func TestUploadContractResolution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		script    []error
		download  error
		wantKind  vendorerr.Kind // -1: success
		wantSends int
	}{
		{"lost reply, re-send meets duplicate, contract exists", []error{unknown, dup}, nil, -1, 2},
		{"lost reply, re-send meets duplicate, contract missing", []error{unknown, dup}, missing, vendorerr.KindAlreadyExists, 2},
		{"caller's own duplicate stays", []error{dup}, nil, vendorerr.KindAlreadyExists, 1},
		{"unknown three times stays unknown", []error{unknown, unknown, unknown}, nil, vendorerr.KindOutcomeUnknown, 3},
		{"first send lands", nil, nil, -1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &fakeVendor{script: tt.script, download: tt.download}
			s := newService(t, v)
			err := s.UploadContract(context.Background(), "C1", "t", File{Name: "c.pdf", Content: strings.NewReader("%PDF-1.4 body")})
			checkKind(t, err, tt.wantKind)
			if v.sends != tt.wantSends {
				t.Errorf("sends: got %d, want %d", v.sends, tt.wantSends)
			}
			for i, b := range v.bodies {
				if b != "%PDF-1.4 body" {
					t.Errorf("send %d read %q, want the whole file again", i+1, b)
				}
			}
		})
	}
}

func TestUploadTemplateDuplicateOnlyWhenSentHere(t *testing.T) {
	t.Parallel()
	v := &fakeVendor{script: []error{dup}}
	s := newService(t, v)
	f := File{URL: "https://example.com/t.pdf"}
	checkKind(t, s.UploadTemplate(context.Background(), "T1", f), vendorerr.KindAlreadyExists)

	// A reply lost on its way to the caller: the caller sends again.
	v = &fakeVendor{script: []error{nil, dup}}
	s = newService(t, v)
	checkKind(t, s.UploadTemplate(context.Background(), "T2", f), -1)
	checkKind(t, s.UploadTemplate(context.Background(), "T2", f), -1)
	if v.sends != 2 {
		t.Errorf("sends: got %d, want 2", v.sends)
	}
}

func TestGenerateContractResolution(t *testing.T) {
	t.Parallel()
	v := &fakeVendor{script: []error{unknown, dup}}
	s := newService(t, v)
	out, err := s.GenerateContract(context.Background(), fadada.Generate{TemplateID: "T", ContractID: "C"})
	checkKind(t, err, -1)
	if out.ViewURL != "view/C" {
		t.Errorf("view url: got %q, want the signed link view/C", out.ViewURL)
	}
}

// TestUploadTemplateSentSetSurvivesRestart: a template sent before a
// restart (a new store and Service on the same database) is still ours,
// so the re-send's duplicate is a success.
func TestUploadTemplateSentSetSurvivesRestart(t *testing.T) {
	t.Parallel()
	url := sqlstoretest.SQLiteURL(t)
	f := File{URL: "https://example.com/t.pdf"}
	st, err := store.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkKind(t, New(&fakeVendor{script: []error{unknown, unknown, unknown}}, st, Options{ResendBackoff: time.Millisecond}).
		UploadTemplate(context.Background(), "TR", f), vendorerr.KindOutcomeUnknown)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	v := &fakeVendor{script: []error{dup}}
	checkKind(t, New(v, openStore(t, url), Options{}).UploadTemplate(context.Background(), "TR", f), -1)
}

// TestUploadTemplateNotSentIsForgotten: a first send that never left
// leaves the id not ours, so a later duplicate stays ALREADY_EXISTS.
func TestUploadTemplateNotSentIsForgotten(t *testing.T) {
	t.Parallel()
	notSent := &vendorerr.Error{Kind: vendorerr.KindCircuitOpen, Vendor: "fadada"}
	v := &fakeVendor{script: []error{notSent, dup}}
	s := newService(t, v)
	f := File{URL: "https://example.com/t.pdf"}
	checkKind(t, s.UploadTemplate(context.Background(), "TN", f), vendorerr.KindCircuitOpen)
	checkKind(t, s.UploadTemplate(context.Background(), "TN", f), vendorerr.KindAlreadyExists)
}

func TestResume(t *testing.T) {
	t.Parallel()
	archived := &vendorerr.Error{Kind: vendorerr.KindRefused, Vendor: "fadada", Code: CodeArchived, Message: "合同已归档"}
	tests := []struct {
		name      string
		script    []error
		download  error
		call      func(s *Service) error
		wantKind  vendorerr.Kind
		wantSends int
	}{
		{"upload: contract exists, not sent again", nil, nil, func(s *Service) error {
			return s.ResumeUploadContract(context.Background(), "C1", "t", File{URL: "https://example.com/c.pdf"})
		}, -1, 0},
		{"upload: contract missing, sent", nil, missing, func(s *Service) error {
			return s.ResumeUploadContract(context.Background(), "C1", "t", File{URL: "https://example.com/c.pdf"})
		}, -1, 1},
		{"generate: contract exists, not sent again", nil, nil, func(s *Service) error {
			out, err := s.ResumeGenerateContract(context.Background(), fadada.Generate{TemplateID: "T", ContractID: "C2"})
			if err == nil && out.DownloadURL != "download/C2" {
				t.Errorf("download url: got %q, want download/C2", out.DownloadURL)
			}
			return err
		}, -1, 0},
		{"generate: contract missing, sent", nil, missing, func(s *Service) error {
			_, err := s.ResumeGenerateContract(context.Background(), fadada.Generate{TemplateID: "T", ContractID: "C2"})
			return err
		}, -1, 1},
		{"archive: already archived is the earlier success", []error{archived}, nil, func(s *Service) error {
			msg, err := s.ResumeArchiveContract(context.Background(), "C3")
			if err == nil && msg != "合同已归档" {
				t.Errorf("message: got %q, want 合同已归档", msg)
			}
			return err
		}, -1, 1},
		{"archive: another refusal stays", []error{missing}, nil, func(s *Service) error {
			_, err := s.ResumeArchiveContract(context.Background(), "C3")
			return err
		}, vendorerr.KindNotFound, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &fakeVendor{script: tt.script, download: tt.download}
			checkKind(t, tt.call(newService(t, v)), tt.wantKind)
			if v.sends != tt.wantSends {
				t.Errorf("sends: got %d, want %d", v.sends, tt.wantSends)
			}
		})
	}
}

func checkKind(t *testing.T, err error, want vendorerr.Kind) {
	t.Helper()
	if want == -1 {
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
		return
	}
	if !vendorerr.IsKind(err, want) {
		t.Fatalf("got %v, want %s", err, want)
	}
}
