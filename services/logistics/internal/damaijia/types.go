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
	// OrderSN is the vendor's order number.
	OrderSN string
	// SiteOrderID is the caller's order id.
	SiteOrderID               string
	CreatedFrom, CreatedUntil time.Time
	// Page counts from 1; Size is the page size.
	Page, Size int
}
