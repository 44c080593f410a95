package post30

import (
	"net/url"
	"testing"
	"time"
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
// and `printf '%s' '<that string>' | md5sum` gives the want below.
func TestSignatureVector(t *testing.T) {
	t.Parallel()
	form := url.Values{"data": {"{batch_name:'AAAAAA'}"}, "external_company": {testAK}}
	got := Signature(form, "2024-05-01 12:05:00", testSK)
	if want := "b3bb396cecc27eb272e0add4fe594f4f"; got != want {
		t.Errorf("got %s, want %s", got, want)
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
	if err := Sign(testAK, testSK, now, shanghai)(form); err != nil {
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
	if err := Sign("", testSK, time.Now(), time.UTC)(url.Values{}); err == nil {
		t.Error("got nil, want an error for a missing access key")
	}
}
