package fadada_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
)

var app = fadada.Credentials{AppID: "404068", AppSecret: "PqDC96A66qRN6fBQwvJaD4Yu"}

// start runs a simulator over real HTTP and returns a client of it signed
// with secretKey and app.
func start(t *testing.T, secretKey string, creds fadada.Credentials) (*fadada.Client, *fadadasim.Simulator, string) {
	t.Helper()
	sim, err := fadadasim.New(fadadasim.Options{Keys: map[string]string{"id": "key"}, App: app})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: "id", SecretKey: secretKey, Base: vendorcall.NewTransport()}}
	c, err := fadada.New(hc, srv.URL+fadadasim.Prefix, creds, fadada.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c, sim, srv.URL
}

// TestFlowAgainstSimulator runs every endpoint through both signing layers.
func TestFlowAgainstSimulator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, sim, _ := start(t, "key", app)

	cid, err := c.RegisterAccount(ctx, "user-1", fadada.AccountPerson)
	if err != nil || cid == "" {
		t.Fatalf("RegisterAccount: got %q, %v, want a customer id", cid, err)
	}
	again, err := c.RegisterAccount(ctx, "user-1", fadada.AccountPerson)
	if err != nil || again != cid {
		t.Fatalf("RegisterAccount again: got %q, %v, want %q", again, err, cid)
	}
	if _, err := c.AddSignature(ctx, cid, fadadasim.PDF()); !vendorerr.IsKind(err, vendorerr.KindInvalidArgument) {
		t.Errorf("AddSignature of a PDF: got %v, want KindInvalidArgument", err)
	}
	seal, err := c.CustomSignature(ctx, cid, "张三")
	if err != nil || http.DetectContentType(seal) != "image/png" {
		t.Fatalf("CustomSignature: got %d bytes, %v, want a PNG", len(seal), err)
	}
	if _, err := c.AddSignature(ctx, cid, seal); !vendorerr.IsKind(err, vendorerr.KindRefused) {
		t.Errorf("AddSignature before certification: got %v, want KindRefused (1302)", err)
	}
	if err := c.ApplyCert(ctx, cid, "SERIAL1"); err != nil {
		t.Fatalf("ApplyCert: %v", err)
	}
	if err := c.ApplyCert(ctx, cid, "SERIAL1"); !vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		t.Errorf("ApplyCert again: got %v, want KindAlreadyExists (3201)", err)
	}
	if id, err := c.AddSignature(ctx, cid, seal); err != nil || id == "" {
		t.Errorf("AddSignature: got %q, %v, want a signature id", id, err)
	}
	person, err := c.PersonCertInfo(ctx, "SERIAL1")
	if err != nil || person.Person == nil || person.Person.HeadPhotoPath != fadadasim.PhotoUUID {
		t.Fatalf("PersonCertInfo: got %+v, %v, want a person with a photo", person, err)
	}
	company, err := c.CompanyCertInfo(ctx, "SERIAL1")
	if err != nil || company.Company == nil || company.Manager == nil {
		t.Errorf("CompanyCertInfo: got %+v, %v, want a company and a manager", company, err)
	}
	var photo bytes.Buffer
	if err := c.GetFile(ctx, fadadasim.PhotoUUID, func(ct string, body io.Reader) error {
		if ct != "image/png" {
			t.Errorf("GetFile content type: got %s, want image/png", ct)
		}
		_, err := io.Copy(&photo, body)
		return err
	}); err != nil || photo.Len() == 0 {
		t.Errorf("GetFile: got %d bytes, %v", photo.Len(), err)
	}

	pdf := fadadasim.PDF("contract")
	if err := c.UploadDocs(ctx, "C1", "Loan", fadada.Document{Name: "c.pdf", ContentType: "application/pdf", Content: bytes.NewReader(pdf)}); err != nil {
		t.Fatalf("UploadDocs: %v", err)
	}
	if err := c.UploadDocs(ctx, "C1", "Loan", fadada.Document{Name: "c.pdf", Content: bytes.NewReader(pdf)}); !vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		t.Errorf("UploadDocs again: got %v, want KindAlreadyExists", err)
	}
	if err := c.UploadTemplate(ctx, "T1", fadada.Document{URL: "https://example.com/t.docx"}); err != nil {
		t.Fatalf("UploadTemplate: %v", err)
	}
	gen, err := c.GenerateContract(ctx, fadada.Generate{TemplateID: "T1", ContractID: "C2", DocTitle: "Gen",
		ParameterMap:  map[string]string{"borrower": "Boss Horse"},
		DynamicTables: []fadada.DynamicTable{{Headers: []string{"n"}, Datas: [][]string{{"1"}}}}})
	if err != nil || gen.ViewURL == "" || gen.DownloadURL == "" {
		t.Fatalf("GenerateContract: got %+v, %v, want links", gen, err)
	}
	if _, err := c.GenerateContract(ctx, fadada.Generate{TemplateID: "NOPE", ContractID: "C3", DocTitle: "x"}); !vendorerr.IsKind(err, vendorerr.KindNotFound) {
		t.Errorf("GenerateContract of an unknown template: got %v, want KindNotFound", err)
	}
	var got bytes.Buffer
	if err := c.DownloadContract(ctx, "C2", func(ct string, body io.Reader) error {
		_, err := io.Copy(&got, body)
		return err
	}); err != nil || !strings.Contains(got.String(), "borrower: Boss Horse") {
		t.Errorf("DownloadContract: got %q, %v, want the filled PDF", got.String(), err)
	}
	if err := c.DownloadContract(ctx, "NOPE", func(string, io.Reader) error { return errors.New("consumed") }); !vendorerr.IsKind(err, vendorerr.KindNotFound) {
		t.Errorf("DownloadContract of an unknown contract: got %v, want KindNotFound", err)
	}
	if _, err := c.ContractFiling(ctx, "C2"); err != nil {
		t.Fatalf("ContractFiling: %v", err)
	}
	if _, archived := sim.Contract("C2"); !archived {
		t.Errorf("contract C2: got not archived, want archived")
	}

	// The browser links need no cloud-market signature.
	links, err := c.ContractLinks("C1")
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{links.View, links.Download} {
		if strings.Contains(link, "key") || !strings.Contains(link, "msg_digest=") {
			t.Errorf("link %s: want msg_digest and no cloud-market key", link)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(body, pdf) {
			t.Errorf("GET %s: got %.40q, want the uploaded PDF", link, body)
		}
	}
}

// TestWrongCredentials checks that the simulator refuses a wrong app
// secret (msg_digest, 1003) and a wrong cloud-market key, both KindAuth.
func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		secretKey string
		creds     fadada.Credentials
		wantCode  string
	}{
		{"wrong app secret", "key", fadada.Credentials{AppID: app.AppID, AppSecret: "wrong"}, "1003"},
		{"wrong app id", "key", fadada.Credentials{AppID: "900001", AppSecret: app.AppSecret}, "1002"},
		{"wrong cloud-market key", "nope", app, "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _, _ := start(t, tt.secretKey, tt.creds)
			_, err := c.RegisterAccount(context.Background(), "u", fadada.AccountCompany)
			ve, ok := vendorerr.As(err)
			if !ok || ve.Kind != vendorerr.KindAuth || ve.Code != tt.wantCode {
				t.Fatalf("RegisterAccount: got %v, want KindAuth with code %q", err, tt.wantCode)
			}
		})
	}
}
