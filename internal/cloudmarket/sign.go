// Package cloudmarket is the cloud-market API gateway's scheme, shared by
// the cloud-market vendors (delivery, esign, vehicle), and nothing else: it
// signs (Signer, an http.RoundTripper for vendorcall.Options.Transport),
// verifies as the gateway does (Gateway, for the in-repo simulators) and
// recognises the gateway's own replies (Classify, for
// vendorcall.Options.Classify). A vendor's credentials and call settings
// are its service's config; the call layer is internal/vendorcall.
package cloudmarket

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// Source is the X-Source value the gateway expects.
const Source = "market"

// DateFormat is the X-Date layout: RFC 1123, always GMT.
const DateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// Signature returns base64(HMAC-SHA1(secretKey, "x-date: <date>\nx-source: <source>")).
func Signature(secretKey, date, source string) string {
	mac := hmac.New(sha1.New, []byte(secretKey))
	mac.Write([]byte("x-date: " + date + "\nx-source: " + source))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Authorization returns the Authorization header value for one request.
func Authorization(secretID, secretKey, date, source string) string {
	return fmt.Sprintf(`hmac id="%s", algorithm="hmac-sha1", headers="x-date x-source", signature="%s"`,
		secretID, Signature(secretKey, date, source))
}

// Signer is an http.RoundTripper that adds the cloud-market headers
// (X-Source, X-Date, Authorization) to every request.
type Signer struct {
	// SecretID is the key id the market issued (云市场分配的密钥Id).
	SecretID string
	// SecretKey is the shared secret; it never leaves this process.
	SecretKey string
	// Base sends the signed request; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Now returns the signing time; nil means time.Now.
	Now func() time.Time

	// last caches the X-Date and Authorization of the current second: the
	// signature covers only the date, so every request within one second
	// carries the same header, and formatting it per call is a hot path.
	last atomic.Pointer[signed]
}

// signed is one second's X-Date and Authorization, and their header
// values: every request of that second shares them (a transport never
// writes to a request's header values).
type signed struct {
	unix       int64
	date, auth string
	values     struct{ date, auth []string }
}

// source is the X-Source header value every request shares.
var source = []string{Source}

// header returns the X-Date and Authorization for t.
func (s *Signer) header(t time.Time) *signed {
	sec := t.Unix()
	if c := s.last.Load(); c != nil && c.unix == sec {
		return c
	}
	c := &signed{unix: sec, date: t.UTC().Format(DateFormat)}
	c.auth = Authorization(s.SecretID, s.SecretKey, c.date, Source)
	c.values.date, c.values.auth = []string{c.date}, []string{c.auth}
	s.last.Store(c)
	return c
}

// SignRequest sets req's X-Source, X-Date and Authorization: for the
// request's owner (vendorcall.RequestSigner), which may change it.
func (s *Signer) SignRequest(req *http.Request) {
	if req.Header == nil {
		req.Header = make(http.Header, 3)
	}
	s.header(s.now()).set(req.Header)
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// RoundTrip sends req signed. A request SignRequest signed this second
// goes as it is; any other is signed as a copy, since the caller's request
// may not be modified, as the http.RoundTripper contract requires (a
// redirect's request, whose headers net/http copied, is signed afresh).
func (s *Signer) RoundTrip(req *http.Request) (*http.Response, error) {
	base := s.Base
	if base == nil {
		base = http.DefaultTransport
	}
	signed := s.header(s.now())
	if signed.carriedBy(req.Header) {
		return base.RoundTrip(req)
	}
	// A shallow copy with its own header map, as golang.org/x/oauth2's
	// transport does: Request.Clone's deep copy was a tenth of a call's CPU.
	out := new(http.Request)
	*out = *req
	out.Header = make(http.Header, len(req.Header)+3)
	for k, v := range req.Header {
		out.Header[k] = v
	}
	signed.set(out.Header)
	return base.RoundTrip(out)
}

// set puts this second's header values in h: the slices themselves, which
// carriedBy recognises.
func (c *signed) set(h http.Header) {
	h["X-Source"] = source
	h["X-Date"] = c.values.date
	h["Authorization"] = c.values.auth
}

// carriedBy reports whether h holds this second's header values
// themselves, as SignRequest set them: the same slices, not equal ones.
func (c *signed) carriedBy(h http.Header) bool {
	same := func(a, b []string) bool { return len(a) == 1 && len(b) == 1 && &a[0] == &b[0] }
	return same(h["X-Date"], c.values.date) && same(h["Authorization"], c.values.auth) && same(h["X-Source"], source)
}
