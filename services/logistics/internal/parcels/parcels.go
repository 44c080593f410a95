// Package parcels is what is particular to damaijia's gift parcels: the
// warehouse, product and package reads, and the orders that cost money.
// An order_create is booked against the caller's spending cap before it is
// sent; what a repeat under the same request_id does with an interrupted
// order or cancel is decided here, by reading damaijia's state back by
// site_order_id, never by sending blindly; and the reconciler's question
// about an order of unknown outcome is answered here too.
//
// internal/idempotency, the one at-most-once engine, keeps the request_ids;
// the server runs it and calls this package for each attempt.
package parcels

import (
	"context"
	"log/slog"

	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
)

// Vendor is what parcels needs of damaijia (*damaijia.Client).
type Vendor interface {
	ListWarehouses(ctx context.Context) ([]Warehouse, error)
	ListProducts(ctx context.Context, warehouseID string, page, size int) ([]Product, int, error)
	ListPackages(ctx context.Context, f PackageFilter) ([]Package, int, error)
	// FindOrder reads an order's number back by site_order_id ("" when
	// damaijia has no such order), never sending anything.
	FindOrder(ctx context.Context, siteOrderID string) (string, error)
	// CreateOrder sends an order once and returns its number.
	CreateOrder(ctx context.Context, o Order) (string, error)
	CancelOrder(ctx context.Context, siteOrderID string) error
	// CancelPath is the cancel endpoint, as errors name it.
	CancelPath() string
}

// Ledger is what parcels needs of the usage ledger (internal/usage.Ledger):
// booking a paid order against the caller's daily spending cap. release is
// told whether the order may have been created.
type Ledger interface {
	Reserve(ctx context.Context, costFen int64) (release func(applied bool), err error)
}

// Options configure a Service.
type Options struct {
	// OrderPriceFen is what an order_create costs, booked before it is
	// sent (DAMAIJIA_ORDER_PRICE_YUAN).
	OrderPriceFen int64
	// Logger learns of interrupted calls read back; nil discards it.
	Logger *slog.Logger
}

// Service runs the parcel use cases.
type Service struct {
	vendor Vendor
	ledger Ledger
	opts   Options
}

// New returns a Service over damaijia, booking orders in ledger.
func New(v Vendor, ledger Ledger, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{vendor: v, ledger: ledger, opts: opts}
}

// ListWarehouses returns every warehouse.
func (s *Service) ListWarehouses(ctx context.Context) ([]Warehouse, error) {
	ws, err := s.vendor.ListWarehouses(ctx)
	return ws, domainError(err)
}

// ListProducts returns page (from 1) of warehouseID's products, size per
// page, and damaijia's total count.
func (s *Service) ListProducts(ctx context.Context, warehouseID string, page, size int) ([]Product, int, error) {
	ps, total, err := s.vendor.ListProducts(ctx, warehouseID, page, size)
	return ps, total, domainError(err)
}

// ListPackages returns the packages f selects and damaijia's total count.
func (s *Service) ListPackages(ctx context.Context, f PackageFilter) ([]Package, int, error) {
	pkgs, total, err := s.vendor.ListPackages(ctx, f)
	return pkgs, total, domainError(err)
}

// vendorName names damaijia in logs, as its client does.
const vendorName = damaijia.Vendor
