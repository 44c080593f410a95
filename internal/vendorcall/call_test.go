package vendorcall

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/internal/vendorjson"
)

type envelope struct {
	Code vendorjson.Int    `json:"code"`
	Msg  vendorjson.String `json:"msg"`
}

func decodeEnvelope(body []byte) error {
	var e envelope
	if err := vendorjson.Decode(body, &e); err != nil {
		return err
	}
	if e.Code != 1 {
		return &vendorerr.Error{Kind: vendorerr.KindRefused, Vendor: "test", Code: "0", Message: string(e.Msg)}
	}
	return nil
}

// newCaller returns a Caller of vendor "test" in front of srv.
func newCaller(t *testing.T, srv *httptest.Server, cfg Config, reg prometheus.Registerer) *Caller {
	t.Helper()
	c, err := New("test", cfg, Options{HTTPClient: srv.Client(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// failingOnce is a vendor that answers its first call with status and
// every later one with success, after check has seen the request.
func failingOnce(t *testing.T, status int, check func(*http.Request)) *httptest.Server {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		check(r)
		if calls.Add(1) == 1 {
			w.WriteHeader(status)
			return
		}
		_, _ = io.WriteString(w, `{"code":1}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// post returns a builder of an empty POST to url.
func post(url string) func() (*http.Request, error) {
	return func() (*http.Request, error) { return http.NewRequest(http.MethodPost, url, nil) }
}

func TestReadClassifiesFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		timeout time.Duration
		want    vendorerr.Kind
		code    string
	}{
		{"ok", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(`{"msg":"成功","code":1,"result":[]}`))
		}, 0, -1, ""},
		{"business refusal", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"msg":"参数无效","code":0,"result":[]}`))
		}, 0, vendorerr.KindRefused, "0"},
		{"signature rejected", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"message":"HMAC signature does not match"}`))
		}, 0, vendorerr.KindAuth, "403"},
		{"throttled", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(429) }, 0, vendorerr.KindThrottled, "429"},
		{"5xx", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }, 0, vendorerr.KindUnavailable, "502"},
		{"html garbage", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`<html>nginx</html>`))
		}, 0, vendorerr.KindUnreadable, ""},
		{"too large", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat(" ", 2<<20)))
		}, 0, vendorerr.KindUnreadable, ""},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, 50 * time.Millisecond, vendorerr.KindUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			reg := prometheus.NewRegistry()
			c := newCaller(t, srv, Config{Timeout: tt.timeout}, reg)
			err := c.Read(context.Background(), "/x", NoRetry, post(srv.URL+"/x"), decodeEnvelope)
			if tt.want < 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				if n := testutil.ToFloat64(c.metrics.requests.WithLabelValues("test", "/x", "ok")); n != 1 {
					t.Errorf("got %v ok requests counted, want 1", n)
				}
				return
			}
			ve, ok := vendorerr.As(err)
			if !ok {
				t.Fatalf("got %v, want a *vendorerr.Error", err)
			}
			if ve.Kind != tt.want || ve.Code != tt.code {
				t.Errorf("got kind %v code %q, want %v %q", ve.Kind, ve.Code, tt.want, tt.code)
			}
			if n := testutil.ToFloat64(c.metrics.failures.WithLabelValues("test", "/x", tt.want.String(), tt.code)); n != 1 {
				t.Errorf("got %v failures counted, want 1", n)
			}
		})
	}
}

func TestDoCallerCancel(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	c := newCaller(t, srv, Config{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := c.Read(ctx, "/x", NoRetry, post(srv.URL), decodeEnvelope); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestReadRetriesOnlyRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    []int
		wantCalls int32
		wantErr   bool
	}{
		{"recovers after 502", []int{502, 200}, 2, false},
		{"gives up after three", []int{502, 503, 502, 200}, 3, true},
		{"no retry on refusal", []int{-1, 200}, 1, true},
		{"no retry on auth", []int{403, 200}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1) - 1
				switch s := tt.status[n]; s {
				case 200:
					_, _ = w.Write([]byte(`{"code":1,"msg":"ok"}`))
				case -1:
					_, _ = w.Write([]byte(`{"code":0,"msg":"参数无效"}`))
				default:
					w.WriteHeader(s)
				}
			}))
			defer srv.Close()
			c := newCaller(t, srv, Config{}, nil)
			err := c.Read(context.Background(), "/x", RetryPolicy{InitialInterval: time.Millisecond},
				func() (*http.Request, error) {
					return http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("a=1"))
				},
				decodeEnvelope)
			if (err != nil) != tt.wantErr {
				t.Errorf("got error %v, want error %v", err, tt.wantErr)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("got %d calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestReadAllDeclaredLength: a body read into a buffer of its declared
// length is read whole whatever the declaration says: shorter, exact,
// longer, none, or over the limit.
func TestReadAllDeclaredLength(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("0123456789", 100)
	for _, declared := range []int64{-1, 0, 1, 999, 1000, 1001, 5000, maxPresized + 1, 1 << 40} {
		got, err := readAll(iotest.OneByteReader(strings.NewReader(body)), declared, 4096)
		if err != nil || string(got) != body {
			t.Errorf("declared %d: got %d bytes, %v; want the %d bytes", declared, len(got), err, len(body))
		}
	}
	if _, err := readAll(iotest.ErrReader(io.ErrUnexpectedEOF), 10, 4096); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v from a broken body, want io.ErrUnexpectedEOF", err)
	}
}

// TestReadAllPresizesNoMoreThanItMay: a vendor that declares a large body
// and sends a few bytes gets a buffer of maxPresized, not of what it
// declared.
func TestReadAllPresizesNoMoreThanItMay(t *testing.T) {
	t.Parallel()
	got, err := readAll(strings.NewReader("{}"), 32<<20, 64<<20)
	if err != nil || string(got) != "{}" {
		t.Fatalf("got %q, %v", got, err)
	}
	if cap(got) > maxPresized+1 {
		t.Errorf("got a buffer of %d bytes for a 2-byte body declared as 32 MiB, want at most %d", cap(got), maxPresized+1)
	}
}

// inPlaceSigner is a RequestSigner that counts how each request reached
// it: signed by its owner (the header it set) or not.
type inPlaceSigner struct {
	base           http.RoundTripper
	signed, copied atomic.Int32
}

func (s *inPlaceSigner) SignRequest(r *http.Request) { r.Header.Set("X-Signed", "in place") }

func (s *inPlaceSigner) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("X-Signed") == "in place" {
		s.signed.Add(1)
		return s.base.RoundTrip(r)
	}
	s.copied.Add(1)
	out := r.Clone(r.Context())
	out.Header.Set("X-Signed", "copy")
	return s.base.RoundTrip(out)
}

// TestCallerSignsInPlace: with a RequestSigner for transport, every
// attempt's request, a Read's retries and a Mutate's, is signed by the
// Caller before it is sent, and so needs no copy.
func TestCallerSignsInPlace(t *testing.T) {
	t.Parallel()
	srv := failingOnce(t, http.StatusServiceUnavailable, func(r *http.Request) {
		if r.Header.Get("X-Signed") != "in place" {
			t.Errorf("the vendor got X-Signed %q", r.Header.Get("X-Signed"))
		}
	})
	signer := &inPlaceSigner{base: srv.Client().Transport}
	c, err := New("test", Config{}, Options{HTTPClient: &http.Client{Transport: signer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Read(t.Context(), "read", RetryPolicy{Tries: 2, InitialInterval: time.Millisecond}, post(srv.URL), decodeEnvelope); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("a=1"))
	if err := c.Mutate(t.Context(), "mutate", req, decodeEnvelope); err != nil {
		t.Fatal(err)
	}
	if s, cp := signer.signed.Load(), signer.copied.Load(); s != 3 || cp != 0 {
		t.Errorf("%d requests signed in place, %d copied; want 3, 0", s, cp)
	}
}
