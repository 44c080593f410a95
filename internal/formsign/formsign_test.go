package formsign_test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/formsign"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

const (
	testAK = "c2e2e01c-6c95-4146-99d6-815811755603"
	testSK = "5fd68fbe-16a4-4851-bc56-3b1890a40a90"
)

// md5Sign is a signer in the shape of 30post's: it adds the access key and
// expiry, then sign = md5 over the sorted signed fields and the secret.
func md5Sign(form url.Values) error {
	form.Set("external_company", testAK)
	form.Set("timer", "2026-11-29 12:05:00")
	form.Set("sign", md5Of(form, testSK))
	return nil
}

// md5Of is the signature over data and external_company, as the vendor
// checks it.
func md5Of(form url.Values, secret string) string {
	var b strings.Builder
	for _, k := range []string{"data", "external_company"} {
		b.WriteString(strings.ToLower(k) + "{$$}" + form.Get(k) + "{$$$}")
	}
	b.WriteString(form.Get("timer") + "{$$$$}" + secret)
	sum := md5.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// signedVendor checks the signature over the form's fields, as the vendor
// does, and for a multipart body hashes the file part without holding it.
func signedVendor(t *testing.T, gotFile *atomic.Value) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form := url.Values{}
		mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch mt {
		case "application/x-www-form-urlencoded":
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			form = r.PostForm
		case "multipart/form-data":
			mr := multipart.NewReader(r.Body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				if p.FileName() != "" {
					h := sha256.New()
					n, _ := io.Copy(h, p)
					gotFile.Store(fmt.Sprintf("%s %s %d %x", p.FormName(), p.FileName(), n, h.Sum(nil)))
					continue
				}
				v, _ := io.ReadAll(p)
				form.Add(p.FormName(), string(v))
			}
		}
		if form.Get("sign") == "" || form.Get("sign") != md5Of(form, testSK) {
			_, _ = io.WriteString(w, `{"success":0,"message":"sign error"}`)
			return
		}
		_, _ = io.WriteString(w, `{"success":1}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func decodeReply(body []byte) error {
	if string(body) != `{"success":1}` {
		return fmt.Errorf("vendor said %s", body)
	}
	return nil
}

func TestSignDoesNotModifyTheForm(t *testing.T) {
	t.Parallel()
	form := url.Values{"data": {`{"a":1}`}}
	signed, err := formsign.Sign(form, md5Sign)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(form)); !slices.Equal(got, []string{"data"}) {
		t.Errorf("got form fields %v after signing, want [data]", got)
	}
	if got, want := signed.Get("sign"), md5Of(signed, testSK); got != want {
		t.Errorf("got sign %q, want %q", got, want)
	}
}

func TestSignedRequestsPassTheVendorsCheck(t *testing.T) {
	t.Parallel()
	var gotFile atomic.Value
	srv := signedVendor(t, &gotFile)
	c, err := vendorcall.New("test", vendorcall.Config{}, vendorcall.Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"data": {`{"Type":1,"Telephone":"0400000000","RechargeTotal":"10.00"}`}}
	tests := []struct {
		name    string
		sign    formsign.Signer
		wantErr bool
	}{
		{"signed", md5Sign, false},
		{"unsigned", nil, true},
		{"wrong secret", func(f url.Values) error {
			f.Set("external_company", testAK)
			f.Set("sign", md5Of(f, "not the secret"))
			return nil
		}, true},
	}
	for _, tt := range tests {
		for _, multi := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s multipart=%v", tt.name, multi), func(t *testing.T) {
				t.Parallel()
				var req *http.Request
				var err error
				if multi {
					req, err = formsign.NewMultipartRequest(http.MethodPost, srv.URL+"/upload", form,
						[]formsign.File{{Field: "file", Name: "a.pdf", Content: strings.NewReader("%PDF")}}, tt.sign)
				} else {
					req, err = formsign.NewRequest(http.MethodPost, srv.URL+"/recharge", form, tt.sign)
				}
				if err != nil {
					t.Fatal(err)
				}
				err = c.Mutate(context.Background(), "/x", req, decodeReply)
				if (err != nil) != tt.wantErr {
					t.Errorf("got %v, want error %v", err, tt.wantErr)
				}
			})
		}
	}
}

// zeros is an endless reader of zero bytes that allocates nothing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestMultipartPassesTwentyMiBInBoundedMemory is not parallel: it measures
// the process's allocations, which parallel tests would add to.
func TestMultipartPassesTwentyMiBInBoundedMemory(t *testing.T) {
	var gotFile atomic.Value
	srv := signedVendor(t, &gotFile)
	c, err := vendorcall.New("test", vendorcall.Config{Timeout: time.Minute}, vendorcall.Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	const size = 20 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, err := formsign.NewMultipartRequest(http.MethodPost, srv.URL+"/uploaddocs.api",
		url.Values{"data": {`{"contract_id":"c1"}`}},
		[]formsign.File{{Field: "file", Name: "contract.pdf", ContentType: "application/pdf", Content: io.LimitReader(zeros{}, size)}},
		md5Sign)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mutate(context.Background(), "/uploaddocs.api", req, decodeReply); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	runtime.ReadMemStats(&after)
	want := sha256.New()
	_, _ = io.CopyN(want, zeros{}, size)
	if w := fmt.Sprintf("file contract.pdf %d %x", size, want.Sum(nil)); gotFile.Load() != w {
		t.Errorf("got file %v at the vendor, want %q", gotFile.Load(), w)
	}
	// Client and vendor together; buffering the body would be 20 MiB+.
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("got %d bytes allocated for a 20 MiB upload, want at most 4 MiB", n)
	}
}
