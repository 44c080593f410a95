package links_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
	"github.com/vendorgate/vendorgate/services/esign/internal/links"
)

var app = fadada.Credentials{AppID: "404068", AppSecret: "PqDC96A66qRN6fBQwvJaD4Yu"}

const domain = "esign.vendorgate.dev"

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func secret(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, links.MinSecretBytes)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// vendorMeter counts the requests that reach the simulator and the body
// bytes it has written; with cut set, it sends replies unannounced
// (chunked) and breaks their connection after cut bytes.
type vendorMeter struct {
	next     http.Handler
	requests atomic.Int64
	written  atomic.Int64
	cut      atomic.Int64
}

func (m *vendorMeter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.requests.Add(1)
	m.next.ServeHTTP(&meteredWriter{ResponseWriter: w, n: &m.written, cut: m.cut.Load()}, r)
}

type meteredWriter struct {
	http.ResponseWriter
	n    *atomic.Int64
	cut  int64
	sent int64
}

func (w *meteredWriter) WriteHeader(code int) {
	if w.cut > 0 {
		w.Header().Del("Content-Length")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *meteredWriter) Write(p []byte) (int, error) {
	if w.cut > 0 && w.sent+int64(len(p)) > w.cut {
		w.Header().Del("Content-Length")
		n, _ := w.ResponseWriter.Write(p[:w.cut-w.sent])
		_ = http.NewResponseController(w.ResponseWriter).Flush()
		if conn, _, err := http.NewResponseController(w.ResponseWriter).Hijack(); err == nil {
			_ = conn.Close()
		}
		return n, io.ErrClosedPipe
	}
	n, err := w.ResponseWriter.Write(p)
	w.sent += int64(n)
	w.n.Add(int64(n))
	return n, err
}

// harness is the simulator behind a gateway that demands its signature on
// links, a Fadada client of it, and the links served on loopback.
type harness struct {
	sim    *fadadasim.Simulator
	meter  *vendorMeter
	client *fadada.Client
	issuer *links.Issuer
	clock  *clock
	server *httptest.Server
}

func start(t *testing.T) *harness {
	t.Helper()
	sim, err := fadadasim.New(fadadasim.Options{Keys: map[string]string{"id": "key"}, App: app})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	sim.SignLinks(true)
	meter := &vendorMeter{next: sim.Handler()}
	vendor := httptest.NewServer(meter)
	t.Cleanup(vendor.Close)
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: "id", SecretKey: "key", Base: vendorcall.NewTransport()}}
	// The idle timeout is the default's, not a test's short one: the
	// vendor's idle clock runs while the link's client reads nothing (the
	// service then reads nothing from the vendor either), and a client that
	// copies 48 MiB under -race on a loaded machine pauses for seconds
	// (TestLinkBackPressure was cut short once by a 5 s one). The upload's
	// wait for its answer is the same (the longer of the two timeouts).
	cfg := vendorcall.Config{Timeout: 5 * time.Second, IdleTimeout: vendorcall.DefaultIdleTimeout, MaxResponseBytes: 1 << 20, MaxStreamBytes: 64 << 20}
	client, err := fadada.New(hc, vendor.URL+fadadasim.Prefix, app, fadada.Options{Call: cfg})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now()}
	tokens, err := links.NewTokens(secret(t), time.Hour, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for pattern, h := range links.NewHandler(tokens, client, domain, nil).Routes() {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuer, err := links.NewIssuer(srv.URL+"/", tokens)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{sim: sim, meter: meter, client: client, issuer: issuer, clock: clk, server: srv}
}

func (h *harness) upload(t *testing.T, id string, data []byte) {
	t.Helper()
	if err := h.client.UploadDocs(context.Background(), id, "Lease "+id, contracts.Document{Name: id + ".pdf", Content: bytes.NewReader(data)}); err != nil {
		t.Fatalf("UploadDocs %s: %v", id, err)
	}
}

func (h *harness) links(t *testing.T, id string) links.Links {
	t.Helper()
	l, err := h.issuer.ContractLinks(id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// get opens u with plain net/http: no key, no signature.
func get(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp, body
}

// wantNotFound wants a 404 with reason in the REST face's error shape.
func wantNotFound(t *testing.T, what string, resp *http.Response, body []byte, reason string) {
	t.Helper()
	var st struct {
		Details []struct {
			Reason string `json:"reason"`
		} `json:"details"`
	}
	_ = json.Unmarshal(body, &st)
	if resp.StatusCode != http.StatusNotFound || len(st.Details) == 0 || st.Details[0].Reason != reason {
		t.Errorf("%s: got %d %s, want 404 %s", what, resp.StatusCode, body, reason)
	}
}

var refs = regexp.MustCompile(`(?:href|data)="([^"]*)"`)

// TestLinksOpen: a download link gives the PDF byte for byte as an
// attachment; a view link gives Fadada's page, and the page's relative
// references (its style sheet, its embedded PDF) resolve and open
// through the same token, all with the gateway's signature that the
// plain client never sends.
func TestLinksOpen(t *testing.T) {
	t.Parallel()
	h := start(t)
	pdf := fadadasim.PDF("the lease, every clause")
	h.upload(t, "L1", pdf)
	l := h.links(t, "L1")
	if !strings.HasPrefix(l.View, h.server.URL+links.PathPrefix) || strings.Contains(l.View, "L1") || strings.Contains(l.Download, "msg_digest") {
		t.Errorf("links: got %+v, want opaque links under %s", l, h.server.URL+links.PathPrefix)
	}

	resp, body := get(t, l.Download)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, pdf) {
		t.Fatalf("download link: got %d, %d bytes (%.40q), want 200 and the uploaded PDF byte for byte", resp.StatusCode, len(body), body)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/pdf", "Content-Disposition": `attachment; filename=L1.pdf`,
		"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("download link %s: got %q, want %q", k, got, want)
		}
	}

	resp, body = get(t, l.View)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), "<h1>Lease L1</h1>") {
		t.Fatalf("view link: got %d %s %q, want 200 and the view page", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	page := resp.Request.URL
	if !strings.HasSuffix(page.Path, "/") {
		t.Errorf("view page: served at %s, want the token as a directory", page)
	}
	found := refs.FindAllStringSubmatch(string(body), -1)
	if len(found) < 2 {
		t.Fatalf("view page: got references %q, want the style sheet and the PDF", found)
	}
	for _, m := range found {
		ref, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil || ref.IsAbs() || strings.HasPrefix(ref.Path, "/") {
			t.Fatalf("view page reference %q: want a relative one", m[1])
		}
		target := page.ResolveReference(ref).String()
		resp, body := get(t, target)
		want := []byte(fadadasim.ViewerCSS)
		if strings.HasPrefix(ref.Path, "downLoadContract.api") {
			want = pdf
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
			t.Errorf("view page reference %s: got %d %.60q, want 200 and %.40q", ref, resp.StatusCode, body, want)
		}
	}

	// HEAD says what a GET would bring, without the bytes.
	resp, err := http.Head(l.Download)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(pdf)) {
		t.Errorf("HEAD download link: got %d, length %d, want 200 and %d", resp.StatusCode, resp.ContentLength, len(pdf))
	}
}

// TestLinksRefused: a link that is tampered with, expired, signed with
// another secret, asked for another contract's page or for another
// endpoint is 404 LINK_NOT_FOUND with no vendor call; a valid link to a
// contract Fadada does not have is 404 VENDOR_NOT_FOUND.
func TestLinksRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.upload(t, "R1", fadadasim.PDF("R1"))
	h.upload(t, "R2", fadadasim.PDF("R2"))
	l := h.links(t, "R1")
	token := func(link string) string {
		return strings.TrimSuffix(strings.TrimPrefix(link, h.server.URL+links.PathPrefix), "/")
	}
	view, download := token(l.View), token(l.Download)

	other, err := links.NewTokens(secret(t), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, err := other.Issue("R1", links.Download)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(download)
	tampered[len(tampered)/2] ^= 1
	if tampered[len(tampered)/2] == '_'^1 || tampered[len(tampered)/2] == '-'^1 {
		tampered[len(tampered)/2] = 'A'
	}

	base := h.server.URL + links.PathPrefix
	pdfRef := "/downLoadContract.api?contract_id="
	before := h.meter.requests.Load()
	for _, tt := range []struct{ name, url string }{
		{"tampered", base + string(tampered)},
		{"signed with another secret", base + foreign},
		{"not a token", base + "hello"},
		{"too long", base + strings.Repeat("A", links.MaxTokenLen+4)},
		{"the view page's PDF of another contract", base + view + pdfRef + "R2"},
		{"two contract_ids", base + view + pdfRef + "R1&contract_id=R2"},
		{"another endpoint", base + view + "/contractFiling.api?contract_id=R1"},
		{"another endpoint, disguised", base + view + "/static/x.API?contract_id=R1"},
		{"a page under a download link", base + download + "/static/viewer.css"},
	} {
		resp, body := get(t, tt.url)
		wantNotFound(t, tt.name, resp, body, links.ReasonLinkNotFound)
	}

	h.clock.Add(time.Hour)
	resp, body := get(t, l.Download)
	wantNotFound(t, "expired", resp, body, links.ReasonLinkNotFound)
	resp, body = get(t, base+view+"/")
	wantNotFound(t, "expired view page", resp, body, links.ReasonLinkNotFound)
	if got := h.meter.requests.Load() - before; got != 0 {
		t.Errorf("refused links: got %d vendor requests, want none", got)
	}

	resp, body = get(t, h.links(t, "NOPE1").Download)
	wantNotFound(t, "a contract Fadada does not have", resp, body, "VENDOR_NOT_FOUND")
}

// TestLinkBackPressure: a client that reads nothing holds the vendor's
// transfer back, instead of the service reading the file ahead into
// memory; once it reads, the file comes whole.
func TestLinkBackPressure(t *testing.T) {
	t.Parallel()
	h := start(t)
	const size = 48 << 20
	data := make([]byte, size)
	copy(data, fadadasim.PDF("big"))
	if _, err := rand.Read(data[1024:]); err != nil {
		t.Fatal(err)
	}
	h.upload(t, "BIG1", data)
	written := h.meter.written.Load()

	resp, err := http.Get(h.links(t, "BIG1").Download)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Socket buffers on both hops hold some of it; the rest must wait.
	time.Sleep(500 * time.Millisecond)
	sent := h.meter.written.Load() - written
	t.Logf("held back: the vendor sent %d of %d bytes", sent, size)
	if sent > size/2 {
		t.Errorf("with the client reading nothing: the vendor sent %d of %d bytes, want it held back", sent, size)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("read whole: got %d bytes (identical: %t), %v; want the %d bytes", len(got), bytes.Equal(got, data), err, size)
	}
}

// TestTokens: a token opens as issued until it expires, only under its
// secret; each kind is its own.
func TestTokens(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	tokens, err := links.NewTokens(secret(t), 10*time.Minute, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []links.Kind{links.View, links.Download} {
		id := strings.Repeat("C", 32)
		tok, expires, err := tokens.Issue(id, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) > links.MaxTokenLen || strings.ContainsAny(tok, "+/=") {
			t.Errorf("token %q: want at most %d URL-safe characters", tok, links.MaxTokenLen)
		}
		ref, err := tokens.Open(tok)
		want := links.Ref{ContractID: id, Kind: k, Expires: clk.Now().Add(10 * time.Minute)}
		if err != nil || ref != want || !expires.Equal(want.Expires) {
			t.Errorf("Open: got %+v, %v (expires %s), want %+v", ref, err, expires, want)
		}
	}
	if _, _, err := tokens.Issue("", links.View); err == nil {
		t.Error("Issue with no contract_id: got no error")
	}
	if _, err := links.NewTokens(make([]byte, links.MinSecretBytes-1), time.Hour, nil); err == nil {
		t.Error("NewTokens with a short secret: got no error")
	}
	tok, _, _ := tokens.Issue("C1", links.View)
	clk.Add(10*time.Minute - time.Second)
	if _, err := tokens.Open(tok); err != nil {
		t.Errorf("Open a second before expiry: %v", err)
	}
	clk.Add(time.Second)
	if _, err := tokens.Open(tok); err != links.ErrInvalid {
		t.Errorf("Open at expiry: got %v, want ErrInvalid", err)
	}
}

// TestIssuerBaseURL: the public origin may carry a path prefix, and must
// be an http(s) origin.
func TestIssuerBaseURL(t *testing.T) {
	t.Parallel()
	tokens, err := links.NewTokens(secret(t), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	i, err := links.NewIssuer("https://api.example.com/esign/", tokens)
	if err != nil {
		t.Fatal(err)
	}
	l, err := i.ContractLinks("C1")
	if err != nil || !strings.HasPrefix(l.View, "https://api.example.com/esign/v1/esign/links/") {
		t.Errorf("ContractLinks: got %+v, %v, want links under the prefix", l, err)
	}
	for _, bad := range []string{"", "example.com", "ftp://example.com", "https://", "https://u:p@example.com", "https://example.com/?a=1", "https://example.com/#x"} {
		if _, err := links.NewIssuer(bad, tokens); err == nil {
			t.Errorf("NewIssuer(%q): got no error", bad)
		}
	}
}

// TestLinkCutShort: when Fadada's transfer breaks after the first bytes
// went out, the client sees its response broken, never a short file that
// looks whole.
func TestLinkCutShort(t *testing.T) {
	t.Parallel()
	h := start(t)
	data := make([]byte, 1<<20)
	copy(data, fadadasim.PDF("cut"))
	h.upload(t, "CUT1", data)
	h.meter.cut.Store(256 << 10)
	resp, err := http.Get(h.links(t, "CUT1").Download)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err == nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a transfer broken after %d bytes: got %d, %d bytes and no error, want 200 and a broken body", 256<<10, resp.StatusCode, len(got))
	}
}
