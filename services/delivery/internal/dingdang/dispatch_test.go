package dingdang

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
)

// scripted answers the n-th request with answers[n]: "ok", "refused"
// (参数无效), "duplicate" (订单号重复), or an HTTP status such as "502" or
// "429". It returns the client and the number of requests it received.
func scripted(t *testing.T, answers ...string) (*Client, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(answers) {
			t.Errorf("sent %d times, want %d", i+1, len(answers))
			http.Error(w, "too many", http.StatusTeapot)
			return
		}
		switch a := answers[i]; a {
		case "ok":
			_, _ = w.Write([]byte(`{"msg":"成功","code":1,"result":[]}`))
		case "refused":
			_, _ = w.Write([]byte(`{"msg":"参数无效","code":0,"result":[]}`))
		case "duplicate":
			_, _ = w.Write([]byte(`{"msg":"订单号重复","code":0,"result":[]}`))
		case "502":
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		case "429":
			http.Error(w, "<html>too many requests</html>", http.StatusTooManyRequests)
		default:
			t.Errorf("unknown answer %q", a)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.Client(), srv.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c, &n
}

// TestCreateOrderIsSentOnce: whatever the vendor answers, createOrder is
// sent once, and its failure says whether the dispatch certainly did not
// happen (vendorerr.NotApplied: refused, throttled) or may have (a
// mutation's 5xx: outcome unknown, for the caller to read back).
func TestCreateOrderIsSentOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		answer         string
		wantKind       vendorerr.Kind
		wantNotApplied bool
	}{
		{"ok", 0, false},
		{"refused", vendorerr.KindRefused, true},
		{"duplicate", vendorerr.KindAlreadyExists, false},
		{"429", vendorerr.KindThrottled, true},
		{"502", vendorerr.KindOutcomeUnknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.answer, func(t *testing.T) {
			t.Parallel()
			c, sent := scripted(t, tt.answer)
			msg, err := c.CreateOrder(context.Background(), dispatch.NewOrder{OriginID: "N1", ReceiverPhone: "18942249050"})
			if n := sent.Load(); n != 1 {
				t.Errorf("got %d sends, want 1", n)
			}
			if tt.answer == "ok" {
				if err != nil || msg != "成功" {
					t.Fatalf("got %q, %v, want 成功", msg, err)
				}
				return
			}
			if !vendorerr.IsKind(err, tt.wantKind) {
				t.Fatalf("got %v, want kind %s", err, tt.wantKind)
			}
			if got := vendorerr.NotApplied(err); got != tt.wantNotApplied {
				t.Errorf("NotApplied(%v): got %v, want %v", err, got, tt.wantNotApplied)
			}
		})
	}
}

// TestControlCharactersInHeadersAreRefusedNamingTheField: a value that
// travels in a header and holds a control character is refused before
// anything is sent, as KindUnsendable naming the request's field (not the
// vendor's header).
func TestControlCharactersInHeadersAreRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		call  func(c *Client) error
		field string
	}{
		{"NUL in createOrder's info", func(c *Client) error {
			_, err := c.CreateOrder(ctx, dispatch.NewOrder{OriginID: "N1", Remark: "放门口\x00"})
			return err
		}, "remark"},
		{"LF in getShopInfo's username", func(c *Client) error {
			_, err := c.GetShop(ctx, "u1", "shop\nX-Injected: 1", "")
			return err
		}, "username"},
		{"CR in getShopInfo's headquarters_id", func(c *Client) error {
			_, err := c.GetShop(ctx, "u1", "shop", "hq\r")
			return err
		}, "headquarters_id"},
		{"tab in orderCancel's cancelReason", func(c *Client) error {
			_, err := c.CancelOrder(ctx, "N1", ReasonOther, "a\tb")
			return err
		}, "reason"},
		{"DEL in createUpdateN's station_name", func(c *Client) error {
			_, err := c.UpsertShop(ctx, dispatch.ShopUpsert{PerUserID: "u1", ShopName: "店\x7f"})
			return err
		}, "shop_name"},
		{"LF in getToken's password", func(c *Client) error {
			_, err := c.IssueToken(ctx, dispatch.TokenRequest{PerUserID: "u1", Password: "pw\n"})
			return err
		}, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, sent := scripted(t)
			err := tt.call(c)
			ve, ok := vendorerr.As(err)
			if !ok || ve.Kind != vendorerr.KindUnsendable || ve.Field != tt.field || !vendorerr.NotSent(err) {
				t.Fatalf("got %v, want KindUnsendable naming %s, not sent", err, tt.field)
			}
			if strings.Contains(ve.Message, "X-Injected") {
				t.Errorf("the message %q repeats the value", ve.Message)
			}
			if n := sent.Load(); n != 0 {
				t.Errorf("got %d sends, want 0", n)
			}
		})
	}
}
