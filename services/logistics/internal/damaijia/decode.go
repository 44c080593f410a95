package damaijia

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/internal/vendorjson"
)

// The vendor's status codes (公共错误码).
const (
	StatusOK             = 0
	StatusNotJSON        = 132 // 请求格式必须为JSON: our bug
	StatusTooFrequent    = 160
	StatusDailyQuota     = 161
	StatusAuthFailed     = 200 // 认证失败: the token expired or is wrong
	StatusCancelFailed   = 208
	StatusBalanceLow     = 209
	StatusShipped        = 213
	StatusProductDelist  = 226
	StatusWarehouseGone  = 227
	StatusPlatformRefuse = 228
	StatusOriginAbnormal = 233
	StatusDuplicate      = 234
	StatusOriginBlocked  = 235
	StatusInvalidParams  = 422
)

// TooFrequentRetryAfter is the wait advised after status 160; the vendor
// names none.
const TooFrequentRetryAfter = time.Second

// refusalReasons are the ErrorInfo reasons of the refusals that are
// FAILED_PRECONDITION.
var refusalReasons = map[int]string{
	StatusCancelFailed:   "CANCEL_FAILED",
	StatusBalanceLow:     "BALANCE_TOO_LOW",
	StatusShipped:        "ALREADY_SHIPPED",
	StatusProductDelist:  "PRODUCT_DELISTED",
	StatusWarehouseGone:  "WAREHOUSE_DELISTED",
	StatusPlatformRefuse: "PLATFORM_NOT_SUPPORTED",
	StatusOriginAbnormal: "ORIGIN_ABNORMAL",
	StatusOriginBlocked:  "ORIGIN_BLOCKED",
}

// RefusalReason returns the ErrorInfo reason of a refusal of err's vendor
// code (e.g. "ALREADY_SHIPPED" for 213), and false when err is not such a
// refusal.
func RefusalReason(err error) (string, bool) {
	ve, ok := vendorerr.As(err)
	if !ok || ve.Vendor != Vendor || ve.Kind != vendorerr.KindRefused {
		return "", false
	}
	code, _ := strconv.Atoi(ve.Code)
	r, ok := refusalReasons[code]
	return r, ok
}

// IsOurBug reports whether err is the vendor saying our request was
// malformed (status 132): INTERNAL, not the caller's fault.
func IsOurBug(err error) bool {
	ve, ok := vendorerr.As(err)
	return ok && ve.Vendor == Vendor && ve.Code == strconv.Itoa(StatusNotJSON)
}

// decodeInto returns a Decoder that checks the status and decodes data
// into out (nil to ignore it).
func decodeInto(endpoint string, out any) func([]byte) error {
	return func(body []byte) error {
		var env envelope
		if err := vendorjson.Decode(body, &env); err != nil {
			return err
		}
		if env.Status != StatusOK {
			return statusError(endpoint, env)
		}
		if out == nil || len(env.Data) == 0 || string(env.Data) == "null" {
			return nil
		}
		return vendorjson.Decode(env.Data, out)
	}
}

// statusError classifies a non-zero status.
func statusError(endpoint string, env envelope) *vendorerr.Error {
	code := int(env.Status)
	e := &vendorerr.Error{Vendor: Vendor, Endpoint: endpoint, Code: strconv.Itoa(code), Message: string(env.Msg)}
	switch {
	case code == StatusTooFrequent:
		e.Kind, e.RetryAfter = vendorerr.KindThrottled, TooFrequentRetryAfter
	case code == StatusDailyQuota:
		e.Kind = vendorerr.KindThrottled
	case code == StatusAuthFailed:
		e.Kind = vendorerr.KindAuth
	case code == StatusDuplicate:
		e.Kind = vendorerr.KindAlreadyExists
	case code == StatusInvalidParams:
		e.Kind = vendorerr.KindInvalidArgument
		if detail := errDetail(env.Err); detail != "" {
			e.Message = detail
		}
	case refusalReasons[code] != "":
		e.Kind = vendorerr.KindRefused
	default:
		e.Kind = vendorerr.KindUnknown
	}
	return e
}

// errDetail renders 422's err, a string or an object of field messages.
func errDetail(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// chinaLayout is a time as text, in China time ("2026-12-06 12:19:24").
const chinaLayout = "2006-01-02 15:04:05"

// unixMillisFrom is the smallest number read as unix milliseconds: as
// seconds it would be past the year 5000.
const unixMillisFrom = 100_000_000_000

// vendorTime is a time field, in whichever form damaijia sends it: a unix
// time in seconds or milliseconds, as a number or a numeric string, or
// "YYYY-MM-DD HH:MM:SS" in China time. null, "" and 0 are no time.
// Anything else fails the decode: the reply is unreadable.
type vendorTime struct {
	// unix is the instant of a unix time.
	unix time.Time
	// wall is a text time's clock reading, zone to come (in).
	wall time.Time
	// kind is 0 (no time), 'u' (unix) or 'w' (wall clock).
	kind byte
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *vendorTime) UnmarshalJSON(data []byte) error {
	*t = vendorTime{}
	if d := bytes.TrimSpace(data); len(d) > 0 && (d[0] == '{' || d[0] == '[') {
		return fmt.Errorf("damaijia: a time is not %s", d[:1])
	}
	var s vendorjson.String
	if err := s.UnmarshalJSON(data); err != nil {
		return err
	}
	text := string(s)
	if text == "" {
		return nil
	}
	if wall, err := time.Parse(chinaLayout, text); err == nil {
		t.wall, t.kind = wall, 'w'
		return nil
	}
	var n vendorjson.Int
	if err := n.UnmarshalJSON([]byte(strconv.Quote(text))); err != nil {
		return fmt.Errorf("damaijia: time %q is neither a unix time nor %q", text, chinaLayout)
	}
	switch {
	case n <= 0:
	case n >= unixMillisFrom:
		t.unix, t.kind = time.UnixMilli(int64(n)).UTC(), 'u'
	default:
		t.unix, t.kind = time.Unix(int64(n), 0).UTC(), 'u'
	}
	return nil
}

// in returns the instant, reading a text time in china; zero for no time.
func (t vendorTime) in(china *time.Location) time.Time {
	switch t.kind {
	case 'u':
		return t.unix
	case 'w':
		w := t.wall
		return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, china).UTC()
	}
	return time.Time{}
}
