package server

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/golden"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/links"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the mapping's output")

// The samples in testdata are the raw document's (vendor-docs/esign-fadada.txt:
// *_ok.json), the simulator's where the document has none (*_sim.json), and
// variants whose fields of one type all differ (*_distinct.json), so that a
// mapping that swaps two of them changes the output.

// fadadaStub answers each endpoint with one sample (downLoadContract with a
// PDF) and records the form of every call.
type fadadaStub struct {
	t       *testing.T
	replies map[string]string // endpoint → sample file
	mu      sync.Mutex
	sent    []any
}

func (f *fadadaStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.URL.Path = strings.TrimPrefix(r.URL.Path, "/api2")
	if err := r.ParseForm(); err != nil {
		f.t.Error(err)
	}
	form := map[string][]string{}
	for k, v := range r.PostForm {
		form[k] = v
	}
	f.mu.Lock()
	f.sent = append(f.sent, map[string]any{"path": r.URL.Path, "form": form})
	f.mu.Unlock()
	if r.URL.Path == fadada.PathDownloadContract {
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write([]byte("%PDF-1.4\n"))
		return
	}
	file, ok := f.replies[r.URL.Path]
	if !ok {
		f.t.Errorf("unexpected call to %s", r.URL.Path)
		http.NotFound(w, r)
		return
	}
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		f.t.Error(err)
	}
	// The vendor's replies come as text/html.
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	_, _ = w.Write(body)
}

// toStub sends every request to addr, whatever its host.
type toStub struct{ addr string }

func (s toStub) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host = s.addr
	return http.DefaultTransport.RoundTrip(r)
}

// goldenNow is the clock of the msg_digest timestamps and of the links.
func goldenNow() time.Time { return time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC) }

// goldenServer is a Server over a Fadada client calling stub: with Fadada's
// signed links, or with the service's own when proxy.
func goldenServer(t *testing.T, stub *fadadaStub, proxy bool) *Server {
	t.Helper()
	srv := httptest.NewServer(stub)
	t.Cleanup(srv.Close)
	// A fixed base URL, so that the signed links are the same every run;
	// the transport takes every call to the stub.
	hc := &http.Client{Transport: toStub{addr: srv.Listener.Addr().String()}}
	client, err := fadada.New(hc, "http://fadada.example/api2", fadada.Credentials{AppID: "404068", AppSecret: "PqDC96A66qRN6fBQwvJaD4Yu"},
		fadada.Options{Now: goldenNow})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{LinkValidity: 15 * time.Minute}
	if proxy {
		tokens, err := links.NewTokens([]byte(strings.Repeat("k", links.MinSecretBytes)), time.Hour, goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		issuer, err := links.NewIssuer("https://esign.example.com", tokens)
		if err != nil {
			t.Fatal(err)
		}
		opts.Links = issuer
	}
	return New(contracts.New(client, nil), nil, opts)
}

// TestMappingGolden runs each RPC against a Fadada that answers with one
// sample, and checks field by field against testdata/<name>.golden.json
// both the forms that reached Fadada and the RPC's answer.
func TestMappingGolden(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		replies map[string]string
		proxy   bool
		call    func(*Server) (proto.Message, error)
	}{
		{"register_account", map[string]string{fadada.PathAccountRegister: "account_register_sim.json"}, false, func(s *Server) (proto.Message, error) {
			return s.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: "open-id-1", AccountType: esignv1.AccountType_ACCOUNT_TYPE_COMPANY})
		}},
		{"apply_certificate", map[string]string{fadada.PathApplyCert: "apply_cert_ok.json"}, false, func(s *Server) (proto.Message, error) {
			return s.ApplyCertificate(ctx, &esignv1.ApplyCertificateRequest{CustomerId: "customer-id-2", VerifiedSerialno: "verified-serialno-3"})
		}},
		{"add_signature", map[string]string{fadada.PathAddSignature: "add_signature_ok.json"}, false, func(s *Server) (proto.Message, error) {
			return s.AddSignature(ctx, &esignv1.AddSignatureRequest{CustomerId: "customer-id-4", File: pngHeader})
		}},
		{"custom_signature", map[string]string{fadada.PathCustomSignature: "custom_signature_distinct.json"}, false, func(s *Server) (proto.Message, error) {
			return s.CreateCustomSignature(ctx, &esignv1.CreateCustomSignatureRequest{CustomerId: "customer-id-5", Content: "content-6"})
		}},
		{"generate_contract", map[string]string{fadada.PathGenerateContract: "generate_contract_ok.json"}, false, generateContract},
		{"generate_contract_proxy", map[string]string{fadada.PathGenerateContract: "generate_contract_ok.json"}, true, generateContract},
		{"contract_links", nil, false, contractLinks},
		{"contract_links_proxy", nil, true, contractLinks},
		{"archive_contract", map[string]string{fadada.PathContractFiling: "contract_filing_ok.json"}, false, func(s *Server) (proto.Message, error) {
			return s.ArchiveContract(ctx, &esignv1.ArchiveContractRequest{ContractId: "contract-id-7"})
		}},
		{"person_cert_ok", map[string]string{fadada.PathPersonCertInfo: "person_cert_ok.json"}, false, personCert},
		{"person_cert_distinct", map[string]string{fadada.PathPersonCertInfo: "person_cert_distinct.json"}, false, personCert},
		{"company_cert_ok", map[string]string{fadada.PathCompanyCertInfo: "company_cert_ok.json"}, false, companyCert},
		{"company_cert_distinct", map[string]string{fadada.PathCompanyCertInfo: "company_cert_distinct.json"}, false, companyCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stub := &fadadaStub{t: t, replies: tt.replies}
			resp, err := tt.call(goldenServer(t, stub, tt.proxy))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			stub.mu.Lock()
			sent := stub.sent
			stub.mu.Unlock()
			checkGolden(t, tt.name, sent, resp)
		})
	}
}

// TestOperationMappingGolden maps request_id records (kept requests, every
// string distinct) as the operator sees them.
func TestOperationMappingGolden(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 6, 8, 1, 2, 3_000_000, time.UTC)
	kept := func(m proto.Message) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		op   idempotency.Operation
	}{
		{"operation_generate", idempotency.Operation{
			RequestID: "request-id-11", Method: MethodGenerateContract, State: "UNKNOWN", Note: "note-12", CreatedAt: at,
			Request: kept(&esignv1.GenerateContractRequest{RequestId: "request-id-11", TemplateId: "template-id-13", ContractId: "contract-id-14"}),
		}},
		{"operation_archive", idempotency.Operation{
			RequestID: "request-id-15", Method: MethodArchiveContract, State: "APPLIED", Note: "note-16", CreatedAt: at,
			Request: kept(&esignv1.ArchiveContractRequest{RequestId: "request-id-15", ContractId: "contract-id-17"}),
			Resolutions: []idempotency.Resolution{{Outcome: idempotency.Applied, By: "resolved-by-18", Note: "resolution-note-19",
				At: at.Add(time.Hour)}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, tt.name, nil, operation(tt.op))
		})
	}
}

// pngHeader is the start of a PNG: enough for the seal's type check.
var pngHeader = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

func generateContract(s *Server) (proto.Message, error) {
	return s.GenerateContract(context.Background(), &esignv1.GenerateContractRequest{
		TemplateId: "template-id-21", ContractId: "contract-id-22", DocTitle: "doc-title-23",
		ParameterMap: map[string]string{"key-24": "value-25"},
		DynamicTables: []*esignv1.DynamicTable{{
			Headers: []string{"header-26", "header-27"}, Rows: []*esignv1.DynamicTable_Row{{Cells: []string{"cell-28", "cell-29"}}},
			ColWidthPercent: []int32{40, 60}, CellHeight: 1.5, CellHorizontalAlignment: 1, CellVerticalAlignment: 2, PageBegin: 3,
			TheFirstHeader: "the-first-header-30",
		}},
		FontSize: 12.5, FontType: esignv1.FontType_FONT_TYPE_HEI,
	})
}

func contractLinks(s *Server) (proto.Message, error) {
	return s.GetContractLinks(context.Background(), &esignv1.GetContractLinksRequest{ContractId: "contract-id-31"})
}

func personCert(s *Server) (proto.Message, error) {
	return s.GetPersonCertification(context.Background(), &esignv1.GetPersonCertificationRequest{VerifiedSerialno: "verified-serialno-32"})
}

func companyCert(s *Server) (proto.Message, error) {
	return s.GetCompanyCertification(context.Background(), &esignv1.GetCompanyCertificationRequest{VerifiedSerialno: "verified-serialno-33"})
}

// checkGolden is golden.Check under this package's -update flag.
func checkGolden(t *testing.T, name string, sent []any, resp proto.Message) {
	t.Helper()
	golden.Check(t, name, sent, resp, *update)
}
