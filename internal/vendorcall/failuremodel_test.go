package vendorcall

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sony/gobreaker/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// TestFailureModel sends 20 failing calls of each kind of the failure
// model through a real loopback vendor and checks, per kind: the status
// and reason the caller gets, how many requests reached the vendor (the
// retries), and the breaker's state afterwards. Only "unavailable" may
// open the breaker.
func TestFailureModel(t *testing.T) {
	t.Parallel()
	const calls = 20
	tests := []struct {
		name string
		// handler is the vendor; nil means no vendor listens (a refused dial).
		handler  http.HandlerFunc
		mutation bool
		// header is a header value of the request, e.g. with a NUL.
		header string
		// wantSends is how many requests reach the vendor for one call.
		wantSends  int32
		wantCode   codes.Code
		wantReason string
		wantOpen   bool
		wantRetry  bool // RetryInfo in the status
	}{
		{name: "not sent: a NUL in a header value", header: "ab\x00cd",
			handler: okVendor, wantSends: 0, wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT"},
		{name: "not sent: a CR LF in a header value of a mutation", header: "ab\r\nX-Evil: 1", mutation: true,
			handler: okVendor, wantSends: 0, wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT"},
		{name: "refused", handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"code":0,"msg":"参数无效"}`))
		}, wantSends: 1, wantCode: codes.FailedPrecondition, wantReason: "VENDOR_REFUSED"},
		{name: "throttled (a mutation: reads retry after the hint, see below)", mutation: true, handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}, wantSends: 1, wantCode: codes.ResourceExhausted, wantReason: "VENDOR_THROTTLED", wantRetry: true},
		{name: "unavailable: 503", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}, wantSends: 3, wantCode: codes.Unavailable, wantReason: "VENDOR_UNAVAILABLE", wantOpen: true},
		{name: "unavailable: refused dial", wantSends: 0, wantCode: codes.Unavailable, wantReason: "VENDOR_UNAVAILABLE", wantOpen: true},
		{name: "unreadable", handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"code":"one","msg":[]}`))
		}, wantSends: 1, wantCode: codes.Internal, wantReason: "VENDOR_RESPONSE_UNREADABLE"},
		{name: "outcome unknown: a mutation's unreadable answer", mutation: true, handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`<html>gateway</html>`))
		}, wantSends: 1, wantCode: codes.Unknown, wantReason: "OUTCOME_UNKNOWN"},
		{name: "outcome unknown: a mutation's 502", mutation: true, handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
		}, wantSends: 1, wantCode: codes.Unknown, wantReason: "OUTCOME_UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sends atomic.Int32
			url := refusedAddr(t)
			if tt.handler != nil {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					sends.Add(1)
					tt.handler(w, r)
				}))
				defer srv.Close()
				url = srv.URL
			}
			reg := prometheus.NewRegistry()
			c, err := New("test", Config{BreakerFailures: 5, BreakerOpenFor: time.Minute}, Options{Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			build := func() (*http.Request, error) {
				req, err := http.NewRequest(http.MethodPost, url+"/x", strings.NewReader("a=1"))
				if err == nil && tt.header != "" {
					req.Header["receiver_name"] = []string{tt.header}
				}
				return req, err
			}
			for i := range calls {
				// The throttle's pause would hold the next call; this test
				// looks at one call's classification at a time.
				c.pause = pause{}
				var err error
				if tt.mutation {
					req, _ := build()
					err = c.Mutate(context.Background(), "/x", req, decodeEnvelope)
				} else {
					err = c.Read(context.Background(), "/x", RetryPolicy{InitialInterval: time.Millisecond}, build, decodeEnvelope)
				}
				st := rpcstatus.FromError(err, "test.vendorgate.dev")
				if i == 0 || !tt.wantOpen {
					if st.Code() != tt.wantCode || reasonOf(st.Details()) != tt.wantReason {
						t.Fatalf("call %d: got %v %s (%v), want %v %s", i, st.Code(), reasonOf(st.Details()), err, tt.wantCode, tt.wantReason)
					}
					if got := hasRetryInfo(st.Details()); got != tt.wantRetry {
						t.Errorf("call %d: got RetryInfo %v, want %v", i, got, tt.wantRetry)
					}
				}
				if i == 0 {
					if got := sends.Load(); got != tt.wantSends {
						t.Errorf("got %d requests at the vendor for one call, want %d", got, tt.wantSends)
					}
				}
			}
			if got, want := c.breaker.cb.State() == gobreaker.StateOpen, tt.wantOpen; got != want {
				t.Errorf("after %d calls the breaker is %v, want open %v", calls, c.breaker.cb.State(), want)
			}
			if tt.wantOpen {
				if n := testutil.ToFloat64(c.metrics.breaker.WithLabelValues("test")); n != float64(gobreaker.StateOpen) {
					t.Errorf("got breaker gauge %v, want open", n)
				}
			}
		})
	}
}

// TestThrottleSlowsTheVendorDown: after a throttle with a hint, the next
// call waits for the hint instead of reaching the vendor at once, and a
// call whose deadline comes first is refused unsent.
func TestThrottleSlowsTheVendorDown(t *testing.T) {
	t.Parallel()
	var sends atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if sends.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		okVendor(w, nil)
	}))
	defer srv.Close()
	c := newCaller(t, srv, Config{}, nil)
	if err := c.Read(context.Background(), "/x", NoRetry, post(srv.URL), decodeEnvelope); !vendorerr.IsKind(err, vendorerr.KindThrottled) {
		t.Fatalf("got %v, want throttled", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := c.Read(short, "/x", NoRetry, post(srv.URL), decodeEnvelope)
	if !vendorerr.IsKind(err, vendorerr.KindRateLimited) || !vendorerr.NotSent(err) {
		t.Fatalf("got %v, want a rate-limited refusal, not sent", err)
	}
	start := time.Now()
	if err := c.Read(context.Background(), "/x", NoRetry, post(srv.URL), decodeEnvelope); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("the call after the throttle went after %v, want it to wait for the 1 s hint", waited)
	}
	if got := sends.Load(); got != 2 {
		t.Errorf("got %d requests at the vendor, want 2", got)
	}
}

// TestReadRetriesAThrottleAfterItsHint: a read that was throttled is sent
// again after the hint, within the caller's deadline.
func TestReadRetriesAThrottleAfterItsHint(t *testing.T) {
	t.Parallel()
	var sends atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if sends.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		okVendor(w, nil)
	}))
	defer srv.Close()
	c := newCaller(t, srv, Config{}, nil)
	if err := c.Read(context.Background(), "/x", RetryPolicy{InitialInterval: time.Millisecond}, post(srv.URL), decodeEnvelope); err != nil {
		t.Fatalf("got %v, want the retry after the hint to succeed", err)
	}
	if got := sends.Load(); got != 2 {
		t.Errorf("got %d requests, want 2", got)
	}
}

func okVendor(w http.ResponseWriter, _ *http.Request) {
	_, _ = w.Write([]byte(`{"code":1,"msg":"ok"}`))
}

// refusedAddr returns the URL of a loopback port nobody listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

func reasonOf(details []any) string {
	for _, d := range details {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func hasRetryInfo(details []any) bool {
	for _, d := range details {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			return true
		}
	}
	return false
}

// TestStreamsAreBoundedByProgress: an upload and a download that take
// several times Timeout pass while bytes keep moving, and one that stalls
// for IdleTimeout is cut.
func TestStreamsAreBoundedByProgress(t *testing.T) {
	t.Parallel()
	const size = 256 << 10
	cfg := Config{Timeout: 100 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}
	slowly := func(stallAt int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 16<<10)
			read := 0
			for {
				n, err := r.Body.Read(buf)
				read += n
				if err != nil {
					break
				}
				time.Sleep(10 * time.Millisecond) // 160 ms in all: more than Timeout
			}
			flusher := w.(http.Flusher)
			for sent := 0; sent < size; sent += len(buf) {
				if stallAt > 0 && sent >= stallAt {
					time.Sleep(time.Second)
					return
				}
				_, _ = w.Write(buf)
				flusher.Flush()
				time.Sleep(25 * time.Millisecond) // 400 ms in all: more than IdleTimeout
			}
		}
	}
	upload := func(c *Caller, url string) (int, error) {
		pr, pw := io.Pipe()
		go func() {
			chunk := make([]byte, 16<<10)
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			_ = pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, url, pr)
		got := 0
		err := c.MutateStream(context.Background(), "/up", req, func(_ http.Header, body io.Reader) error {
			n, err := io.Copy(io.Discard, body)
			got = int(n)
			return err
		})
		return got, err
	}
	t.Run("moving", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(slowly(0))
		defer srv.Close()
		c := newCaller(t, srv, cfg, nil)
		start := time.Now()
		got, err := upload(c, srv.URL)
		if err != nil || got != size {
			t.Fatalf("got %d bytes, %v after %v, want %d bytes", got, err, time.Since(start), size)
		}
	})
	t.Run("stalled", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(slowly(size / 2))
		defer srv.Close()
		c := newCaller(t, srv, cfg, nil)
		_, err := upload(c, srv.URL)
		if !vendorerr.IsKind(err, vendorerr.KindOutcomeUnknown) || !strings.Contains(err.Error(), "no byte moved") {
			t.Fatalf("got %v, want an unknown outcome cut for no progress", err)
		}
	})
}

// TestStalledCallerIsNotTheVendors: a download whose consumer (our caller,
// e.g. a REST client that reads nothing) takes no byte for IdleTimeout,
// and an upload whose caller sends no more, are cut, but as the caller's
// doing: DEADLINE_EXCEEDED-like, not an unavailability, and the breaker,
// which opens after one unavailability here, stays closed for the next
// caller. A vendor that stops sending is still an outage.
func TestStalledCallerIsNotTheVendors(t *testing.T) {
	t.Parallel()
	const chunk = 16 << 10
	cfg := Config{Timeout: time.Second, IdleTimeout: 300 * time.Millisecond, BreakerFailures: 1, BreakerOpenFor: time.Minute}
	// The vendor sends 64 chunks as fast as they are taken, or, with
	// stall, 4 chunks and then nothing.
	vendor := func(stall bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			buf := make([]byte, chunk)
			for i := range 64 {
				if stall && i == 4 {
					<-r.Context().Done()
					return
				}
				if _, err := w.Write(buf); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	}
	get := func(c *Caller, url string, consume StreamDecoder) error {
		return c.ReadStream(context.Background(), "/file", NoRetry, func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, url, nil)
		}, consume)
	}
	readAll := func(_ http.Header, body io.Reader) error { _, err := io.Copy(io.Discard, body); return err }

	t.Run("download consumer stalls", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(vendor(false))
		defer srv.Close()
		c := newCaller(t, srv, cfg, nil)
		err := get(c, srv.URL, func(_ http.Header, body io.Reader) error {
			buf := make([]byte, chunk)
			if _, err := io.ReadFull(body, buf); err != nil {
				return err
			}
			time.Sleep(time.Second) // the caller takes nothing
			_, err := io.Copy(io.Discard, body)
			return err
		})
		if vendorerr.IsKind(err, vendorerr.KindUnavailable) || !errors.Is(err, context.DeadlineExceeded) ||
			!strings.Contains(err.Error(), "the caller moved no byte") {
			t.Fatalf("got %v, want the caller's stall (deadline exceeded), not an unavailability", err)
		}
		if err := get(c, srv.URL, readAll); err != nil {
			t.Errorf("the next caller: got %v, want served (the breaker must not have opened)", err)
		}
	})
	t.Run("upload caller stalls", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(vendor(false))
		defer srv.Close()
		c := newCaller(t, srv, cfg, nil)
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write(make([]byte, chunk))
			time.Sleep(time.Second) // the caller sends no more
			_ = pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
		err := c.MutateStream(context.Background(), "/up", req, readAll)
		if vendorerr.IsKind(err, vendorerr.KindUnavailable) || !strings.Contains(err.Error(), "the caller moved no byte") {
			t.Fatalf("got %v, want the caller's stall, not an unavailability", err)
		}
		if err := get(c, srv.URL, readAll); err != nil {
			t.Errorf("the next caller: got %v, want served (the breaker must not have opened)", err)
		}
	})
	t.Run("vendor stalls", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(vendor(true))
		defer srv.Close()
		c := newCaller(t, srv, cfg, nil)
		err := get(c, srv.URL, readAll)
		if !vendorerr.IsKind(err, vendorerr.KindUnavailable) || !strings.Contains(err.Error(), "no byte moved") {
			t.Fatalf("got %v, want an unavailability cut for no progress", err)
		}
	})
}
