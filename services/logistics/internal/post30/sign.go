package post30

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/vendorgate/vendorgate/internal/formsign"
)

// TimerLayout is the timer field's format (C#'s yyyy-MM-dd HH:mm:ss).
const TimerLayout = "2006-01-02 15:04:05"

// TimerValidity is how far ahead of now a signature's timer is set.
const TimerValidity = 5 * time.Minute

// SignEncoding is how the signed string becomes the bytes its MD5 is taken
// over (POST30_SIGN_ENCODING). The vendor's C# sample takes
// Encoding.Default.GetBytes: the server's ANSI code page, GBK on a Chinese
// Windows, UTF-8 on .NET Core. It matters only for non-ASCII values (a
// Chinese e-mail or tracking number); the form itself is sent in UTF-8
// either way, as the sample's RequestHelper.Post(…, Encoding.UTF8) does.
type SignEncoding string

// The signing encodings.
const (
	// SignUTF8 signs the UTF-8 bytes (the default).
	SignUTF8 SignEncoding = "utf-8"
	// SignGBK signs the GBK (code page 936) bytes.
	SignGBK SignEncoding = "gbk"
)

// ParseSignEncoding reads POST30_SIGN_ENCODING: "utf-8" (or "utf8") or
// "gbk", in any case; "" is utf-8.
func ParseSignEncoding(s string) (SignEncoding, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "utf-8", "utf8":
		return SignUTF8, nil
	case "gbk", "cp936":
		return SignGBK, nil
	}
	return "", fmt.Errorf("must be utf-8 or gbk, got %q", s)
}

// ErrUnencodable is a signed value with a character the signing encoding
// cannot hold (an emoji under GBK, say): the request is not sent.
var ErrUnencodable = errors.New("holds a character the signing encoding cannot encode")

// bytes encodes s for the MD5.
func (e SignEncoding) bytes(s string) ([]byte, error) {
	if e != SignGBK {
		return []byte(s), nil
	}
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("post30: GBK: %w", ErrUnencodable)
	}
	return b, nil
}

// Signature returns the MD5 sign of form's fields other than sign and
// timer, with timer and the secret key sk, per the vendor's C# sample:
// for each key in ordinal order, lower(key) + "{$$}" + value + "{$$$}",
// then timer, "{$$$$}" and sk; the lower-case hex MD5 of that string's
// bytes in enc.
func Signature(form url.Values, timer, sk string, enc SignEncoding) (string, error) {
	var b strings.Builder
	keys := make([]string, 0, len(form))
	for k := range form {
		if k != "sign" && k != "timer" {
			keys = append(keys, k)
		}
	}
	// SortedDictionary<string,…> with the default comparer; our keys are
	// ASCII lower-case, where culture and ordinal order agree.
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(strings.ToLower(k))
		b.WriteString("{$$}")
		b.WriteString(form.Get(k))
		b.WriteString("{$$$}")
	}
	b.WriteString(timer)
	b.WriteString("{$$$$}")
	b.WriteString(sk)
	raw, err := enc.bytes(b.String())
	if err != nil {
		return "", err
	}
	sum := md5.Sum(raw)
	return hex.EncodeToString(sum[:]), nil
}

// Sign returns a formsign.Signer that adds external_company (ak), timer
// (now + TimerValidity in loc) and sign, signed in enc. The secret is
// never in the form or an error.
func Sign(ak, sk string, now time.Time, loc *time.Location, enc SignEncoding) formsign.Signer {
	return func(form url.Values) error {
		if ak == "" || sk == "" {
			return errors.New("post30: access key and secret key are required")
		}
		form.Set("external_company", ak)
		timer := now.Add(TimerValidity).In(loc).Format(TimerLayout)
		sign, err := Signature(form, timer, sk, enc)
		if err != nil {
			return err
		}
		form.Set("sign", sign)
		form.Set("timer", timer)
		return nil
	}
}
