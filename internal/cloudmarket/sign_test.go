package cloudmarket

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The vectors were produced by running the Python sample printed in the raw
// vendor document (vendor-docs/delivery-dingdang.txt) with these inputs.
func TestAuthorizationMatchesVendorSample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, key, date, want string
	}{
		{
			id: "AKIDi6qE41WgJ9w8h4h9zq68Vq24d1beIuN0qIwU", key: "xxxx", date: "Mon, 19 Mar 2018 12:08:40 GMT",
			want: `hmac id="AKIDi6qE41WgJ9w8h4h9zq68Vq24d1beIuN0qIwU", algorithm="hmac-sha1", headers="x-date x-source", signature="0nRkv+5gmqWBvVANnKBB8IZYogY="`,
		},
		{
			id: "sandbox-id", key: "sandbox-key", date: "Mon, 23 Nov 2026 13:30:00 GMT",
			want: `hmac id="sandbox-id", algorithm="hmac-sha1", headers="x-date x-source", signature="EhaL8+meCznvNG8TQmkeOzdkFVw="`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.date, func(t *testing.T) {
			t.Parallel()
			if got := Authorization(tt.id, tt.key, tt.date, Source); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSignerHeadersAndClone(t *testing.T) {
	t.Parallel()
	fixed := time.Date(2026, 11, 23, 13, 30, 0, 0, time.FixedZone("CST", 8*3600))
	var got http.Header
	s := &Signer{SecretID: "sandbox-id", SecretKey: "sandbox-key", Now: func() time.Time { return fixed },
		Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			got = r.Header.Clone()
			return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
		})}
	req := httptest.NewRequest(http.MethodPost, "http://vendor/x", nil)
	req.Header.Set("origin_id", "订单1")
	if _, err := s.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("caller's request was modified")
	}
	if d := got.Get("X-Date"); d != "Mon, 23 Nov 2026 05:30:00 GMT" {
		t.Errorf("got X-Date %q, want the GMT time", d)
	}
	want := `hmac id="sandbox-id", algorithm="hmac-sha1", headers="x-date x-source", signature="EhaL8+meCznvNG8TQmkeOzdkFVw="`
	fixed = time.Date(2026, 11, 23, 13, 30, 0, 0, time.UTC)
	if _, err := s.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if a := got.Get("Authorization"); a != want {
		t.Errorf("got %s, want %s", a, want)
	}
	if got.Get("X-Source") != "market" || got.Get("origin_id") != "订单1" {
		t.Errorf("got headers %v", got)
	}
}

// TestSignRequestInPlace: a request its owner signed (SignRequest) goes
// out as it is, without a copy; one that only carries equal header values,
// or an older second's, is signed afresh as a copy, the caller's left as
// it was.
func TestSignRequestInPlace(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 13, 30, 0, 0, time.UTC)
	var sent *http.Request
	s := &Signer{SecretID: "sandbox-id", SecretKey: "sandbox-key", Now: func() time.Time { return now },
		Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent = r
			return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
		})}
	want := `hmac id="sandbox-id", algorithm="hmac-sha1", headers="x-date x-source", signature="EhaL8+meCznvNG8TQmkeOzdkFVw="`

	req := httptest.NewRequest(http.MethodPost, "http://vendor/x", nil)
	s.SignRequest(req)
	if a := req.Header.Get("Authorization"); a != want || req.Header.Get("X-Source") != "market" {
		t.Fatalf("SignRequest set %v", req.Header)
	}
	if _, err := s.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if sent != req {
		t.Error("a request signed in place was copied")
	}

	// Equal values, not SignRequest's: signed as a copy.
	copied := httptest.NewRequest(http.MethodPost, "http://vendor/x", nil)
	copied.Header = req.Header.Clone()
	copied.Header.Set("Authorization", "forged")
	if _, err := s.RoundTrip(copied); err != nil {
		t.Fatal(err)
	}
	if sent == copied || sent.Header.Get("Authorization") != want || copied.Header.Get("Authorization") != "forged" {
		t.Errorf("a request not signed in place went out as %v; the caller's is now %v", sent.Header, copied.Header)
	}

	// A second later, the request signed in place is out of date.
	now = now.Add(time.Second)
	if _, err := s.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if sent == req || sent.Header.Get("X-Date") != "Mon, 23 Nov 2026 13:30:01 GMT" || req.Header.Get("X-Date") != "Mon, 23 Nov 2026 13:30:00 GMT" {
		t.Errorf("an out-of-date request went out with X-Date %q (the caller's %q)", sent.Header.Get("X-Date"), req.Header.Get("X-Date"))
	}
}

func TestGatewayRejects(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 13, 30, 0, 0, time.UTC)
	g := &Gateway{Keys: map[string]string{"id": "key"}, Now: func() time.Time { return now }}
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	date := now.Format(DateFormat)
	tests := []struct {
		name   string
		header map[string]string
		status int
		msg    string
	}{
		{"ok", map[string]string{"X-Source": "market", "X-Date": date, "Authorization": Authorization("id", "key", date, "market")}, 204, ""},
		{"missing headers", map[string]string{"X-Source": "market"}, 401, "cannot be verified"},
		{"unknown key", map[string]string{"X-Source": "market", "X-Date": date, "Authorization": Authorization("nobody", "key", date, "market")}, 401, "HMAC signature cannot be verified"},
		{"wrong signature", map[string]string{"X-Source": "market", "X-Date": date, "Authorization": Authorization("id", "wrong", date, "market")}, 403, "HMAC signature does not match"},
		{"stale date", map[string]string{"X-Source": "market", "X-Date": now.Add(-16 * time.Minute).Format(DateFormat),
			"Authorization": Authorization("id", "key", now.Add(-16*time.Minute).Format(DateFormat), "market")}, 401, "date"},
		{"garbled", map[string]string{"X-Source": "market", "X-Date": date, "Authorization": "Bearer x"}, 401, "Invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/x", nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("got %d, want %d", rec.Code, tt.status)
			}
			if !strings.Contains(rec.Body.String(), tt.msg) {
				t.Errorf("got body %s, want it to contain %q", rec.Body.String(), tt.msg)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
