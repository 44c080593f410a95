package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
	"github.com/vendorgate/vendorgate/services/esign/internal/links"
)

// openLink opens link as a person's browser does: plain net/http, no API
// key, no signature, redirects followed.
func openLink(t *testing.T, link string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatalf("GET %s: %v", link, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", link, err)
	}
	return resp, body
}

// pageRefs finds the references of a view page (href and data attributes).
var pageRefs = regexp.MustCompile(`(?:href|data)="([^"]*)"`)

// checkViewPage wants resp a contract's view page titled title, whose
// relative references all open, with the embedded PDF equal to pdf.
func checkViewPage(t *testing.T, resp *http.Response, body []byte, title string, pdf []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), "<h1>"+title+"</h1>") {
		t.Fatalf("view link: got %d %s %.200q, want the view page of %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, title)
	}
	refs := pageRefs.FindAllStringSubmatch(string(body), -1)
	if len(refs) == 0 {
		t.Fatalf("view page: got no references in %q", body)
	}
	for _, m := range refs {
		ref, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		r, b := openLink(t, resp.Request.URL.ResolveReference(ref).String())
		want := []byte(fadadasim.ViewerCSS)
		if strings.Contains(ref.Path, ".api") {
			want = pdf
		}
		if r.StatusCode != http.StatusOK || !bytes.Equal(b, want) {
			t.Errorf("view page reference %s: got %d %.60q, want 200 and %.40q", ref, r.StatusCode, b, want)
		}
	}
}

// TestLinksOpenWithoutKey: in the sandbox (whose Fadada, like the real
// gateway, asks the browser pages for the cloud-market signature), the
// links GetContractLinks and GenerateContract return open with plain
// net/http, no key: the view page with its references, and the PDF byte
// for byte as uploaded; while the API itself still wants the key.
func TestLinksOpenWithoutKey(t *testing.T) {
	t.Parallel()
	const key = "vg_sandbox-dev_links-test-key-0007"
	addr := startService(t, "AUTH_MODE=api-key", "SANDBOX_API_KEY="+key)
	c := dial(t, addr)
	ctx, cancel := context.WithTimeout(withKey(context.Background(), key), 30*time.Second)
	defer cancel()
	pdf := randomPDF(300 << 10)
	if _, err := uploadContract(ctx, c, "LNK1", "Lease", pdf, 64<<10); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetContractLinks(context.Background(), &esignv1.GetContractLinksRequest{ContractId: "LNK1"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetContractLinks without a key: got %v, want Unauthenticated", err)
	}
	l, err := c.GetContractLinks(ctx, &esignv1.GetContractLinksRequest{ContractId: "LNK1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.GetViewUrl(), "http://"+addr+links.PathPrefix) || !strings.HasPrefix(l.GetDownloadUrl(), "http://"+addr+links.PathPrefix) {
		t.Errorf("GetContractLinks: got %v, want links under http://%s%s", l, addr, links.PathPrefix)
	}
	resp, body := openLink(t, l.GetDownloadUrl())
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, pdf) || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("download link: got %d %s, %d bytes (identical: %t), want 200 and the uploaded %d bytes",
			resp.StatusCode, resp.Header.Get("Content-Type"), len(body), bytes.Equal(body, pdf), len(pdf))
	}
	resp, body = openLink(t, l.GetViewUrl())
	checkViewPage(t, resp, body, "Lease", pdf)

	ts, err := c.UploadTemplate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Send(&esignv1.UploadTemplateRequest{TemplateId: "LNKT", File: fadadasim.PDF("{who}")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	gen, err := c.GenerateContract(ctx, &esignv1.GenerateContractRequest{TemplateId: "LNKT", ContractId: "LNK2", DocTitle: "Loan",
		ParameterMap: map[string]string{"who": "Boss Horse"}})
	if err != nil || gen.GetExpireTime().AsTime().Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("GenerateContract: got %v, %v, want links for an hour", gen, err)
	}
	resp, body = openLink(t, gen.GetDownloadUrl())
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("who: Boss Horse")) {
		t.Errorf("GenerateContract's download link: got %d %.60q, want the generated PDF", resp.StatusCode, body)
	}
	resp, body = openLink(t, gen.GetViewUrl())
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<h1>Loan</h1>") {
		t.Errorf("GenerateContract's view link: got %d %.60q, want the view page", resp.StatusCode, body)
	}

	_, err = c.GetContractLinks(ctx, &esignv1.GetContractLinksRequest{ContractId: "NOSUCH1"})
	if status.Code(err) != codes.NotFound || errorReason(err) != "VENDOR_NOT_FOUND" {
		t.Errorf("GetContractLinks of an unknown contract: got %v, want NotFound VENDOR_NOT_FOUND", err)
	}
}

// TestLinksAcrossReplicas: outside the sandbox, the links are under
// ESIGN_LINK_BASE_URL and open at any replica that has the same
// ESIGN_LINK_SECRET, and at none that has another; a tampered or
// cross-contract link is 404 LINK_NOT_FOUND without a vendor call; and the
// real gateway's signature, which the links never carry, is what the
// service adds.
func TestLinksAcrossReplicas(t *testing.T) {
	t.Parallel()
	db := sqlstoretest.SQLiteURL(t)
	h, env := startVendor(t, db)
	h.sim.SignLinks(true)
	h.addr, _ = runService(t, env)
	second, _ := runService(t, append(env, "ESIGN_DATABASE_URL="+sqlstoretest.SQLiteURL(t)))
	other, _ := runService(t, append(env, "ESIGN_DATABASE_URL="+sqlstoretest.SQLiteURL(t), "ESIGN_LINK_SECRET=another-secret-0123456789abcdefghij"))
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pdf := fadadasim.PDF("replicated")
	for _, id := range []string{"REP1", "REP2"} {
		if _, err := uploadContract(ctx, c, id, "Lease "+id, pdf, 1024); err != nil {
			t.Fatal(err)
		}
	}
	l, err := c.GetContractLinks(ctx, &esignv1.GetContractLinksRequest{ContractId: "REP1"})
	if err != nil || !strings.HasPrefix(l.GetDownloadUrl(), linkOrigin+links.PathPrefix) {
		t.Fatalf("GetContractLinks: got %v, %v, want links under ESIGN_LINK_BASE_URL %s", l, err, linkOrigin)
	}
	for _, addr := range []string{h.addr, second} {
		resp, body := openLink(t, openable(l.GetDownloadUrl(), addr))
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, pdf) {
			t.Errorf("download link at %s: got %d %.40q, want the PDF", addr, resp.StatusCode, body)
		}
	}
	resp, body := openLink(t, openable(l.GetViewUrl(), second))
	checkViewPage(t, resp, body, "Lease REP1", pdf)

	before := h.sim.CallCounts()
	token := strings.TrimPrefix(l.GetViewUrl(), linkOrigin+links.PathPrefix)
	for _, tt := range []struct{ name, url string }{
		{"signed with another secret", openable(l.GetDownloadUrl(), other)},
		{"tampered", openable(l.GetDownloadUrl(), h.addr) + "A"},
		{"another contract's PDF through the view page", "http://" + h.addr + links.PathPrefix + token + "/downLoadContract.api?contract_id=REP2"},
		{"another endpoint through the view page", "http://" + h.addr + links.PathPrefix + token + "/contractFiling.api?contract_id=REP1"},
	} {
		resp, body := openLink(t, tt.url)
		var st struct {
			Details []struct {
				Reason string `json:"reason"`
			} `json:"details"`
		}
		_ = json.Unmarshal(body, &st)
		if resp.StatusCode != http.StatusNotFound || len(st.Details) == 0 || st.Details[0].Reason != links.ReasonLinkNotFound {
			t.Errorf("%s: got %d %s, want 404 %s", tt.name, resp.StatusCode, body, links.ReasonLinkNotFound)
		}
	}
	if after := h.sim.CallCounts(); !maps.Equal(before, after) {
		t.Errorf("refused links: Fadada's calls went from %v to %v, want none", before, after)
	}
}

// TestLinksVendorMode: ESIGN_LINK_MODE=vendor hands out Fadada's own
// signed links, as before: they open where the gateway lets a browser
// through, and are refused where it asks for its signature (the real
// gateway), which is why the service's own links are the default.
func TestLinksVendorMode(t *testing.T) {
	t.Parallel()
	h := startWithVendor(t, sqlstoretest.SQLiteURL(t), "ESIGN_LINK_MODE=vendor")
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pdf := fadadasim.PDF("vendor links")
	if _, err := uploadContract(ctx, c, "VND1", "t", pdf, 1024); err != nil {
		t.Fatal(err)
	}
	l, err := c.GetContractLinks(ctx, &esignv1.GetContractLinksRequest{ContractId: "VND1"})
	if err != nil || !strings.Contains(l.GetDownloadUrl(), "msg_digest=") || l.GetExpireTime().AsTime().After(time.Now().Add(16*time.Minute)) {
		t.Fatalf("GetContractLinks: got %v, %v, want Fadada's signed links for 15 minutes", l, err)
	}
	if resp, body := openLink(t, l.GetDownloadUrl()); resp.StatusCode != http.StatusOK || !bytes.Equal(body, pdf) {
		t.Errorf("Fadada's download link, gateway open: got %d %.40q, want the PDF", resp.StatusCode, body)
	}
	h.sim.SignLinks(true)
	if resp, _ := openLink(t, l.GetDownloadUrl()); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Fadada's download link, gateway asking its signature: got %d, want 401", resp.StatusCode)
	}
	if resp, _ := openLink(t, "http://"+h.addr+links.PathPrefix+"anything"); resp.StatusCode == http.StatusOK {
		t.Errorf("the links route in vendor mode: got 200, want it not served")
	}
}

// TestDownloadsCutShort: when Fadada's transfer breaks after the first
// bytes went out, a REST download and a link both break their response,
// so the client never takes a short file for the whole one.
func TestDownloadsCutShort(t *testing.T) {
	t.Parallel()
	h := startWithVendor(t, sqlstoretest.SQLiteURL(t))
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := uploadContract(ctx, c, "CUT1", "t", randomPDF(1<<20), 64<<10); err != nil {
		t.Fatal(err)
	}
	l, err := c.GetContractLinks(ctx, &esignv1.GetContractLinksRequest{ContractId: "CUT1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, url string }{
		{"REST DownloadContract", "http://" + h.addr + "/v1/esign/contracts/CUT1/content"},
		{"download link", openable(l.GetDownloadUrl(), h.addr)},
	} {
		h.gate.cutReplies(fadada.PathDownloadContract, 256<<10)
		resp, err := http.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil || resp.StatusCode != http.StatusOK {
			t.Errorf("%s broken after 256 KiB: got %d, %d bytes and a clean end, want 200 and a broken body", tt.name, resp.StatusCode, len(got))
		}
	}
}
