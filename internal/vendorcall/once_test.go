package vendorcall_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorcall/vendorcalltest"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// purchaseVendor counts the purchases it applies; every purchase on a
// reused connection loses its reply.
func purchaseVendor(t *testing.T, sends *atomic.Int32) string {
	srv := vendorcalltest.NewLostReplyServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/buy" {
			sends.Add(1)
		}
		_, _ = io.WriteString(w, `{"code":1}`)
	}), func(r *http.Request) bool { return r.URL.Path == "/buy" })
	return srv.URL
}

// TestTransportReplaysAPlainGET shows the hazard the mutation guard is
// for: net/http re-sends a bodiless GET whose reused connection broke
// unanswered, and the caller is told it succeeded.
func TestTransportReplaysAPlainGET(t *testing.T) {
	t.Parallel()
	var sends atomic.Int32
	url := purchaseVendor(t, &sends)
	hc := &http.Client{Transport: vendorcall.NewTransport()}
	for _, path := range []string{"/warm", "/buy"} {
		resp, err := hc.Get(url + path)
		if err != nil {
			t.Fatalf("GET %s: got %v, want the replayed answer", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if got := sends.Load(); got != 2 {
		t.Errorf("got %d purchases applied by one plain GET, want 2 (the transport's replay)", got)
	}
}

func TestMutateIsSentOnceAndItsLostReplyIsOutcomeUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func(url string) (*http.Request, error)
	}{
		{"GET without body", func(url string) (*http.Request, error) {
			return http.NewRequest(http.MethodGet, url, nil)
		}},
		{"POST with rewindable body", func(url string) (*http.Request, error) {
			return http.NewRequest(http.MethodPost, url, strings.NewReader("a=1"))
		}},
		{"POST without body, with Idempotency-Key", func(url string) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, url, nil)
			if err == nil {
				req.Header.Set("Idempotency-Key", "k1")
			}
			return req, err
		}},
		{"DELETE with X-Idempotency-Key", func(url string) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodDelete, url, nil)
			if err == nil {
				req.Header.Set("X-Idempotency-Key", "k1")
			}
			return req, err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sends atomic.Int32
			url := purchaseVendor(t, &sends)
			c, err := vendorcall.New("test", vendorcall.Config{}, vendorcall.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ok := func([]byte) error { return nil }
			if err := c.Read(context.Background(), "/warm", vendorcall.NoRetry, func() (*http.Request, error) {
				return http.NewRequest(http.MethodGet, url+"/warm", nil)
			}, ok); err != nil {
				t.Fatalf("warm-up read: %v", err)
			}
			req, err := tt.build(url + "/buy")
			if err != nil {
				t.Fatal(err)
			}
			err = c.Mutate(context.Background(), "/buy", req, ok)
			if !vendorerr.IsKind(err, vendorerr.KindOutcomeUnknown) {
				t.Errorf("got %v, want %s", err, vendorerr.KindOutcomeUnknown)
			}
			if got := sends.Load(); got != 1 {
				t.Errorf("got %d sends of one mutation, want 1", got)
			}
		})
	}
}

func TestMutateRefusedDialIsNotOutcomeUnknown(t *testing.T) {
	t.Parallel()
	c, err := vendorcall.New("test", vendorcall.Config{}, vendorcall.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 on loopback: nothing listens, the dial is refused.
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/buy", strings.NewReader("a=1"))
	err = c.Mutate(context.Background(), "/buy", req, func([]byte) error { return nil })
	if !vendorerr.IsKind(err, vendorerr.KindUnavailable) {
		t.Errorf("got %v, want %s (nothing was sent)", err, vendorerr.KindUnavailable)
	}
}

func TestMutateTimeoutAfterSendingIsOutcomeUnknown(t *testing.T) {
	t.Parallel()
	var sends atomic.Int32
	release := make(chan struct{})
	srv := vendorcalltest.NewLostReplyServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sends.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), func(*http.Request) bool { return false })
	defer close(release)
	c, err := vendorcall.New("test", vendorcall.Config{Timeout: 50 * 1e6}, vendorcall.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/buy", nil)
	err = c.Mutate(context.Background(), "/buy", req, func([]byte) error { return nil })
	if !vendorerr.IsKind(err, vendorerr.KindOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want %s wrapping context.DeadlineExceeded", err, vendorerr.KindOutcomeUnknown)
	}
	if got := sends.Load(); got != 1 {
		t.Errorf("got %d sends, want 1", got)
	}
}
