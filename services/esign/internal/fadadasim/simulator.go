// Package fadadasim is an in-repo Fadada v2 simulator, served over real
// HTTP for SANDBOX=1 and the tests. Like the vendor, it sits behind the
// cloud-market gateway's HMAC check (cloudmarket.Gateway), checks every
// endpoint's msg_digest and timestamp (China time, within 15 minutes), and
// answers with the vendor's envelopes and codes. It keeps accounts,
// certificates, seals, templates and contracts in memory; file bytes go to
// a temporary directory, so a large upload costs no memory. Generated
// contracts are small valid PDFs with the template's fields filled in. The
// browser pages are GET links: viewContract.api an HTML page with relative
// references (a style sheet, the PDF), downLoadContract.api the PDF; with
// SignLinks they demand the gateway's signature, as the real gateway does.
package fadadasim

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/formsign"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
)

// Prefix is the path of the API root; a client's base URL is the
// simulator's address plus Prefix.
const Prefix = "/api2"

// Options configures a Simulator.
type Options struct {
	// Keys maps the cloud-market secret ids the gateway accepts to their
	// secret keys.
	Keys map[string]string
	// App is the Fadada app id and secret the simulator accepts.
	App fadada.Credentials
	// Dir is where file bytes are kept; empty means a new temporary
	// directory, removed by Close.
	Dir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

type contract struct {
	title    string
	path     string
	archived bool
}

// Simulator is the in-memory vendor. It is safe for concurrent use.
type Simulator struct {
	opts    Options
	china   *time.Location
	dir     string
	ownDir  bool
	handler http.Handler

	mu        sync.Mutex
	accounts  map[string]string // open_id → customer_id
	customers map[string]bool   // customer_id → certified
	serials   map[string]string // verified_serialno → customer_id
	seals     map[string]int    // customer_id → seals
	templates map[string]string // template_id → file path
	contracts map[string]*contract
	files     map[string][]byte // uuid → PNG
	calls     map[string]int    // endpoint → requests that passed the checks

	// Faults the tests switch on.
	readRate int64 // bytes per second an upload's body is read at; 0 unbounded
	truncate int64 // >= 0: the next uploaddocs keeps this many bytes and loses its reply
	// linksSigned makes the browser pages and their assets demand the
	// cloud-market signature, as the real gateway does for every request.
	linksSigned bool
}

// New returns a Simulator; Close removes its files.
func New(opts Options) (*Simulator, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	china, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return nil, err
	}
	s := &Simulator{
		opts: opts, china: china, dir: opts.Dir,
		accounts: map[string]string{}, customers: map[string]bool{}, serials: map[string]string{},
		seals: map[string]int{}, templates: map[string]string{}, contracts: map[string]*contract{},
		files: map[string][]byte{}, calls: map[string]int{}, truncate: -1,
	}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "fadadasim-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	gw := &cloudmarket.Gateway{Keys: opts.Keys, Now: opts.Now}
	api := http.NewServeMux()
	for path, h := range map[string]http.HandlerFunc{
		fadada.PathAccountRegister:  s.accountRegister,
		fadada.PathApplyCert:        s.applyCert,
		fadada.PathAddSignature:     s.addSignature,
		fadada.PathCustomSignature:  s.customSignature,
		fadada.PathUploadDocs:       s.uploadDocs,
		fadada.PathUploadTemplate:   s.uploadTemplate,
		fadada.PathGenerateContract: s.generateContract,
		fadada.PathViewContract:     s.viewPage,
		fadada.PathDownloadContract: s.contractFile,
		fadada.PathContractFiling:   s.contractFiling,
		fadada.PathPersonCertInfo:   s.certInfo,
		fadada.PathCompanyCertInfo:  s.certInfo,
		fadada.PathGetFile:          s.getFile,
	} {
		api.Handle("POST "+Prefix+path, gw.Wrap(h))
	}
	// The browser pages are opened as GET links that carry the msg_digest,
	// and the cloud-market signature only when SignLinks says so; the view
	// page's style sheet with them.
	api.Handle("GET "+Prefix+fadada.PathViewContract, s.links(gw, s.viewPage))
	api.Handle("GET "+Prefix+fadada.PathDownloadContract, s.links(gw, s.contractFile))
	api.Handle("GET "+Prefix+"/"+ViewerCSSPath, s.links(gw, viewerCSS))
	s.handler = api
	return s, nil
}

// Handler serves the simulated API under Prefix.
func (s *Simulator) Handler() http.Handler { return s.handler }

// Close removes the simulator's files.
func (s *Simulator) Close() error {
	if s.ownDir {
		return os.RemoveAll(s.dir)
	}
	return nil
}

// Calls returns how many requests to endpoint (e.g. fadada.PathUploadDocs)
// passed the signature checks.
func (s *Simulator) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// CallCounts returns how many requests passed the signature checks, per
// endpoint (e.g. fadada.PathUploadDocs), for tests that compare them with
// the service's usage ledger.
func (s *Simulator) CallCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// SetReadRate makes the simulator read upload bodies at most bytesPerSec
// bytes a second, as a vendor behind a slow link does; 0 lifts the bound.
func (s *Simulator) SetReadRate(bytesPerSec int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readRate = bytesPerSec
}

// TruncateNextUpload makes the next uploaddocs.api keep only the first
// keep bytes of its file (a vendor that stored a cut copy) and lose its
// reply: the connection closes without an answer.
func (s *Simulator) TruncateNextUpload(keep int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate = keep
}

// SignLinks makes the browser pages (GET viewContract.api and
// downLoadContract.api) and the view page's assets demand the cloud-market
// signature, as the real gateway asks it of every request: a link opened
// as it is, by a browser, is then refused with 401. Off, they need the
// msg_digest only.
func (s *Simulator) SignLinks(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.linksSigned = on
}

// links serves h behind the gateway's check when SignLinks is on.
func (s *Simulator) links(gw *cloudmarket.Gateway, h http.HandlerFunc) http.Handler {
	signed := gw.Wrap(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		on := s.linksSigned
		s.mu.Unlock()
		if on {
			signed.ServeHTTP(w, r)
			return
		}
		h(w, r)
	})
}

// slowReader reads at most rate bytes a second.
type slowReader struct {
	r     io.Reader
	rate  int64
	start time.Time
	n     int64
}

func (sr *slowReader) Read(p []byte) (int, error) {
	if max := sr.rate / 20; int64(len(p)) > max {
		p = p[:max]
	}
	// Wait until the bytes read so far are due at the rate.
	if due := sr.start.Add(time.Duration(sr.n * int64(time.Second) / sr.rate)); time.Until(due) > 0 {
		time.Sleep(time.Until(due))
	}
	n, err := sr.r.Read(p)
	sr.n += int64(n)
	return n, err
}

func (sr *slowReader) Close() error {
	if c, ok := sr.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// reply writes the vendor's JSON envelope.
func reply(w http.ResponseWriter, v map[string]any) {
	// The vendor's replies come as text/html; clients decode by content.
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code any, msg string) {
	reply(w, map[string]any{"code": code, "msg": msg, "result": "error", "data": nil})
}

func ok(w http.ResponseWriter, data any) {
	reply(w, map[string]any{"code": 1, "msg": "success", "data": data})
}

func okResult(w http.ResponseWriter, msg string) {
	reply(w, map[string]any{"code": "1000", "msg": msg, "result": "success"})
}

// endpoint is the vendor path of r, e.g. "/uploaddocs.api".
func endpoint(r *http.Request) string { return strings.TrimPrefix(r.URL.Path, Prefix) }

// check verifies the public parameters and msg_digest of form as the
// vendor does, answering the failure itself; it reports whether to go on.
func (s *Simulator) check(w http.ResponseWriter, r *http.Request, form url.Values) bool {
	ep := endpoint(r)
	if form.Get("app_id") == "" || form.Get("timestamp") == "" || form.Get("v") != fadada.Version || form.Get("msg_digest") == "" {
		fail(w, 1001, "公共参数非法")
		return false
	}
	if form.Get("app_id") != s.opts.App.AppID {
		fail(w, 1002, "app_id不存在或未启动")
		return false
	}
	at, err := time.ParseInLocation(fadada.TimestampLayout, form.Get("timestamp"), s.china)
	if err != nil || at.Sub(s.opts.Now()).Abs() > 15*time.Minute {
		fail(w, 1001, "公共参数非法")
		return false
	}
	if !s.opts.App.Verify(ep, form) {
		fail(w, 1003, "msg_digest无效")
		return false
	}
	s.mu.Lock()
	s.calls[ep]++
	s.mu.Unlock()
	return true
}

// form reads an url-encoded body (or the query of a GET) and checks it.
func (s *Simulator) form(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<20)
	if err := r.ParseForm(); err != nil {
		fail(w, 1004, "请求参数非法")
		return nil, false
	}
	form := r.Form
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	return form, s.check(w, r, form)
}

func customerID(openID string, t string) string {
	sum := sha1.Sum([]byte(t + "/" + openID))
	return strings.ToUpper(hex.EncodeToString(sum[:16]))
}

func (s *Simulator) accountRegister(w http.ResponseWriter, r *http.Request) {
	form, pass := s.form(w, r)
	if !pass {
		return
	}
	t := form.Get("account_type")
	if t != "1" && t != "2" {
		fail(w, 3100, "账号类型非法")
		return
	}
	openID := form.Get("open_id")
	if openID == "" || len(openID) > 64 {
		fail(w, 1004, "请求参数非法")
		return
	}
	id := customerID(openID, t)
	s.mu.Lock()
	s.accounts[t+"/"+openID] = id
	if _, ok := s.customers[id]; !ok {
		s.customers[id] = false
	}
	s.mu.Unlock()
	ok(w, id)
}

func (s *Simulator) applyCert(w http.ResponseWriter, r *http.Request) {
	form, pass := s.form(w, r)
	if !pass {
		return
	}
	id, serial := form.Get("customer_id"), form.Get("verified_serialno")
	if serial == "" || len(serial) > 32 {
		fail(w, 3204, "实名认证序列号非法")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	certified, known := s.customers[id]
	switch {
	case !known:
		fail(w, 1601, "客户编号无效")
	case certified:
		fail(w, 3201, "不能重复申请证书")
	default:
		s.customers[id] = true
		s.serials[serial] = id
		reply(w, map[string]any{"code": 1, "msg": "success"})
	}
}

func (s *Simulator) addSignature(w http.ResponseWriter, r *http.Request) {
	form, pass := s.form(w, r)
	if !pass {
		return
	}
	img, err := base64.StdEncoding.DecodeString(form.Get("signature_img_base64"))
	if err != nil || len(img) == 0 {
		fail(w, 1604, "图片为空")
		return
	}
	if ct := http.DetectContentType(img); ct != "image/png" && ct != "image/jpeg" {
		fail(w, 1607, "图片格式无效")
		return
	}
	id := form.Get("customer_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	certified, known := s.customers[id]
	switch {
	case !known:
		fail(w, 1601, "客户编号无效")
	case !certified:
		fail(w, 1302, "尚未实名认证")
	default:
		s.seals[id]++
		ok(w, map[string]any{"signature_id": strconv.Itoa(4309624 + len(s.seals)*100 + s.seals[id]), "signature_sub_info": nil})
	}
}

// sealPNG draws a small red square, standing in for the vendor's seal.
func sealPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for x := range 16 {
		for y := range 16 {
			if x < 2 || y < 2 || x > 13 || y > 13 {
				img.Set(x, y, color.RGBA{R: 200, A: 255})
			}
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

func (s *Simulator) customSignature(w http.ResponseWriter, r *http.Request) {
	form, pass := s.form(w, r)
	if !pass {
		return
	}
	content := form.Get("content")
	switch {
	case content == "":
		fail(w, 1004, "请求参数非法")
		return
	case len([]rune(content)) > 50:
		fail(w, 1611, "印章内容过长")
		return
	}
	s.mu.Lock()
	_, known := s.customers[form.Get("customer_id")]
	s.mu.Unlock()
	if !known {
		fail(w, 1601, "客户编号无效")
		return
	}
	ok(w, map[string]any{"signature_img_base64": base64.StdEncoding.EncodeToString(sealPNG())})
}

// upload reads an upload's form, streaming its file part (if any) into a
// new file under the simulator's directory, and checks it. It returns the
// form and the file's path, or "" for a doc_url upload.
func (s *Simulator) upload(w http.ResponseWriter, r *http.Request) (url.Values, string, bool) {
	s.mu.Lock()
	rate := s.readRate
	s.mu.Unlock()
	if rate > 0 {
		r.Body = &slowReader{r: r.Body, rate: max(rate, 20), start: time.Now()}
	}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		form, pass := s.form(w, r)
		if pass && form.Get("doc_url") == "" {
			fail(w, 2002, "无法获取文档(file与doc_url皆为空).")
			return nil, "", false
		}
		return form, "", pass
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	form := url.Values{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(w, 1004, "请求参数非法")
			return nil, "", false
		}
		if part.FileName() == "" {
			v, err := io.ReadAll(io.LimitReader(part, 1<<20))
			if err != nil {
				fail(w, 1004, "请求参数非法")
				return nil, "", false
			}
			form.Add(part.FormName(), string(v))
			continue
		}
		// formsign writes the fields before the file: check them before
		// taking the bytes.
		if !s.check(w, r, form) {
			return nil, "", false
		}
		f, err := os.CreateTemp(s.dir, "file-")
		if err != nil {
			fail(w, -1, "抱歉,暂时无法处理您的请求,请稍后再试。")
			return nil, "", false
		}
		_, err = io.Copy(f, part)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(f.Name())
			fail(w, 1004, "请求参数非法")
			return nil, "", false
		}
		return form, f.Name(), true
	}
	fail(w, 2002, "无法获取文档(file与doc_url皆为空).")
	return nil, "", false
}

// magic reports the document type of the file at path: "pdf", "doc",
// "docx" or "".
func magic(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return "pdf"
	case bytes.HasPrefix(head, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}):
		return "doc"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "docx"
	}
	return ""
}

// fromURL stands in for the vendor fetching doc_url: it keeps a generated
// PDF naming the URL.
func (s *Simulator) fromURL(docURL string) (string, error) {
	f, err := os.CreateTemp(s.dir, "url-")
	if err != nil {
		return "", err
	}
	_, err = f.Write(PDF("fetched from "+docURL, "{name}"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

func validID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func (s *Simulator) uploadDocs(w http.ResponseWriter, r *http.Request) {
	form, path, pass := s.upload(w, r)
	if !pass {
		return
	}
	keep := false
	defer func() {
		if path != "" && !keep {
			_ = os.Remove(path)
		}
	}()
	id := form.Get("contract_id")
	if !validID(id) {
		fail(w, 1801, "合同编号非法")
		return
	}
	if form.Get("doc_title") == "" {
		fail(w, 1804, "合同名称不合法")
		return
	}
	var err error
	if path == "" {
		if path, err = s.fromURL(form.Get("doc_url")); err != nil {
			fail(w, -1, "抱歉,暂时无法处理您的请求,请稍后再试。")
			return
		}
	} else if magic(path) != "pdf" {
		fail(w, "2002", "文件类型错误")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.contracts[id]; dup {
		fail(w, "2510", "合同id重复")
		return
	}
	if s.truncate >= 0 {
		keepBytes := s.truncate
		s.truncate = -1
		if err := os.Truncate(path, keepBytes); err != nil {
			fail(w, -1, "抱歉,暂时无法处理您的请求,请稍后再试。")
			return
		}
		s.contracts[id] = &contract{title: form.Get("doc_title"), path: path}
		keep = true
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		return
	}
	s.contracts[id] = &contract{title: form.Get("doc_title"), path: path}
	keep = true
	okResult(w, "操作成功")
}

func (s *Simulator) uploadTemplate(w http.ResponseWriter, r *http.Request) {
	form, path, pass := s.upload(w, r)
	if !pass {
		return
	}
	keep := false
	defer func() {
		if path != "" && !keep {
			_ = os.Remove(path)
		}
	}()
	id := form.Get("template_id")
	if !validID(id) {
		fail(w, 2501, "模板编号非法")
		return
	}
	var err error
	if path == "" {
		if path, err = s.fromURL(form.Get("doc_url")); err != nil {
			fail(w, -1, "抱歉,暂时无法处理您的请求,请稍后再试。")
			return
		}
	} else if magic(path) == "" {
		fail(w, "2002", "文件类型错误")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.templates[id]; dup {
		fail(w, "2507", "对不起,模板号重复")
		return
	}
	s.templates[id] = path
	keep = true
	reply(w, map[string]any{"code": "1", "msg": "上传成功!", "result": "success"})
}

func (s *Simulator) generateContract(w http.ResponseWriter, r *http.Request) {
	form, pass := s.form(w, r)
	if !pass {
		return
	}
	tid, cid := form.Get("template_id"), form.Get("contract_id")
	if !validID(cid) {
		fail(w, 1801, "合同编号非法")
		return
	}
	var params map[string]string
	if err := json.Unmarshal([]byte(form.Get("parameter_map")), &params); err != nil {
		fail(w, 1004, "请求参数非法")
		return
	}
	if dt := form.Get("dynamic_tables"); dt != "" {
		var tables []dynamicTable
		if err := json.Unmarshal([]byte(dt), &tables); err != nil {
			fail(w, 1004, "请求参数非法")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, known := s.templates[tid]; !known {
		reply(w, map[string]any{"code": "2002", "download_url": nil, "msg": "对不起,没有检索到模板文件!", "result": "error", "viewpdf_url": nil})
		return
	}
	if _, dup := s.contracts[cid]; dup {
		fail(w, "2510", "合同id重复")
		return
	}
	lines := []string{form.Get("doc_title"), "template " + tid}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		lines = append(lines, k+": "+params[k])
	}
	f, err := os.CreateTemp(s.dir, "gen-")
	if err == nil {
		_, err = f.Write(PDF(lines...))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fail(w, -1, "抱歉,暂时无法处理您的请求,请稍后再试。")
		return
	}
	s.contracts[cid] = &contract{title: form.Get("doc_title"), path: f.Name()}
	base := "http://" + r.Host + Prefix
	q := "?contract_id=" + url.QueryEscape(cid)
	reply(w, map[string]any{"code": "1000", "msg": "操作成功", "result": "success",
		"download_url": base + fadada.PathDownloadContract + q, "viewpdf_url": base + fadada.PathViewContract + q})
}

// ViewerCSSPath is the view page's style sheet, relative to the API root
// as the page refers to it.
const ViewerCSSPath = "static/viewer.css"

// ViewerCSS is the view page's style sheet.
const ViewerCSS = "body { margin: 0; font-family: sans-serif; }\nobject { width: 100%; height: 90vh; }\n"

func viewerCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = io.WriteString(w, ViewerCSS)
}

// viewPage serves viewContract.api: an HTML page that shows the contract,
// with relative references to its style sheet and to the PDF (a signed
// downLoadContract.api link), as a page served from the API root has.
func (s *Simulator) viewPage(w http.ResponseWriter, r *http.Request) {
	form, pass := s.form(w, r)
	if !pass {
		return
	}
	id := form.Get("contract_id")
	s.mu.Lock()
	c, known := s.contracts[id]
	s.mu.Unlock()
	if !known {
		fail(w, 1802, "合同编号无效")
		return
	}
	pdf, err := formsign.Sign(url.Values{"contract_id": {id}}, s.opts.App.Signer(fadada.PathDownloadContract, s.opts.Now().In(s.china)))
	if err != nil {
		fail(w, -1, "抱歉,暂时无法处理您的请求,请稍后再试。")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = viewTemplate.Execute(w, map[string]string{
		"Title": c.title, "CSS": ViewerCSSPath, "PDF": strings.TrimPrefix(fadada.PathDownloadContract, "/") + "?" + pdf.Encode(),
	})
}

// viewTemplate is the view page. Its references are relative: a page
// served at …/api2/viewContract.api finds them under …/api2/.
var viewTemplate = template.Must(template.New("view").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title>
<link rel="stylesheet" href="{{.CSS}}"></head>
<body><h1>{{.Title}}</h1>
<object data="{{.PDF}}" type="application/pdf"><a href="{{.PDF}}">{{.Title}}.pdf</a></object>
</body></html>
`))

// contractFile serves a contract's PDF, for the browser page (GET) and
// the service's streamed download (POST).
func (s *Simulator) contractFile(w http.ResponseWriter, r *http.Request) {
	form, pass := s.form(w, r)
	if !pass {
		return
	}
	s.mu.Lock()
	c, known := s.contracts[form.Get("contract_id")]
	s.mu.Unlock()
	if !known {
		fail(w, 1802, "合同编号无效")
		return
	}
	f, err := os.Open(c.path)
	if err != nil {
		fail(w, -1, "抱歉,暂时无法处理您的请求,请稍后再试。")
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/pdf")
	if st, err := f.Stat(); err == nil {
		w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	}
	if endpoint(r) == fadada.PathDownloadContract {
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", form.Get("contract_id")+".pdf"))
	}
	_, _ = io.Copy(w, f)
}

func (s *Simulator) contractFiling(w http.ResponseWriter, r *http.Request) {
	form, pass := s.form(w, r)
	if !pass {
		return
	}
	id := form.Get("contract_id")
	if id == "" {
		fail(w, "2002", "合同编号不能为空.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, known := s.contracts[id]
	switch {
	case !known:
		fail(w, 1802, "合同编号无效")
	case c.archived:
		fail(w, 1402, "合同已归档")
	default:
		c.archived = true
		okResult(w, "操作成功")
	}
}

// PhotoUUID is the uuid of the photo GetFile serves for every verified
// person (headPhotoPath).
const PhotoUUID = "0f6e5b4c3a2d1e0f9a8b7c6d5e4f3a2b"

func (s *Simulator) certInfo(w http.ResponseWriter, r *http.Request) {
	form, pass := s.form(w, r)
	if !pass {
		return
	}
	serial := form.Get("verified_serialno")
	s.mu.Lock()
	_, known := s.serials[serial]
	s.files[PhotoUUID] = sealPNG()
	s.mu.Unlock()
	if !known {
		fail(w, 3204, "实名认证序列号非法")
		return
	}
	person := map[string]any{"auditFailReason": "", "auditorTime": "", "headPhotoPath": PhotoUUID, "idCard": "11010519491231002X",
		"mobile": "13800000000", "personName": "张三", "status": "2", "type": "0", "verifyType": "1"}
	data := map[string]any{"authenticationSubmitTime": "1546939583000", "bankCard": nil, "passTime": "1546939597000",
		"transactionNo": "T" + serial, "company": nil, "manager": nil, "person": nil}
	if endpoint(r) == fadada.PathCompanyCertInfo {
		data["type"] = "2"
		data["manager"] = person
		data["company"] = map[string]any{"auditFailReason": "", "auditorTime": "2019-01-08 17:15:05.0", "companyName": "示例科技有限公司",
			"hasagent": "0", "legal": "", "legalName": "李四", "organization": "91110000000000000X", "organizationPath": PhotoUUID,
			"regFormPath": "", "relatedTransactionNo": "M" + serial, "status": "4", "verifyType": "1"}
	} else {
		data["type"] = "1"
		data["person"] = person
	}
	ok(w, data)
}

func (s *Simulator) getFile(w http.ResponseWriter, r *http.Request) {
	form, pass := s.form(w, r)
	if !pass {
		return
	}
	s.mu.Lock()
	b, known := s.files[form.Get("uuid")]
	s.mu.Unlock()
	if !known {
		fail(w, 1004, "请求参数非法")
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(b)
}

// Contract reports whether a contract is stored, and whether archived.
func (s *Simulator) Contract(id string) (exists, archived bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contracts[id]
	return ok, ok && c.archived
}

// Files returns the paths of the simulator's kept files, for tests.
func (s *Simulator) Files() ([]string, error) {
	return filepath.Glob(filepath.Join(s.dir, "*"))
}

// dynamicTable is one element of generate_contract's dynamic_tables, as
// the simulator reads it: a table that does not decode is 1004.
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
