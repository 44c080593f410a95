package damaijia

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// TestLoginSample decodes the raw document's one response sample.
func TestLoginSample(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "login_ok.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out loginData
	if err := decodeInto(PathLogin, &out)(body); err != nil {
		t.Fatal(err)
	}
	if got, want := string(out.AccessToken), "14aea231f8e162649635f46b33xxxxxx"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestStatusCodes runs every code of the document's 公共错误码 table.
func TestStatusCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		kind       vendorerr.Kind
		reason     string
		retryAfter bool
	}{
		{status: 132, kind: vendorerr.KindUnknown},
		{status: 160, kind: vendorerr.KindThrottled, retryAfter: true},
		{status: 161, kind: vendorerr.KindThrottled},
		{status: 200, kind: vendorerr.KindAuth},
		{status: 208, kind: vendorerr.KindRefused, reason: "CANCEL_FAILED"},
		{status: 209, kind: vendorerr.KindRefused, reason: "BALANCE_TOO_LOW"},
		{status: 213, kind: vendorerr.KindRefused, reason: "ALREADY_SHIPPED"},
		{status: 226, kind: vendorerr.KindRefused, reason: "PRODUCT_DELISTED"},
		{status: 227, kind: vendorerr.KindRefused, reason: "WAREHOUSE_DELISTED"},
		{status: 228, kind: vendorerr.KindRefused, reason: "PLATFORM_NOT_SUPPORTED"},
		{status: 233, kind: vendorerr.KindRefused, reason: "ORIGIN_ABNORMAL"},
		{status: 234, kind: vendorerr.KindAlreadyExists},
		{status: 235, kind: vendorerr.KindRefused, reason: "ORIGIN_BLOCKED"},
		{status: 422, kind: vendorerr.KindInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			t.Parallel()
			body := []byte(`{"status":` + strconv.Itoa(tt.status) + `,"msg":"m","err":"product_id 不能为空"}`)
			err := decodeInto("/x", nil)(body)
			ve, ok := vendorerr.As(err)
			if !ok || ve.Kind != tt.kind {
				t.Fatalf("got %v, want kind %v", err, tt.kind)
			}
			if got, want := ve.Code, strconv.Itoa(tt.status); got != want {
				t.Errorf("code: got %q, want %q", got, want)
			}
			reason, _ := RefusalReason(err)
			if reason != tt.reason {
				t.Errorf("reason: got %q, want %q", reason, tt.reason)
			}
			if got := ve.RetryAfter > 0; got != tt.retryAfter {
				t.Errorf("retry-after set: got %v, want %v", got, tt.retryAfter)
			}
			if tt.status == 422 && ve.Message != "product_id 不能为空" {
				t.Errorf("422 message: got %q, want the err detail", ve.Message)
			}
			if got := IsOurBug(err); got != (tt.status == 132) {
				t.Errorf("IsOurBug: got %v, want %v", got, tt.status == 132)
			}
		})
	}
}
