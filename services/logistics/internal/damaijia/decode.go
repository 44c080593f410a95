package damaijia

import (
	"encoding/json"
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

// envelope is every reply: {"status", "msg", "err", "data"}.
type envelope struct {
	Status vendorjson.Int    `json:"status"`
	Msg    vendorjson.String `json:"msg"`
	Err    json.RawMessage   `json:"err"`
	Data   json.RawMessage   `json:"data"`
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

// loginData is user_login's data.
type loginData struct {
	AccessToken vendorjson.String `json:"access_token"`
}

// pageJSON is a paged list: data {list, total}.
type pageJSON[T any] struct {
	List  vendorjson.List[T] `json:"list"`
	Total vendorjson.Int     `json:"total"`
}

// warehouseJSON is one warehouse_get_list entry.
type warehouseJSON struct {
	ID             vendorjson.String       `json:"id"`
	ExpressName    vendorjson.String       `json:"expressName"`
	BlockedRegions vendorjson.List[string] `json:"blockedRegions"`
}

func (w warehouseJSON) domain() Warehouse {
	return Warehouse{ID: string(w.ID), ExpressName: string(w.ExpressName), BlockedRegions: []string(w.BlockedRegions)}
}

// productJSON is one product_get_list entry.
type productJSON struct {
	ID     vendorjson.String `json:"id"`
	Name   vendorjson.String `json:"name"`
	Price  vendorjson.String `json:"price"`
	Weight vendorjson.String `json:"weight"`
}

func (p productJSON) domain() Product {
	return Product{ID: string(p.ID), Name: string(p.Name), Price: string(p.Price), Weight: string(p.Weight)}
}

// packageJSON is one package_get_list entry.
type packageJSON struct {
	PackageSN   vendorjson.String   `json:"package_sn"`
	OrderSN     vendorjson.String   `json:"order_sn"`
	SiteOrderID vendorjson.String   `json:"site_order_id"`
	Status      vendorjson.String   `json:"status"`
	Consignee   vendorjson.String   `json:"consignee"`
	Mobile      vendorjson.String   `json:"mobile"`
	ExpressNo   vendorjson.String   `json:"express_no"`
	CreateTime  vendorjson.UnixTime `json:"create_time"`
}

func (p packageJSON) domain() Package {
	pk := Package{PackageSN: string(p.PackageSN), OrderSN: string(p.OrderSN), SiteOrderID: string(p.SiteOrderID),
		Status: PackageStatus(p.Status), Consignee: string(p.Consignee), Mobile: string(p.Mobile), ExpressNo: string(p.ExpressNo)}
	if p.CreateTime.Valid {
		pk.CreateTime = p.CreateTime.Time
	}
	return pk
}

// createJSON is order_create's data.
type createJSON struct {
	OrderSN vendorjson.String `json:"order_sn"`
}
