package fadada

import (
	"net/url"
	"testing"
	"time"
)

// TestDigestSDKVectors checks Digest against the two test vectors of
// Fadada's own SDK tests (VENDORS.md §3).
func TestDigestSDKVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                        string
		appID, secret, md5Src, tail string
		want                        string
	}{
		{
			name: "account_register", appID: "000000", secret: "fdd20141119",
			md5Src: "20191012114711", tail: "1" + "testopenid",
			want: "QjQ5MUQ2OUM1RTEyOTFBQkZDNTc1MkQ2Mjc4M0I1QjUwMjJGQUI1RA==",
		},
		{
			name: "md5 source with a prefix", appID: "404068", secret: "PqDC96A66qRN6fBQwvJaD4Yu",
			md5Src: "A100000000001" + "20201229100822", tail: "59669721A0BC651ADF68CE491014345F",
			want: "OEU0OTM3OTBEMTA3NkJGNzE2Njc1NEI3NDk5QTM2QkE1REMwQkY1Rg==",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Digest(tt.appID, tt.secret, tt.md5Src, tt.tail, ""); got != tt.want {
				t.Errorf("Digest: got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSignerChinaTimeAndOrder checks that the signer writes the timestamp
// in China time whatever the caller's zone, and that the account_register
// digest matches the SDK vector from the form's fields.
func TestSignerChinaTimeAndOrder(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// 2019-10-12 11:47:11 in Shanghai is 03:47:11 UTC.
	at := time.Date(2019, 10, 12, 3, 47, 11, 0, time.UTC).In(shanghai)
	form := url.Values{"open_id": {"testopenid"}, "account_type": {"1"}}
	if err := (Credentials{AppID: "000000", AppSecret: "fdd20141119"}).Signer(PathAccountRegister, at)(form); err != nil {
		t.Fatal(err)
	}
	if got, want := form.Get("timestamp"), "20191012114711"; got != want {
		t.Errorf("timestamp: got %s, want %s", got, want)
	}
	if got, want := form.Get("msg_digest"), "QjQ5MUQ2OUM1RTEyOTFBQkZDNTc1MkQ2Mjc4M0I1QjUwMjJGQUI1RA=="; got != want {
		t.Errorf("msg_digest: got %s, want %s", got, want)
	}
	if got, want := form.Get("v"), "2.0"; got != want {
		t.Errorf("v: got %s, want %s", got, want)
	}
}

// TestGenerateContractExtra checks that parameter_map is appended outside
// the inner hash: changing it changes the digest, and the digest equals
// one computed with it as extra, not as part of the tail.
func TestGenerateContractExtra(t *testing.T) {
	t.Parallel()
	c := Credentials{AppID: "000000", AppSecret: "fdd20141119"}
	at := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	form := url.Values{"template_id": {"T1"}, "contract_id": {"C1"}, "parameter_map": {`{"a":"b"}`}}
	if err := c.Signer(PathGenerateContract, at)(form); err != nil {
		t.Fatal(err)
	}
	want := Digest("000000", "fdd20141119", form.Get("timestamp"), "T1C1", `{"a":"b"}`)
	if got := form.Get("msg_digest"); got != want {
		t.Errorf("msg_digest: got %s, want %s", got, want)
	}
	if inner := Digest("000000", "fdd20141119", form.Get("timestamp"), `T1C1{"a":"b"}`, ""); inner == want {
		t.Errorf("parameter_map inside the inner hash gives the same digest %s", inner)
	}
	if !c.Verify(PathGenerateContract, form) {
		t.Errorf("Verify: got false for the form just signed, want true")
	}
	form.Set("parameter_map", `{"a":"c"}`)
	if c.Verify(PathGenerateContract, form) {
		t.Errorf("Verify: got true after parameter_map changed, want false")
	}
}
