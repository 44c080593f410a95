package healthprobe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer healthy.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	_, port, _ := net.SplitHostPort(healthy.Listener.Addr().String())
	tests := []struct {
		addr string
		ok   bool
	}{
		{healthy.Listener.Addr().String(), true},
		{"0.0.0.0:" + port, true},
		{":" + port, true},
		{sick.Listener.Addr().String(), false},
		{"127.0.0.1:1", false},
		{"nonsense", false},
	}
	for _, tt := range tests {
		if err := Check(context.Background(), tt.addr); (err == nil) != tt.ok {
			t.Errorf("Check(%q): got %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}
