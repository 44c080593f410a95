package damaijia

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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

// TestTimeDrift: every form of a time damaijia may send decodes to its
// instant; what no form explains fails the decode.
func TestTimeDrift(t *testing.T) {
	t.Parallel()
	china, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 4, 19, 24, 0, time.UTC)
	for in, want := range map[string]time.Time{
		`1796530764`: at, `"1796530764"`: at, `1796530764000`: at, `"1796530764000"`: at,
		`"2026-12-06 12:19:24"`: at, `null`: {}, `""`: {}, `0`: {}, `"0"`: {},
	} {
		var v vendorTime
		if err := v.UnmarshalJSON([]byte(in)); err != nil || !v.in(china).Equal(want) {
			t.Errorf("%s: got %v, %v; want %v", in, v.in(china), err, want)
		}
	}
	for _, in := range []string{`"yesterday"`, `"2026/12/06 12:19"`, `{"t":1}`, `[1]`} {
		var v vendorTime
		if err := v.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s: got %v, want an error", in, v.in(china))
		}
	}
}

// TestPackageListDrift: numbers sent as strings are read; a field no
// decoder reads fails the whole reply.
func TestPackageListDrift(t *testing.T) {
	t.Parallel()
	var out pageJSON[packageJSON]
	body := []byte(`{"status":"0","data":{"total":"2","list":[{"order_sn":123,"site_order_id":"S-1","create_time":"2026-12-06 12:19:24"},{"order_sn":"124","create_time":1796530764}]}}`)
	if err := decodeInto(PathPackages, &out)(body); err != nil {
		t.Fatal(err)
	}
	if out.Total != 2 || len(out.List) != 2 || out.List[0].OrderSN != "123" {
		t.Errorf("got %+v, want 2 packages, the first of order 123", out)
	}
	drifted := []byte(`{"status":0,"data":{"total":"many","list":[]}}`)
	if err := decodeInto(PathPackages, &out)(drifted); err == nil {
		t.Error("a total of \"many\": got nil, want an error (unreadable)")
	}
}

// TestPackageFilterNames: site_order_id and order_sn are two filters, each
// under its own name.
func TestPackageFilterNames(t *testing.T) {
	t.Parallel()
	got, err := json.Marshal(PackageFilter{OrderSN: "DMJ1", SiteOrderID: "S-1", Page: 2, Size: 10}.json())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"filter":{"order_sn":"DMJ1","site_order_id":"S-1"},"range":[2,10]}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
