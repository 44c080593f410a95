package contracts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
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
	return New(v, openStore(t, sqlstoretest.SQLiteURL(t)))
}

// body is the file the tests upload.
const body = "%PDF-1.4 body"

// upload is body's Upload.
var upload = Upload{ContractID: "C1", DocTitle: "t", SHA256: sum(body)}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// fakeVendor answers each send with the next error of its script and
// records what each send read; its downloads answer with the next error
// of theirs, or with held (body when empty).
type fakeVendor struct {
	mu        sync.Mutex
	script    []error
	sends     int
	bodies    []string
	downloads []error
	held      string
}

func (f *fakeVendor) next(doc Document) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := ""
	if doc.Content != nil {
		r, _ := io.ReadAll(doc.Content)
		b = string(r)
	}
	f.bodies = append(f.bodies, b)
	f.sends++
	if len(f.script) == 0 {
		return nil
	}
	err := f.script[0]
	f.script = f.script[1:]
	return err
}

func (f *fakeVendor) UploadDocs(_ context.Context, _, _ string, doc Document) error {
	return f.next(doc)
}

func (f *fakeVendor) UploadTemplate(_ context.Context, _ string, doc Document) error {
	return f.next(doc)
}

func (f *fakeVendor) GenerateContract(context.Context, Generate) (Generated, error) {
	return Generated{ViewURL: "v"}, f.next(Document{})
}

func (f *fakeVendor) ContractLinks(id string) (VendorLinks, error) {
	return VendorLinks{View: "view/" + id, Download: "download/" + id}, nil
}

func (f *fakeVendor) ContractFiling(context.Context, string) (string, error) {
	return "操作成功", f.next(Document{})
}

func (f *fakeVendor) DownloadContract(_ context.Context, _ string, consume FileConsumer) error {
	f.mu.Lock()
	var err error
	if len(f.downloads) > 0 {
		err, f.downloads = f.downloads[0], f.downloads[1:]
	}
	held := f.held
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if held == "" {
		held = body
	}
	return consume("application/pdf", strings.NewReader(held))
}

func (f *fakeVendor) RegisterAccount(context.Context, string, AccountType) (string, error) {
	return "customer", f.next(Document{})
}

func (f *fakeVendor) ApplyCert(context.Context, string, string) error { return f.next(Document{}) }

func (f *fakeVendor) AddSignature(context.Context, string, []byte) (string, error) {
	return "signature", f.next(Document{})
}

func (f *fakeVendor) CustomSignature(context.Context, string, string) ([]byte, error) {
	return []byte("seal"), f.next(Document{})
}

func (f *fakeVendor) PersonCertInfo(context.Context, string) (Certification, error) {
	return Certification{Person: &Person{Name: "p"}}, f.next(Document{})
}

func (f *fakeVendor) CompanyCertInfo(context.Context, string) (Certification, error) {
	return Certification{Company: &Company{Name: "c"}}, f.next(Document{})
}

func (f *fakeVendor) GetFile(_ context.Context, _ string, consume FileConsumer) error {
	return consume("image/png", strings.NewReader("photo"))
}

// The fake's refusals that Fadada's client names (fadada.Client's
// CertApplied and Archived).
var (
	certApplied = &vendorerr.Error{Kind: vendorerr.KindAlreadyExists, Vendor: "fadada", Code: "3201", Message: "不能重复申请证书"}
	archived    = &vendorerr.Error{Kind: vendorerr.KindRefused, Vendor: "fadada", Code: "1402", Message: "合同已归档"}
)

func (f *fakeVendor) CertApplied(err error) bool { return errors.Is(err, certApplied) }

func (f *fakeVendor) Archived(err error) (string, bool) {
	if ve, ok := vendorerr.As(err); ok && errors.Is(err, archived) {
		return ve.Message, true
	}
	return "", false
}

var (
	unknown = &vendorerr.Error{Kind: vendorerr.KindOutcomeUnknown, Vendor: "fadada"}
	dup     = &vendorerr.Error{Kind: vendorerr.KindAlreadyExists, Vendor: "fadada", Code: "2510"}
	missing = &vendorerr.Error{Kind: vendorerr.KindNotFound, Vendor: "fadada", Code: "1802"}
	down    = &vendorerr.Error{Kind: vendorerr.KindUnavailable, Vendor: "fadada"}
)

// TestUploadContractSentOnce: an upload is sent once whatever happens;
// what its failure means is the engine's to decide.
func TestUploadContractSentOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   []error
		wantKind vendorerr.Kind // -1: success
	}{
		{"lands", nil, -1},
		{"lost reply stays unknown", []error{unknown}, vendorerr.KindOutcomeUnknown},
		{"caller's own duplicate stays", []error{dup}, vendorerr.KindAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &fakeVendor{script: tt.script}
			checkKind(t, newService(t, v).UploadContract(context.Background(), upload, File{Name: "c.pdf", Content: strings.NewReader(body)}), tt.wantKind)
			if v.sends != 1 || v.bodies[0] != body {
				t.Errorf("got %d sends reading %q, want 1 reading the whole file", v.sends, v.bodies)
			}
		})
	}
}

// TestResumeUploadContract: an interrupted upload is resolved by the
// content Fadada holds, never by its existence alone.
func TestResumeUploadContract(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		v         *fakeVendor
		u         Upload
		wantErr   string // "" success, a reason, or a vendorerr kind's reason
		wantSends int
	}{
		{"the same bytes: the earlier success, not sent again", &fakeVendor{}, upload, "", 0},
		{"a truncated copy: CONTRACT_CONTENT_MISMATCH, not sent again", &fakeVendor{held: body[:6]}, upload, ReasonContentMismatch, 0},
		{"absent: sent", &fakeVendor{downloads: []error{missing}}, upload, "", 1},
		{"absent, then the earlier attempt lands first: its bytes decide", &fakeVendor{downloads: []error{missing}, script: []error{dup}}, upload, "", 1},
		{"absent, then another copy lands first", &fakeVendor{downloads: []error{missing}, script: []error{dup}, held: "%PDF-other"}, upload, ReasonContentMismatch, 1},
		{"Fadada unavailable: nothing sent, the outcome stays unknown", &fakeVendor{downloads: []error{down}}, upload, vendorerr.KindUnavailable.String(), 0},
		{"a doc_url upload: existence is all there is", &fakeVendor{held: "%PDF-fetched"}, Upload{ContractID: "C1", DocTitle: "t", DocURL: "https://example.com/c.pdf"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := File{Name: "c.pdf", Content: strings.NewReader(body)}
			if tt.u.DocURL != "" {
				f = File{URL: tt.u.DocURL}
			}
			err := newService(t, tt.v).ResumeUploadContract(context.Background(), tt.u, f)
			if got := reason(err); got != tt.wantErr {
				t.Errorf("got %v (reason %q), want %q", err, got, tt.wantErr)
			}
			if tt.v.sends != tt.wantSends {
				t.Errorf("sends: got %d, want %d", tt.v.sends, tt.wantSends)
			}
			if tt.wantErr == ReasonContentMismatch {
				if de, _ := domainerr.As(err); de.Metadata["contract_id"] != "C1" || !strings.Contains(de.Message, "C1") {
					t.Errorf("got %v, want contract_id C1 in its metadata and message", err)
				}
			}
		})
	}
}

// reason is err's domain reason or vendor kind's reason, "" for nil.
func reason(err error) string {
	if err == nil {
		return ""
	}
	if de, ok := domainerr.As(err); ok {
		return de.Reason
	}
	if ve, ok := vendorerr.As(err); ok {
		return ve.Kind.String()
	}
	return err.Error()
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
	checkKind(t, New(&fakeVendor{script: []error{unknown}}, st).UploadTemplate(context.Background(), "TR", f), vendorerr.KindOutcomeUnknown)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	v := &fakeVendor{script: []error{dup}}
	checkKind(t, New(v, openStore(t, url)).UploadTemplate(context.Background(), "TR", f), -1)
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
	tests := []struct {
		name      string
		script    []error
		download  error
		call      func(s *Service) error
		wantKind  vendorerr.Kind
		wantSends int
	}{
		{"generate: contract exists, not sent again", nil, nil, func(s *Service) error {
			out, err := s.ResumeGenerateContract(context.Background(), Generate{TemplateID: "T", ContractID: "C2"})
			if err == nil && out.DownloadURL != "download/C2" {
				t.Errorf("download url: got %q, want download/C2", out.DownloadURL)
			}
			return err
		}, -1, 0},
		{"generate: contract missing, sent", nil, missing, func(s *Service) error {
			_, err := s.ResumeGenerateContract(context.Background(), Generate{TemplateID: "T", ContractID: "C2"})
			return err
		}, -1, 1},
		{"generate: contract missing, then the earlier attempt lands first", []error{dup}, missing, func(s *Service) error {
			out, err := s.ResumeGenerateContract(context.Background(), Generate{TemplateID: "T", ContractID: "C2"})
			if err == nil && out.ViewURL != "view/C2" {
				t.Errorf("view url: got %q, want the signed link view/C2", out.ViewURL)
			}
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
		{"archive: not resumed, already archived stays a refusal", []error{archived}, nil, func(s *Service) error {
			_, err := s.ArchiveContract(context.Background(), "C3")
			return err
		}, vendorerr.KindRefused, 1},
		{"certificate: already applied is the earlier success", []error{certApplied}, nil, func(s *Service) error {
			return s.ResumeApplyCertificate(context.Background(), "CU", "SN")
		}, -1, 1},
		{"certificate: another refusal stays", []error{missing}, nil, func(s *Service) error {
			return s.ResumeApplyCertificate(context.Background(), "CU", "SN")
		}, vendorerr.KindNotFound, 1},
		{"certificate: not resumed, already applied stays a refusal", []error{certApplied}, nil, func(s *Service) error {
			return s.ApplyCertificate(context.Background(), "CU", "SN")
		}, vendorerr.KindAlreadyExists, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &fakeVendor{script: tt.script}
			if tt.download != nil {
				v.downloads = []error{tt.download}
			}
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
