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
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
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

	cid, err := c.RegisterAccount(ctx, "user-1", contracts.AccountPerson)
	if err != nil || cid == "" {
		t.Fatalf("RegisterAccount: got %q, %v, want a customer id", cid, err)
	}
	again, err := c.RegisterAccount(ctx, "user-1", contracts.AccountPerson)
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
	if err := c.UploadDocs(ctx, "C1", "Loan", contracts.Document{Name: "c.pdf", ContentType: "application/pdf", Content: bytes.NewReader(pdf)}); err != nil {
		t.Fatalf("UploadDocs: %v", err)
	}
	if err := c.UploadDocs(ctx, "C1", "Loan", contracts.Document{Name: "c.pdf", Content: bytes.NewReader(pdf)}); !vendorerr.IsKind(err, vendorerr.KindAlreadyExists) {
		t.Errorf("UploadDocs again: got %v, want KindAlreadyExists", err)
	}
	if err := c.UploadTemplate(ctx, "T1", contracts.Document{URL: "https://example.com/t.docx"}); err != nil {
		t.Fatalf("UploadTemplate: %v", err)
	}
	gen, err := c.GenerateContract(ctx, contracts.Generate{TemplateID: "T1", ContractID: "C2", DocTitle: "Gen",
		ParameterMap:  map[string]string{"borrower": "Boss Horse"},
		DynamicTables: []contracts.DynamicTable{{Headers: []string{"n"}, Rows: [][]string{{"1"}}}}})
	if err != nil || gen.ViewURL == "" || gen.DownloadURL == "" {
		t.Fatalf("GenerateContract: got %+v, %v, want links", gen, err)
	}
	if _, err := c.GenerateContract(ctx, contracts.Generate{TemplateID: "NOPE", ContractID: "C3", DocTitle: "x"}); !vendorerr.IsKind(err, vendorerr.KindNotFound) {
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

	// The browser links need no cloud-market signature where the gateway
	// lets them through (TestPages: where it does not).
	links, err := c.ContractLinks("C1")
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range []struct{ url, want string }{{links.View, "<h1>Loan</h1>"}, {links.Download, string(pdf)}} {
		if strings.Contains(link.url, "key") || !strings.Contains(link.url, "msg_digest=") {
			t.Errorf("link %s: want msg_digest and no cloud-market key", link.url)
		}
		resp, err := http.Get(link.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), link.want) {
			t.Errorf("GET %s: got %.60q, want %.40q in it", link.url, body, link.want)
		}
	}
}

// TestPages opens the browser pages where the gateway demands its
// signature: the plain links are refused, OpenPage and OpenAsset pass,
// the PDF comes byte for byte, the view page's assets come, and an unknown
// contract is KindNotFound before anything reaches the consumer.
func TestPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, sim, _ := start(t, "key", app)
	sim.SignLinks(true)
	pdf := fadadasim.PDF("signed pages")
	if err := c.UploadDocs(ctx, "P1", "Lease", contracts.Document{Name: "p.pdf", ContentType: "application/pdf", Content: bytes.NewReader(pdf)}); err != nil {
		t.Fatalf("UploadDocs: %v", err)
	}
	links, err := c.ContractLinks("P1")
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{links.View, links.Download} {
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the gateway's signature: got %d, want 401", link, resp.StatusCode)
		}
	}

	open := func(p fadada.Page, id string) (fadada.PageInfo, string, error) {
		var info fadada.PageInfo
		var got bytes.Buffer
		err := c.OpenPage(ctx, p, id, nil, func(i fadada.PageInfo, body io.Reader) error {
			info = i
			_, err := io.Copy(&got, body)
			return err
		})
		return info, got.String(), err
	}
	info, got, err := open(fadada.PageDownload, "P1")
	if err != nil || got != string(pdf) || info.ContentType != "application/pdf" || info.ContentLength != int64(len(pdf)) {
		t.Errorf("OpenPage download: got %+v, %d bytes (identical: %t), %v; want the PDF, its type and length", info, len(got), got == string(pdf), err)
	}
	info, got, err = open(fadada.PageView, "P1")
	if err != nil || !strings.HasPrefix(info.ContentType, "text/html") || !strings.Contains(got, "<h1>Lease</h1>") ||
		!strings.Contains(got, `href="`+fadadasim.ViewerCSSPath+`"`) {
		t.Errorf("OpenPage view: got %+v, %q, %v; want the HTML page with its relative style sheet", info, got, err)
	}
	for _, p := range []fadada.Page{fadada.PageView, fadada.PageDownload} {
		called := false
		err := c.OpenPage(ctx, p, "NOPE", nil, func(fadada.PageInfo, io.Reader) error { called = true; return nil })
		if ve, ok := vendorerr.As(err); !ok || ve.Kind != vendorerr.KindNotFound || ve.Code != "1802" || called {
			t.Errorf("OpenPage %s of an unknown contract: got %v (consumer called: %t), want KindNotFound 1802 and no consumer", p, err, called)
		}
	}

	var css bytes.Buffer
	err = c.OpenAsset(ctx, fadadasim.ViewerCSSPath, "v=1", func(i fadada.PageInfo, body io.Reader) error {
		info = i
		_, err := io.Copy(&css, body)
		return err
	})
	if err != nil || css.String() != fadadasim.ViewerCSS || !strings.HasPrefix(info.ContentType, "text/css") {
		t.Errorf("OpenAsset: got %+v, %q, %v; want the style sheet", info, css.String(), err)
	}
	for _, path := range []string{"uploaddocs.api", "static/../contractFiling.api", "a//b", "../x", "x.API/y"} {
		err := c.OpenAsset(ctx, path, "", func(fadada.PageInfo, io.Reader) error { return nil })
		if !vendorerr.IsKind(err, vendorerr.KindUnsendable) {
			t.Errorf("OpenAsset %q: got %v, want KindUnsendable (never an endpoint, never out of the root)", path, err)
		}
	}
	if got := sim.Calls(fadada.PathContractFiling) + sim.Calls(fadada.PathUploadDocs); got != 1 {
		t.Errorf("got %d filing and upload calls, want 1 (the upload)", got)
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
			_, err := c.RegisterAccount(context.Background(), "u", contracts.AccountCompany)
			ve, ok := vendorerr.As(err)
			if !ok || ve.Kind != vendorerr.KindAuth || ve.Code != tt.wantCode {
				t.Fatalf("RegisterAccount: got %v, want KindAuth with code %q", err, tt.wantCode)
			}
		})
	}
}
