package fadada

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vendorgate/vendorgate/internal/formsign"
)

// Version is the API version every call sends (v).
const Version = "2.0"

// TimestampLayout is the layout of the timestamp field (yyyyMMddHHmmss),
// always in China time.
const TimestampLayout = "20060102150405"

// Digest is Fadada's msg_digest, as its Java and PHP SDKs compute it (hex
// upper case, UTF-8):
//
//	base64( HEX( SHA1( appID + HEX(MD5(md5Src)) + HEX(SHA1(appSecret + tail)) + extra ) ) )
//
// base64 is applied to the 40-character hex string, not to the raw digest.
func Digest(appID, appSecret, md5Src, tail, extra string) string {
	inner := sha1.Sum([]byte(appSecret + tail))
	md := md5.Sum([]byte(md5Src))
	outer := sha1.Sum([]byte(appID + upperHex(md[:]) + upperHex(inner[:]) + extra))
	return base64.StdEncoding.EncodeToString([]byte(upperHex(outer[:])))
}

func upperHex(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// digestFields is the per-endpoint field order of the inner SHA1's tail
// (VENDORS.md §3), and the field appended outside it (extra).
var digestFields = map[string]struct {
	tail  []string
	extra string
}{
	PathAccountRegister:  {tail: []string{"account_type", "open_id"}},
	PathApplyCert:        {tail: []string{"customer_id", "verified_serialno"}},
	PathAddSignature:     {tail: []string{"customer_id", "signature_img_base64"}},
	PathCustomSignature:  {tail: []string{"content", "customer_id"}},
	PathUploadDocs:       {tail: []string{"contract_id"}},
	PathUploadTemplate:   {tail: []string{"template_id"}},
	PathGenerateContract: {tail: []string{"template_id", "contract_id"}, extra: "parameter_map"},
	PathViewContract:     {tail: []string{"contract_id"}},
	PathDownloadContract: {tail: []string{"contract_id"}},
	PathContractFiling:   {tail: []string{"contract_id"}},
	PathPersonCertInfo:   {tail: []string{"verified_serialno"}},
	PathCompanyCertInfo:  {tail: []string{"verified_serialno"}},
	PathGetFile:          {tail: []string{"uuid"}},
}

// Credentials are the Fadada app's id and secret (FADADA_APP_ID,
// FADADA_APP_SECRET). The secret only ever enters a digest.
type Credentials struct {
	// AppID is the app id (app_id).
	AppID string
	// AppSecret is the app secret; never logged, never sent.
	AppSecret string
}

// Signer returns the formsign.Signer of endpoint (e.g. PathUploadDocs): it
// sets app_id, v, timestamp (at, in China time) and the msg_digest over the
// endpoint's fields in their order. An endpoint without a known field
// order is an error.
func (c Credentials) Signer(endpoint string, at time.Time) formsign.Signer {
	return func(form url.Values) error {
		fields, ok := digestFields[endpoint]
		if !ok {
			return fmt.Errorf("fadada: no msg_digest field order for %q", endpoint)
		}
		if c.AppID == "" || c.AppSecret == "" {
			return errors.New("fadada: FADADA_APP_ID and FADADA_APP_SECRET must be set")
		}
		ts := at.Format(TimestampLayout)
		var tail strings.Builder
		for _, f := range fields.tail {
			tail.WriteString(form.Get(f))
		}
		extra := ""
		if fields.extra != "" {
			extra = form.Get(fields.extra)
		}
		form.Set("app_id", c.AppID)
		form.Set("v", Version)
		form.Set("timestamp", ts)
		form.Set("msg_digest", Digest(c.AppID, c.AppSecret, ts, tail.String(), extra))
		return nil
	}
}

// Verify reports whether form carries the msg_digest endpoint expects for
// these credentials: the check the vendor makes (and the simulator).
func (c Credentials) Verify(endpoint string, form url.Values) bool {
	fields, ok := digestFields[endpoint]
	if !ok || form.Get("app_id") != c.AppID {
		return false
	}
	var tail strings.Builder
	for _, f := range fields.tail {
		tail.WriteString(form.Get(f))
	}
	extra := ""
	if fields.extra != "" {
		extra = form.Get(fields.extra)
	}
	want := Digest(c.AppID, c.AppSecret, form.Get("timestamp"), tail.String(), extra)
	return form.Get("msg_digest") == want
}
