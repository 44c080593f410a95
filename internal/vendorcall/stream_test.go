package vendorcall_test

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// zeros is an endless reader of zero bytes that allocates nothing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// fileVendor serves /file?n=<bytes> of zeros.
func fileVendor(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = io.CopyN(w, zeros{}, n)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func download(c *vendorcall.Caller, url string, n int64, sink io.Writer) error {
	return c.ReadStream(context.Background(), "/file", vendorcall.NoRetry,
		func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, url+"/file?n="+strconv.FormatInt(n, 10), nil)
		},
		func(h http.Header, body io.Reader) error {
			if ct := h.Get("Content-Type"); ct != "application/pdf" {
				return &vendorerr.Error{Kind: vendorerr.KindUnknown, Message: "got content type " + ct}
			}
			_, err := io.Copy(sink, body)
			return err
		})
}

func TestReadStreamIsBounded(t *testing.T) {
	t.Parallel()
	srv := fileVendor(t)
	const limit = 64 << 10
	c, err := vendorcall.New("test", vendorcall.Config{MaxStreamBytes: limit}, vendorcall.Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		n       int64
		wantErr bool
	}{
		{"at the bound", limit, false},
		{"one byte over", limit + 1, true},
		{"far over", 10 * limit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got countingWriter
			err := download(c, srv.URL, tt.n, &got)
			if !tt.wantErr {
				if err != nil || int64(got) != tt.n {
					t.Errorf("got %d bytes, %v, want %d, nil", got, err, tt.n)
				}
				return
			}
			if !vendorerr.IsKind(err, vendorerr.KindUnreadable) {
				t.Errorf("got %v, want %s", err, vendorerr.KindUnreadable)
			}
			if int64(got) > limit {
				t.Errorf("got %d bytes handed on, want at most %d", got, limit)
			}
		})
	}
}

// countingWriter counts what is written to it.
type countingWriter int64

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

// TestReadStreamPassesTwentyMiBInBoundedMemory is not parallel: it
// measures the process's allocations, which parallel tests would add to.
func TestReadStreamPassesTwentyMiBInBoundedMemory(t *testing.T) {
	srv := fileVendor(t)
	c, err := vendorcall.New("test", vendorcall.Config{Timeout: time.Minute}, vendorcall.Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	const size = 20 << 20
	h := sha256.New()
	allocated := allocatedBy(t, func() {
		if err := download(c, srv.URL, size, h); err != nil {
			t.Fatal(err)
		}
	})
	want := sha256.New()
	_, _ = io.CopyN(want, zeros{}, size)
	if string(h.Sum(nil)) != string(want.Sum(nil)) {
		t.Error("got a different body, want the vendor's 20 MiB")
	}
	// Client and vendor together; reading the body whole would be 20 MiB+.
	if allocated > 4<<20 {
		t.Errorf("got %d bytes allocated for a 20 MiB download, want at most 4 MiB", allocated)
	}
}

// allocatedBy returns the bytes the process allocated while f ran.
func allocatedBy(t *testing.T, f func()) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
