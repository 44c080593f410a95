package post30

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/url"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// The vendor's published test keys.
const (
	testAK = "c2e2e01c-6c95-4146-99d6-815811755603"
	testSK = "5fd68fbe-16a4-4851-bc56-3b1890a40a90"
)

// TestSignatureVector checks the C# sample's algorithm on its own data
// value. The string signed is
//
//	data{$$}{batch_name:'AAAAAA'}{$$$}external_company{$$}c2e2e01c-6c95-4146-99d6-815811755603{$$$}2024-05-01 12:05:00{$$$$}5fd68fbe-16a4-4851-bc56-3b1890a40a90
//
// and `printf '%s' '<that string>' | md5sum` gives the want below; ASCII
// is the same in both encodings.
func TestSignatureVector(t *testing.T) {
	t.Parallel()
	form := url.Values{"data": {"{batch_name:'AAAAAA'}"}, "external_company": {testAK}}
	for _, enc := range []SignEncoding{SignUTF8, SignGBK} {
		got, err := Signature(form, "2024-05-01 12:05:00", testSK, enc)
		if want := "b3bb396cecc27eb272e0add4fe594f4f"; err != nil || got != want {
			t.Errorf("%s: got %s, %v; want %s", enc, got, err, want)
		}
	}
}

// TestSignatureChineseValues: with Chinese values the two encodings sign
// different bytes. The wants are hard-coded from Python's
// hashlib.md5(s.encode('utf-8' | 'gbk')) and cross-checked here against
// an MD5 of the string's GBK bytes computed apart from Signature.
func TestSignatureChineseValues(t *testing.T) {
	t.Parallel()
	data := `{"DeductionsTotal":1.5,"E_mail":"张三@example.com","Expressno":"悉尼A100200301","Telephone":"","Type":2}`
	form := url.Values{"data": {data}, "external_company": {testAK}}
	const timer = "2026-12-06 12:05:00"
	signed := "data{$$}" + data + "{$$$}external_company{$$}" + testAK + "{$$$}" + timer + "{$$$$}" + testSK
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(signed))
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(gbk)
	independent := hex.EncodeToString(sum[:])
	if want := "a875c565fee6bd77ca15c433f66334d6"; independent != want {
		t.Fatalf("the GBK bytes' MD5: got %s, want %s (Python's)", independent, want)
	}
	for enc, want := range map[SignEncoding]string{SignUTF8: "7258802d5256c34e4d87faf07888716e", SignGBK: independent} {
		if got, err := Signature(form, timer, testSK, enc); err != nil || got != want {
			t.Errorf("%s: got %s, %v; want %s", enc, got, err, want)
		}
	}
	if _, err := Signature(url.Values{"data": {"🎁"}}, timer, testSK, SignGBK); !errors.Is(err, ErrUnencodable) {
		t.Errorf("an emoji under GBK: got %v, want ErrUnencodable", err)
	}
}

func TestParseSignEncoding(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]SignEncoding{"": SignUTF8, "UTF-8": SignUTF8, "utf8": SignUTF8, "GBK": SignGBK} {
		if got, err := ParseSignEncoding(in); err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseSignEncoding("latin1"); err == nil {
		t.Error("latin1: got nil, want an error")
	}
}

func TestSignSetsTimerInZone(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 1, 4, 0, 0, 0, time.UTC) // 12:00 in Shanghai
	form := url.Values{"data": {"{batch_name:'AAAAAA'}"}}
	if err := Sign(testAK, testSK, now, shanghai, SignUTF8)(form); err != nil {
		t.Fatal(err)
	}
	if got, want := form.Get("timer"), "2024-05-01 12:05:00"; got != want {
		t.Errorf("timer: got %q, want %q", got, want)
	}
	if got, want := form.Get("external_company"), testAK; got != want {
		t.Errorf("external_company: got %q, want %q", got, want)
	}
	if got, want := form.Get("sign"), "b3bb396cecc27eb272e0add4fe594f4f"; got != want {
		t.Errorf("sign: got %q, want %q", got, want)
	}
	for k, v := range form {
		for _, s := range v {
			if s == testSK {
				t.Errorf("field %s holds the secret key", k)
			}
		}
	}
}

func TestSignRefusesMissingKeys(t *testing.T) {
	t.Parallel()
	if err := Sign("", testSK, time.Now(), time.UTC, SignUTF8)(url.Values{}); err == nil {
		t.Error("got nil, want an error for a missing access key")
	}
}
