// Package fadada is the HTTP client of Fadada's e-contract API v2 (法大大)
// behind the cloud-market gateway: its thirteen endpoints, its msg_digest,
// its JSON and its failure codes. Every call carries both signing layers:
// the cloud-market HMAC from the http.Client's transport
// (cloudmarket.Signer) and the msg_digest form signature (formsign, with
// Credentials.Signer). It implements the use case's contracts.Vendor: its
// JSON types stay here, and it answers in the use case's types. Proto
// types never reach it.
package fadada

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/formsign"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/internal/vendorjson"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
)

// Vendor names Fadada in errors, logs and metrics.
const Vendor = "fadada"

// The vendor's endpoints, relative to the API root (…/api2). All are POSTs.
const (
	PathAccountRegister  = "/account_register.api"
	PathApplyCert        = "/apply_cert.api"
	PathAddSignature     = "/add_signature.api"
	PathCustomSignature  = "/custom_signature.api"
	PathUploadDocs       = "/uploaddocs.api"
	PathUploadTemplate   = "/uploadtemplate.api"
	PathGenerateContract = "/generate_contract.api"
	PathViewContract     = "/viewContract.api"
	PathDownloadContract = "/downLoadContract.api"
	PathContractFiling   = "/contractFiling.api"
	PathPersonCertInfo   = "/find_personCertInfo.api"
	PathCompanyCertInfo  = "/find_companyCertInfo.api"
	PathGetFile          = "/get_file.api"
)

// Options configures a Client beyond its transport and base URL.
type Options struct {
	// Call configures the vendor call layer (timeout, size limits, rate
	// limit, breaker).
	Call vendorcall.Config
	// Registerer receives the vendor-call metrics; nil records none.
	Registerer prometheus.Registerer
	// Logger receives vendor-call failures; nil discards them.
	Logger *slog.Logger
	// Observe learns of every call sent to Fadada, uploads and downloads
	// included (the usage ledger's usage.Ledger.Observe); nil records none.
	Observe func(context.Context, vendorcall.Observation) int64
	// Now is the clock of the timestamps; nil means time.Now.
	Now func() time.Time
}

// Client calls Fadada. It is safe for concurrent use.
type Client struct {
	base   string
	creds  Credentials
	caller *vendorcall.Caller
	china  *time.Location
	now    func() time.Time
}

var _ contracts.Vendor = (*Client)(nil)

// New returns a Client. hc must carry the cloud-market signature
// (cloudmarket.Signer); baseURL is the API root up to and including /api2.
// It fails when China's time zone cannot be loaded (the binary embeds
// time/tzdata) or the call layer's metrics cannot be registered.
func New(hc *http.Client, baseURL string, creds Credentials, opts Options) (*Client, error) {
	china, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return nil, fmt.Errorf("fadada: timestamps are China time: %w", err)
	}
	caller, err := vendorcall.New(Vendor, opts.Call, vendorcall.Options{
		HTTPClient: hc,
		Classify:   cloudmarket.Classify,
		Registerer: opts.Registerer,
		Logger:     opts.Logger,
		Observe:    opts.Observe,
	})
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), creds: creds, caller: caller, china: china, now: now}, nil
}

// signer is the msg_digest signer of endpoint at this moment, China time.
func (c *Client) signer(endpoint string) formsign.Signer {
	return c.creds.Signer(endpoint, c.now().In(c.china))
}

// post builds a signed url-encoded POST of endpoint.
func (c *Client) post(endpoint string, form url.Values) (*http.Request, error) {
	return formsign.NewRequest(http.MethodPost, c.base+endpoint, form, c.signer(endpoint))
}

// read sends a retryable call and decodes its envelope into data.
func (c *Client) read(ctx context.Context, endpoint string, form url.Values, data any) (envelope, error) {
	var env envelope
	err := c.caller.Read(ctx, endpoint, vendorcall.RetryPolicy{},
		func() (*http.Request, error) { return c.post(endpoint, form) },
		func(body []byte) error {
			var err error
			env, err = decode(endpoint, body, data)
			return err
		})
	return env, err
}

// mutate sends req once and decodes its envelope into data.
func (c *Client) mutate(ctx context.Context, endpoint string, req *http.Request, data any) (envelope, error) {
	var env envelope
	err := c.caller.Mutate(ctx, endpoint, req, func(body []byte) error {
		var err error
		env, err = decode(endpoint, body, data)
		return err
	})
	return env, err
}

// account_type's values.
const (
	accountPerson  = "1"
	accountCompany = "2"
)

// RegisterAccount registers a signer and returns their customer_id. The
// vendor gives the same customer for the same open_id, so it is a read:
// repeating it is harmless.
func (c *Client) RegisterAccount(ctx context.Context, openID string, t contracts.AccountType) (string, error) {
	accountType := accountPerson
	if t == contracts.AccountCompany {
		accountType = accountCompany
	}
	var customerID string
	_, err := c.read(ctx, PathAccountRegister, url.Values{"open_id": {openID}, "account_type": {accountType}}, &customerID)
	return customerID, err
}

// ApplyCert applies for a signer's certificate; sent once. A second
// application is refused with codeCertApplied (CertApplied).
func (c *Client) ApplyCert(ctx context.Context, customerID, verifiedSerialNo string) error {
	req, err := c.post(PathApplyCert, url.Values{"customer_id": {customerID}, "verified_serialno": {verifiedSerialNo}})
	if err != nil {
		return err
	}
	_, err = c.mutate(ctx, PathApplyCert, req, nil)
	return err
}

// codeCertApplied is apply_cert.api's 不能重复申请证书: the signer's
// certificate is applied for already.
const codeCertApplied = "3201"

// CertApplied reports whether err is apply_cert.api's refusal of a second
// application (不能重复申请证书).
func (*Client) CertApplied(err error) bool {
	ve, ok := vendorerr.As(err)
	return ok && ve.Code == codeCertApplied
}

// AddSignature uploads a seal image and returns its signature_id; sent once.
func (c *Client) AddSignature(ctx context.Context, customerID string, image []byte) (string, error) {
	req, err := c.post(PathAddSignature, url.Values{
		"customer_id": {customerID}, "signature_img_base64": {base64.StdEncoding.EncodeToString(image)},
	})
	if err != nil {
		return "", err
	}
	var data struct {
		SignatureID vendorjson.String `json:"signature_id"`
	}
	_, err = c.mutate(ctx, PathAddSignature, req, &data)
	return string(data.SignatureID), err
}

// CustomSignature draws a seal from content and returns the image bytes.
// It changes nothing at the vendor, so it is a read.
func (c *Client) CustomSignature(ctx context.Context, customerID, content string) ([]byte, error) {
	var img []byte
	_, err := c.read(ctx, PathCustomSignature, url.Values{"customer_id": {customerID}, "content": {content}}, &base64Image{&img})
	return img, err
}

// base64Image decodes custom_signature's data: its image in base64, which
// is part of reading the reply (an image that is not base64 is an
// unreadable reply).
type base64Image struct{ img *[]byte }

func (b *base64Image) UnmarshalJSON(data []byte) error {
	var d struct {
		Image string `json:"signature_img_base64"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return err
	}
	img, err := base64.StdEncoding.DecodeString(d.Image)
	if err != nil {
		return fmt.Errorf("signature_img_base64 is not base64: %w", err)
	}
	*b.img = img
	return nil
}

// upload builds a signed upload of endpoint: multipart (the part "file")
// when doc has Content, url-encoded with doc_url otherwise.
func (c *Client) upload(endpoint string, form url.Values, doc contracts.Document) (*http.Request, error) {
	if doc.Content == nil {
		form.Set("doc_url", doc.URL)
		return c.post(endpoint, form)
	}
	return formsign.NewMultipartRequest(http.MethodPost, c.base+endpoint, form,
		[]formsign.File{{Field: "file", Name: doc.Name, ContentType: doc.ContentType, Content: doc.Content}},
		c.signer(endpoint))
}

// UploadDocs uploads a PDF contract under contractID; sent once. A
// duplicate contract id is vendorerr.KindAlreadyExists.
func (c *Client) UploadDocs(ctx context.Context, contractID, title string, doc contracts.Document) error {
	req, err := c.upload(PathUploadDocs, url.Values{"contract_id": {contractID}, "doc_title": {title}, "doc_type": {".pdf"}}, doc)
	if err != nil {
		return err
	}
	_, err = c.mutate(ctx, PathUploadDocs, req, nil)
	return err
}

// UploadTemplate uploads a template under templateID; sent once. A
// duplicate template id is vendorerr.KindAlreadyExists.
func (c *Client) UploadTemplate(ctx context.Context, templateID string, doc contracts.Document) error {
	req, err := c.upload(PathUploadTemplate, url.Values{"template_id": {templateID}}, doc)
	if err != nil {
		return err
	}
	_, err = c.mutate(ctx, PathUploadTemplate, req, nil)
	return err
}

// dynamicTable is one element of dynamic_tables.
type dynamicTable struct {
	Datas                   [][]string `json:"datas"`
	Headers                 []string   `json:"headers"`
	ColWidthPercent         []int32    `json:"colWidthPercent,omitempty"`
	CellHeight              float64    `json:"cellHeight,omitempty"`
	CellHorizontalAlignment int32      `json:"cellHorizontalAlignment,omitempty"`
	CellVerticalAlignment   int32      `json:"cellVerticalAlignment,omitempty"`
	PageBegin               int32      `json:"pageBegin,omitempty"`
	TheFirstHeader          string     `json:"theFirstHeader,omitempty"`
}

// GenerateContract fills a template into a new contract; sent once. A
// duplicate contract id is vendorerr.KindAlreadyExists.
func (c *Client) GenerateContract(ctx context.Context, g contracts.Generate) (contracts.Generated, error) {
	form := url.Values{"template_id": {g.TemplateID}, "contract_id": {g.ContractID}, "doc_title": {g.DocTitle}}
	pm, err := json.Marshal(nonNil(g.ParameterMap))
	if err != nil {
		return contracts.Generated{}, err
	}
	form.Set("parameter_map", string(pm))
	if len(g.DynamicTables) > 0 {
		dt, err := json.Marshal(dynamicTables(g.DynamicTables))
		if err != nil {
			return contracts.Generated{}, err
		}
		form.Set("dynamic_tables", string(dt))
	}
	if g.FontSize != "" {
		form.Set("font_size", g.FontSize)
	}
	if g.FontType != "" {
		form.Set("font_type", g.FontType)
	}
	req, err := c.post(PathGenerateContract, form)
	if err != nil {
		return contracts.Generated{}, err
	}
	env, err := c.mutate(ctx, PathGenerateContract, req, nil)
	return contracts.Generated{ViewURL: env.ViewPDFURL, DownloadURL: env.DownloadURL}, err
}

// dynamicTables is dynamic_tables' JSON of ts.
func dynamicTables(ts []contracts.DynamicTable) []dynamicTable {
	out := make([]dynamicTable, 0, len(ts))
	for _, t := range ts {
		out = append(out, dynamicTable{
			Datas: t.Rows, Headers: t.Headers, ColWidthPercent: t.ColWidthPercent, CellHeight: t.CellHeight,
			CellHorizontalAlignment: t.CellHorizontalAlignment, CellVerticalAlignment: t.CellVerticalAlignment,
			PageBegin: t.PageBegin, TheFirstHeader: t.TheFirstHeader,
		})
	}
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// ContractLinks signs browser links to viewContract and downLoadContract.
// They carry app_id, v, timestamp, contract_id and msg_digest only: no
// cloud-market signature (a browser cannot send one) and no secret, so
// they open only where the gateway lets a request through without its
// signature (OpenPage opens them with it).
func (c *Client) ContractLinks(contractID string) (contracts.VendorLinks, error) {
	at := c.now().In(c.china)
	view, err := c.link(PageView, contractID, nil, at)
	if err != nil {
		return contracts.VendorLinks{}, err
	}
	download, err := c.link(PageDownload, contractID, nil, at)
	if err != nil {
		return contracts.VendorLinks{}, err
	}
	return contracts.VendorLinks{View: view, Download: download, SignedAt: at}, nil
}

// ContractFiling archives a contract and returns the vendor's message;
// sent once. An archived contract is refused with codeArchived
// (Archived).
func (c *Client) ContractFiling(ctx context.Context, contractID string) (string, error) {
	req, err := c.post(PathContractFiling, url.Values{"contract_id": {contractID}})
	if err != nil {
		return "", err
	}
	env, err := c.mutate(ctx, PathContractFiling, req, nil)
	return env.Msg, err
}

// codeArchived is contractFiling.api's 合同已归档: the contract is archived.
const codeArchived = "1402"

// Archived reports whether err is contractFiling.api's refusal of an
// archived contract (合同已归档), and returns the vendor's message.
func (*Client) Archived(err error) (string, bool) {
	ve, ok := vendorerr.As(err)
	if !ok || ve.Code != codeArchived {
		return "", false
	}
	return ve.Message, true
}

// PersonCertInfo returns a person's real-name verification.
func (c *Client) PersonCertInfo(ctx context.Context, verifiedSerialNo string) (contracts.Certification, error) {
	var info certInfo
	_, err := c.read(ctx, PathPersonCertInfo, url.Values{"verified_serialno": {verifiedSerialNo}}, &info)
	return info.certification(), err
}

// CompanyCertInfo returns a company's real-name verification.
func (c *Client) CompanyCertInfo(ctx context.Context, verifiedSerialNo string) (contracts.Certification, error) {
	var info certInfo
	_, err := c.read(ctx, PathCompanyCertInfo, url.Values{"verified_serialno": {verifiedSerialNo}}, &info)
	return info.certification(), err
}

// DownloadContract streams a contract's PDF to consume. The vendor answers
// with the PDF or with an error page; only a body that starts as a PDF
// reaches consume. It is sent once (NoRetry): bytes already handed on
// cannot be taken back.
func (c *Client) DownloadContract(ctx context.Context, contractID string, consume contracts.FileConsumer) error {
	return c.download(ctx, PathDownloadContract, url.Values{"contract_id": {contractID}}, consume)
}

// GetFile streams a file kept by the vendor to consume.
func (c *Client) GetFile(ctx context.Context, uuid string, consume contracts.FileConsumer) error {
	return c.download(ctx, PathGetFile, url.Values{"uuid": {uuid}}, consume)
}

func (c *Client) download(ctx context.Context, endpoint string, form url.Values, consume contracts.FileConsumer) error {
	return c.caller.ReadStream(ctx, endpoint, vendorcall.NoRetry,
		func() (*http.Request, error) { return c.post(endpoint, form) },
		func(h http.Header, body io.Reader) error {
			br := bufio.NewReaderSize(body, 4096)
			head, _ := br.Peek(512)
			ct := fileType(h.Get("Content-Type"), head)
			if ct == "" {
				// Not a file: the vendor's JSON (or HTML) error reply.
				return replyError(endpoint, br)
			}
			return consume(ct, br)
		})
}

// fileType is the media type of a downloaded body, or "" when it is the
// vendor's JSON or HTML reply rather than a file.
func fileType(header string, head []byte) string {
	trimmed := bytes.TrimSpace(head)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '<') && !bytes.HasPrefix(trimmed, []byte("<?xml")) {
		return ""
	}
	if bytes.HasPrefix(head, []byte("%PDF-")) {
		return "application/pdf"
	}
	if len(head) == 0 {
		return ""
	}
	sniffed := http.DetectContentType(head)
	if strings.HasPrefix(sniffed, "text/") && header != "" && !strings.HasPrefix(header, "text/") {
		return header
	}
	return sniffed
}
