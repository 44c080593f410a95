package parcels

import "github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"

// The parcel domain's types are the ones damaijia's client decodes its
// replies into and encodes its requests from (no JSON in them; the wire
// names stay in damaijia/wire.go). They are named here so that the server
// maps the proto to and from this package alone.
type (
	// Warehouse is one express warehouse.
	Warehouse = damaijia.Warehouse
	// Product is one good of a warehouse.
	Product = damaijia.Product
	// Order is one order of parcels.
	Order = damaijia.Order
	// Consignee is one receiver of an order.
	Consignee = damaijia.Consignee
	// Consigner is one sender of an order.
	Consigner = damaijia.Consigner
	// Source is an order's sales platform.
	Source = damaijia.Source
	// Package is one parcel.
	Package = damaijia.Package
	// PackageStatus is where a parcel stands.
	PackageStatus = damaijia.PackageStatus
	// PackageFilter selects packages; zero fields select all.
	PackageFilter = damaijia.PackageFilter
)

// The sales platforms.
const (
	SourceTaobao = damaijia.SourceTaobao
	SourceTmall  = damaijia.SourceTmall
	SourceJD     = damaijia.SourceJD
	SourcePDD    = damaijia.SourcePDD
	SourceOther  = damaijia.SourceOther
)

// The package statuses.
const (
	PackageUnpaid     = damaijia.PackageUnpaid
	PackageNotShipped = damaijia.PackageNotShipped
	PackageShipped    = damaijia.PackageShipped
	PackageCancelled  = damaijia.PackageCancelled
)
