package contracts

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
)

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
			s := New(v, Options{ResendBackoff: time.Millisecond})
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
	s := New(v, Options{ResendBackoff: time.Millisecond})
	f := File{URL: "https://example.com/t.pdf"}
	checkKind(t, s.UploadTemplate(context.Background(), "T1", f), vendorerr.KindAlreadyExists)

	// A reply lost on its way to the caller: the caller sends again.
	v = &fakeVendor{script: []error{nil, dup}}
	s = New(v, Options{ResendBackoff: time.Millisecond})
	checkKind(t, s.UploadTemplate(context.Background(), "T2", f), -1)
	checkKind(t, s.UploadTemplate(context.Background(), "T2", f), -1)
	if v.sends != 2 {
		t.Errorf("sends: got %d, want 2", v.sends)
	}
}

func TestGenerateContractResolution(t *testing.T) {
	t.Parallel()
	v := &fakeVendor{script: []error{unknown, dup}}
	s := New(v, Options{ResendBackoff: time.Millisecond})
	_, err := s.GenerateContract(context.Background(), fadada.Generate{TemplateID: "T", ContractID: "C"})
	checkKind(t, err, -1)
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
