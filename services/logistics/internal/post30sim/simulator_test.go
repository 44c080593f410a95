package post30sim_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30sim"
)

// TestSimulatorChecksSignAndTimer: the simulator refuses what 30post
// would refuse, and applies nothing for it.
func TestSimulatorChecksSignAndTimer(t *testing.T) {
	t.Parallel()
	const ak, sk = "ak-1", "sk-1"
	tests := []struct {
		name    string
		sk      string
		now     time.Time
		wantMsg string
	}{
		{name: "signed and fresh", sk: sk, now: time.Now()},
		{name: "wrong secret", sk: "sk-2", now: time.Now(), wantMsg: "签名错误"},
		{name: "expired timer", sk: sk, now: time.Now().Add(-6 * time.Minute), wantMsg: "签名已过期"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim := post30sim.New(post30sim.Options{Keys: map[string]string{ak: sk}})
			srv := httptest.NewServer(sim.Handler())
			t.Cleanup(srv.Close)
			c, err := post30.New(srv.Client(), srv.URL, post30.Options{AccessKey: ak, SecretKey: tt.sk, Now: func() time.Time { return tt.now }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Recharge(context.Background(), post30.Account{Email: "a@example.com"}, "3.20")
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := sim.Balance("", "a@example.com"); got != 320 {
					t.Errorf("balance: got %d, want 320", got)
				}
				return
			}
			ve, ok := vendorerr.As(err)
			if !ok || ve.Kind != vendorerr.KindRefused || !strings.HasPrefix(ve.Message, tt.wantMsg) {
				t.Fatalf("got %v, want a refusal %q", err, tt.wantMsg)
			}
			if got := sim.Balance("", "a@example.com"); got != 0 {
				t.Errorf("balance: got %d, want 0", got)
			}
		})
	}
}

// TestGBKSimulator: a simulator that checks signatures over GBK bytes
// takes a GBK-signing client's Chinese e-mail, and refuses a UTF-8 one's
// as 30post does (签名错误); an ASCII-only call passes either way.
func TestGBKSimulator(t *testing.T) {
	t.Parallel()
	const ak, sk = "ak-1", "sk-1"
	sim := post30sim.New(post30sim.Options{Keys: map[string]string{ak: sk}, SignEncoding: post30.SignGBK})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	for enc, wantOK := range map[post30.SignEncoding]bool{post30.SignGBK: true, post30.SignUTF8: false} {
		c, err := post30.New(srv.Client(), srv.URL, post30.Options{AccessKey: ak, SecretKey: sk, SignEncoding: enc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Recharge(context.Background(), post30.Account{Email: "a@example.com"}, "1"); err != nil {
			t.Errorf("%s, ASCII: %v", enc, err)
		}
		_, err = c.Recharge(context.Background(), post30.Account{Email: "张三@example.com"}, "1")
		if wantOK != (err == nil) {
			t.Errorf("%s, 张三@example.com: got %v, want ok %v", enc, err, wantOK)
		}
		if ve, ok := vendorerr.As(err); !wantOK && (!ok || ve.Reason != post30.ReasonSignatureRejected) {
			t.Errorf("%s: got %v, want %s", enc, err, post30.ReasonSignatureRejected)
		}
	}
}
