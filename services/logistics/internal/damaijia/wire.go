package damaijia

import (
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorjson"
)

// This file holds every name damaijia's wire uses: paths, headers,
// parameters and JSON fields, in requests and replies. The raw document
// publishes only user_login and the status codes; everything else comes
// from the vendor's public pages or is an assumption, marked as such
// (docs/logistics.md, "damaijia: what vendorgate assumes"). A reply's drift in type
// (a number sent as a string, a time as text) is decode.go's to tolerate;
// a change of name is this file's to follow.

// The vendor's endpoints, relative to the base URL.
const (
	// PathLogin is documented.
	PathLogin = "/user_login"
	// PathWarehouses, PathProducts, PathCreate and PathPackages are from
	// the vendor's public pages.
	PathWarehouses = "/v1/warehouse_get_list"
	PathProducts   = "/v1/product_get_list"
	PathCreate     = "/v1/order_create"
	PathPackages   = "/package_get_list"
	// DefaultCancelPath is the cancel endpoint's assumed path; the vendor
	// has not published it (DAMAIJIA_CANCEL_PATH).
	DefaultCancelPath = "/v1/order_cancel"
)

// headerToken carries the access_token on every call but the login
// (documented: "Authorization: <access_token>", no scheme).
const headerToken = "Authorization"

// loginJSON is user_login's body (documented).
type loginJSON struct {
	AppID     string `json:"app_id"`
	AppSecret string `json:"app_secret"`
}

// loginData is user_login's data (documented).
type loginData struct {
	AccessToken vendorjson.String `json:"access_token"`
}

// envelope is every reply: {"status", "msg", "err", "data"}. status and
// data are documented; msg and err (422's detail) are assumed.
type envelope struct {
	Status vendorjson.Int    `json:"status"`
	Msg    vendorjson.String `json:"msg"`
	Err    json.RawMessage   `json:"err"`
	Data   json.RawMessage   `json:"data"`
}

// productsQuery is product_get_list's query: id (the warehouse), page
// (from 1) and pageSize (public pages).
func productsQuery(warehouseID string, page, size int) url.Values {
	return url.Values{"id": {warehouseID}, "page": {strconv.Itoa(page)}, "pageSize": {strconv.Itoa(size)}}
}

// pageJSON is a paged list's data: {list, total} (assumed for both
// product_get_list and package_get_list).
type pageJSON[T any] struct {
	List  vendorjson.List[T] `json:"list"`
	Total vendorjson.Int     `json:"total"`
}

// warehouseJSON is one warehouse_get_list entry: data[] (public pages).
type warehouseJSON struct {
	ID             vendorjson.String       `json:"id"`
	ExpressName    vendorjson.String       `json:"expressName"`
	BlockedRegions vendorjson.List[string] `json:"blockedRegions"`
}

func (w warehouseJSON) domain() Warehouse {
	return Warehouse{ID: string(w.ID), ExpressName: string(w.ExpressName), BlockedRegions: []string(w.BlockedRegions)}
}

// productJSON is one product_get_list entry (assumed names).
type productJSON struct {
	ID     vendorjson.String `json:"id"`
	Name   vendorjson.String `json:"name"`
	Price  vendorjson.String `json:"price"`
	Weight vendorjson.String `json:"weight"`
}

func (p productJSON) domain() Product {
	return Product{ID: string(p.ID), Name: string(p.Name), Price: string(p.Price), Weight: string(p.Weight)}
}

// orderJSON is order_create's body (public pages).
type orderJSON struct {
	ProductID     string          `json:"product_id"`
	SiteOrderID   string          `json:"site_order_id"`
	ProductNumber int             `json:"product_number"`
	Remark        string          `json:"remark"`
	Source        string          `json:"source"`
	Consignees    []consigneeJSON `json:"consignees"`
	Consigners    []consignerJSON `json:"consigners,omitempty"`
}

type consigneeJSON struct {
	SiteOrderConsigneeID string `json:"site_order_consignee_id"`
	Consignee            string `json:"consignee"`
	Mobile               string `json:"mobile"`
	Province             string `json:"province"`
	City                 string `json:"city"`
	District             string `json:"district"`
	Address              string `json:"address"`
	PlatformOrderSN      string `json:"platform_order_sn"`
}

type consignerJSON struct {
	Consigner string `json:"consigner"`
	Mobile    string `json:"mobile"`
	Province  string `json:"province"`
	City      string `json:"city"`
	District  string `json:"district"`
	Address   string `json:"address"`
}

func (o Order) json() orderJSON {
	out := orderJSON{ProductID: o.ProductID, SiteOrderID: o.SiteOrderID, ProductNumber: o.ProductNumber, Remark: o.Remark, Source: string(o.Source)}
	for _, c := range o.Consignees {
		out.Consignees = append(out.Consignees, consigneeJSON(c))
	}
	for _, c := range o.Consigners {
		out.Consigners = append(out.Consigners, consignerJSON(c))
	}
	return out
}

// createJSON is order_create's data: the order number (public pages say
// it returns one; the name order_sn is assumed).
type createJSON struct {
	OrderSN vendorjson.String `json:"order_sn"`
}

// cancelJSON is the cancel endpoint's body (assumed).
type cancelJSON struct {
	SiteOrderID string `json:"site_order_id"`
}

// json is package_get_list's body: {"range": [page, size], "filter":
// {…}} (public pages). filter.status, filter.mobile, filter.order_sn and
// filter.create_time ([from, until] in unix seconds; the unit is assumed)
// are named on the public pages; filter.site_order_id is assumed.
func (f PackageFilter) json() map[string]any {
	filter := map[string]any{}
	if f.Status != "" {
		filter["status"] = string(f.Status)
	}
	if f.Mobile != "" {
		filter["mobile"] = f.Mobile
	}
	if f.OrderSN != "" {
		filter["order_sn"] = f.OrderSN
	}
	if f.SiteOrderID != "" {
		filter["site_order_id"] = f.SiteOrderID
	}
	if !f.CreatedFrom.IsZero() || !f.CreatedUntil.IsZero() {
		var from, until int64
		if !f.CreatedFrom.IsZero() {
			from = f.CreatedFrom.Unix()
		}
		if !f.CreatedUntil.IsZero() {
			until = f.CreatedUntil.Unix()
		}
		filter["create_time"] = []int64{from, until}
	}
	return map[string]any{"range": []int{f.Page, f.Size}, "filter": filter}
}

// packageJSON is one package_get_list entry (assumed names; status is
// f/p/s/c per the public pages).
type packageJSON struct {
	PackageSN   vendorjson.String `json:"package_sn"`
	OrderSN     vendorjson.String `json:"order_sn"`
	SiteOrderID vendorjson.String `json:"site_order_id"`
	Status      vendorjson.String `json:"status"`
	Consignee   vendorjson.String `json:"consignee"`
	Mobile      vendorjson.String `json:"mobile"`
	ExpressNo   vendorjson.String `json:"express_no"`
	CreateTime  vendorTime        `json:"create_time"`
}

func (p packageJSON) domain(china *time.Location) Package {
	return Package{PackageSN: string(p.PackageSN), OrderSN: string(p.OrderSN), SiteOrderID: string(p.SiteOrderID),
		Status: PackageStatus(p.Status), Consignee: string(p.Consignee), Mobile: string(p.Mobile), ExpressNo: string(p.ExpressNo),
		CreateTime: p.CreateTime.in(china)}
}
