package dingdang

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// scripted answers the n-th createOrder with answers[n]: "ok", "refused"
// (参数无效), or an HTTP status such as "502" or "429".
func scripted(t *testing.T, answers ...string) *Client {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(answers) {
			t.Errorf("createOrder sent %d times, want %d", i+1, len(answers))
			http.Error(w, "too many", http.StatusTeapot)
			return
		}
		switch a := answers[i]; a {
		case "ok":
			_, _ = w.Write([]byte(`{"msg":"成功","code":1,"result":[]}`))
		case "refused":
			_, _ = w.Write([]byte(`{"msg":"参数无效","code":0,"result":[]}`))
		case "502":
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		case "429":
			http.Error(w, "<html>too many requests</html>", http.StatusTooManyRequests)
		default:
			t.Fatalf("unknown answer %q", a)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.Client(), srv.URL, Options{Resends: 2, ResendBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNotDispatched: a booked dispatch may be released only when no
// attempt can have dispatched the order: every attempt refused by the
// vendor or never applied. One attempt with an unknown outcome (a
// mutation's 5xx) keeps it booked, even when the last re-send was
// throttled.
func TestNotDispatched(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		answers  []string
		wantKind vendorerr.Kind
		want     bool
	}{
		{"refused", []string{"refused"}, vendorerr.KindRefused, true},
		{"throttled every time", []string{"429", "429", "429"}, vendorerr.KindThrottled, true},
		{"unknown, then throttled", []string{"502", "429", "429"}, vendorerr.KindThrottled, false},
		{"unknown every time", []string{"502", "502", "502"}, vendorerr.KindOutcomeUnknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := scripted(t, tt.answers...).CreateOrder(context.Background(), NewOrder{OriginID: "N1", ReceiverPhone: "18942249050"})
			if !vendorerr.IsKind(err, tt.wantKind) {
				t.Fatalf("got %v, want kind %s", err, tt.wantKind)
			}
			if got := NotDispatched(err); got != tt.want {
				t.Errorf("NotDispatched(%v): got %v, want %v", err, got, tt.want)
			}
		})
	}
	if NotDispatched(context.Canceled) {
		t.Error("NotDispatched(context.Canceled): got true, want false (not a vendor answer)")
	}
}
