package damaijia

import "time"

// Warehouse is one express warehouse.
type Warehouse struct {
	// ID is the warehouse id (id).
	ID string
	// ExpressName is the express company (expressName).
	ExpressName string
	// BlockedRegions are the regions it does not ship to.
	BlockedRegions []string
}

// Product is one good of a warehouse.
type Product struct {
	// ID, Name, Price (yuan) and Weight (kg) as the vendor sends them.
	ID, Name, Price, Weight string
}

// Source is order_create's sales platform.
type Source string

// The sales platforms.
const (
	SourceTaobao Source = "taobao"
	SourceTmall  Source = "tmall"
	SourceJD     Source = "jd"
	SourcePDD    Source = "pdd"
	SourceOther  Source = "other"
)

// Consignee is one receiver.
type Consignee struct {
	SiteOrderConsigneeID, Consignee, Mobile, Province, City, District, Address, PlatformOrderSN string
}

// Consigner is one sender.
type Consigner struct {
	Consigner, Mobile, Province, City, District, Address string
}

// Order is an order_create request.
type Order struct {
	SiteOrderID   string
	ProductID     string
	ProductNumber int
	Remark        string
	Source        Source
	Consignees    []Consignee
	Consigners    []Consigner
}

// PackageStatus is a package's status letter.
type PackageStatus string

// The package statuses.
const (
	PackageUnpaid     PackageStatus = "f"
	PackageNotShipped PackageStatus = "p"
	PackageShipped    PackageStatus = "s"
	PackageCancelled  PackageStatus = "c"
)

// Package is one parcel.
type Package struct {
	PackageSN, OrderSN, SiteOrderID string
	Status                          PackageStatus
	Consignee, Mobile, ExpressNo    string
	CreateTime                      time.Time
}

// PackageFilter selects packages; zero fields select all.
type PackageFilter struct {
	Status PackageStatus
	Mobile string
	// Order is an order_sn or a site_order_id (filter.order_sn).
	Order                     string
	CreatedFrom, CreatedUntil time.Time
	// Page counts from 1; Size is the page size.
	Page, Size int
}

func (f PackageFilter) json() map[string]any {
	filter := map[string]any{}
	if f.Status != "" {
		filter["status"] = string(f.Status)
	}
	if f.Mobile != "" {
		filter["mobile"] = f.Mobile
	}
	if f.Order != "" {
		filter["order_sn"] = f.Order
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

// orderJSON is order_create's body.
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
