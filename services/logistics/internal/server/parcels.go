package server

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
)

// ParcelVendor is what ParcelService needs of damaijia.
type ParcelVendor interface {
	ListWarehouses(ctx context.Context) ([]damaijia.Warehouse, error)
	ListProducts(ctx context.Context, warehouseID string, page, size int) ([]damaijia.Product, int, error)
	// CreateOrder orders, calling charge just before the order is sent.
	CreateOrder(ctx context.Context, o damaijia.Order, charge damaijia.Charge) (string, error)
	// ResumeCreateOrder finishes an order whose earlier attempt may have
	// been applied, by reading it back first; charge is called only when
	// the order is sent.
	// landed reports that the earlier attempt had placed the order.
	ResumeCreateOrder(ctx context.Context, o damaijia.Order, charge damaijia.Charge) (sn string, landed bool, err error)
	// FindOrder reads an order's number back by site_order_id ("" when
	// damaijia has no such order), never sending anything.
	FindOrder(ctx context.Context, siteOrderID string) (string, error)
	CancelOrder(ctx context.Context, siteOrderID string) error
	// ResumeCancelOrder finishes a cancel whose earlier attempt may have
	// been applied, by reading the packages first.
	ResumeCancelOrder(ctx context.Context, siteOrderID string) error
	ListPackages(ctx context.Context, f damaijia.PackageFilter) ([]damaijia.Package, int, error)
}

// Ledger is what ParcelService needs of the usage ledger
// (internal/usage.Ledger): booking paid orders against the caller's daily
// spending cap, and the GetUsage report.
type Ledger interface {
	Reserve(ctx context.Context, costFen int64) (release func(applied bool), err error)
	Report(ctx context.Context, start, end *timestamppb.Timestamp) (*usagev1.UsageReport, error)
}

// Parcels implements ParcelService.
type Parcels struct {
	logisticsv1.UnimplementedParcelServiceServer
	vendor        ParcelVendor
	ids           *idempotency.Store
	ledger        Ledger
	orderPriceFen int64
}

// NewParcels returns the ParcelService handlers over vendor, keeping
// request_id records in ids and usage in ledger; an order_create costs
// orderPriceFen (DAMAIJIA_ORDER_PRICE_YUAN), booked before it is sent.
func NewParcels(vendor ParcelVendor, ids *idempotency.Store, ledger Ledger, orderPriceFen int64) *Parcels {
	return &Parcels{vendor: vendor, ids: ids, ledger: ledger, orderPriceFen: orderPriceFen}
}

// GetUsage implements ParcelService: the whole service's usage, both
// vendors.
func (p *Parcels) GetUsage(ctx context.Context, req *logisticsv1.GetUsageRequest) (*logisticsv1.GetUsageResponse, error) {
	r, err := p.ledger.Report(ctx, req.GetStartTime(), req.GetEndTime())
	if err != nil {
		return nil, err
	}
	return &logisticsv1.GetUsageResponse{Report: r}, nil
}

// charge books one order_create against the caller's daily spending cap;
// the booking is undone when damaijia surely created nothing.
func (p *Parcels) charge(ctx context.Context) (func(bool), error) {
	release, err := p.ledger.Reserve(ctx, p.orderPriceFen)
	if err != nil {
		return nil, err
	}
	return func(created bool) { release(created) }, nil
}

// parcelError gives damaijia's refusals their own reasons and makes its
// "body must be JSON" (132) our INTERNAL bug.
func parcelError(err error) error {
	if err == nil {
		return nil
	}
	if damaijia.IsOurBug(err) {
		// %v, not %w: the vendor's classification must not reach the
		// caller; this is vendorgate's bug (INTERNAL), logged once.
		return fmt.Errorf("damaijia could not parse our request body: %v", err)
	}
	if reason, ok := damaijia.RefusalReason(err); ok {
		ve, _ := vendorerr.As(err)
		return &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Reason: reason,
			Message:  "damaijia refused the request: " + ve.Message,
			Metadata: map[string]string{"vendor": ve.Vendor, "vendor_code": ve.Code, "vendor_message": ve.Message, "endpoint": ve.Endpoint}}
	}
	return err
}

// ListWarehouses implements ParcelService.
func (p *Parcels) ListWarehouses(ctx context.Context, _ *logisticsv1.ListWarehousesRequest) (*logisticsv1.ListWarehousesResponse, error) {
	ws, err := p.vendor.ListWarehouses(ctx)
	if err != nil {
		return nil, parcelError(err)
	}
	out := &logisticsv1.ListWarehousesResponse{}
	for _, w := range ws {
		out.Warehouses = append(out.Warehouses, &logisticsv1.Warehouse{Id: w.ID, ExpressName: w.ExpressName, BlockedRegions: w.BlockedRegions})
	}
	return out, nil
}

// ListProducts implements ParcelService.
func (p *Parcels) ListProducts(ctx context.Context, req *logisticsv1.ListProductsRequest) (*logisticsv1.ListProductsResponse, error) {
	page, err := pageOf(req.GetPageSize(), req.GetPageToken(), "w="+req.GetWarehouseId())
	if err != nil {
		return nil, err
	}
	ps, total, err := p.vendor.ListProducts(ctx, req.GetWarehouseId(), page.Page, page.Size)
	if err != nil {
		return nil, parcelError(err)
	}
	out := &logisticsv1.ListProductsResponse{NextPageToken: page.next(total)}
	for _, x := range ps {
		out.Products = append(out.Products, &logisticsv1.Product{Id: x.ID, Name: x.Name, Price: x.Price, Weight: x.Weight})
	}
	return out, nil
}

// sourceOf is order_create's source for a sales platform.
func sourceOf(p logisticsv1.SalesPlatform) damaijia.Source {
	switch p {
	case logisticsv1.SalesPlatform_SALES_PLATFORM_TAOBAO:
		return damaijia.SourceTaobao
	case logisticsv1.SalesPlatform_SALES_PLATFORM_TMALL:
		return damaijia.SourceTmall
	case logisticsv1.SalesPlatform_SALES_PLATFORM_JD:
		return damaijia.SourceJD
	case logisticsv1.SalesPlatform_SALES_PLATFORM_PDD:
		return damaijia.SourcePDD
	default:
		return damaijia.SourceOther
	}
}

// packageStatuses pairs each PackageStatus with the vendor's letter.
func packageStatuses() map[logisticsv1.PackageStatus]damaijia.PackageStatus {
	return map[logisticsv1.PackageStatus]damaijia.PackageStatus{
		logisticsv1.PackageStatus_PACKAGE_STATUS_UNPAID:      damaijia.PackageUnpaid,
		logisticsv1.PackageStatus_PACKAGE_STATUS_NOT_SHIPPED: damaijia.PackageNotShipped,
		logisticsv1.PackageStatus_PACKAGE_STATUS_SHIPPED:     damaijia.PackageShipped,
		logisticsv1.PackageStatus_PACKAGE_STATUS_CANCELLED:   damaijia.PackageCancelled,
	}
}

// CreateParcelOrder implements ParcelService.
func (p *Parcels) CreateParcelOrder(ctx context.Context, req *logisticsv1.CreateParcelOrderRequest) (*logisticsv1.CreateParcelOrderResponse, error) {
	o := damaijia.Order{
		SiteOrderID: req.GetSiteOrderId(), ProductID: req.GetProductId(), ProductNumber: int(req.GetProductNumber()),
		Remark: req.GetRemark(), Source: sourceOf(req.GetSource()),
	}
	for _, c := range req.GetConsignees() {
		o.Consignees = append(o.Consignees, damaijia.Consignee{
			SiteOrderConsigneeID: c.GetSiteOrderConsigneeId(), Consignee: c.GetConsignee(), Mobile: c.GetMobile(),
			Province: c.GetProvince(), City: c.GetCity(), District: c.GetDistrict(), Address: c.GetAddress(), PlatformOrderSN: c.GetPlatformOrderSn(),
		})
	}
	for _, c := range req.GetConsigners() {
		o.Consigners = append(o.Consigners, damaijia.Consigner{
			Consigner: c.GetConsigner(), Mobile: c.GetMobile(), Province: c.GetProvince(), City: c.GetCity(), District: c.GetDistrict(), Address: c.GetAddress(),
		})
	}
	return idempotency.Run(ctx, p.ids, methodCreateOrder, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*logisticsv1.CreateParcelOrderResponse, error) {
			if a.Applied {
				// An operator found it applied: read its number back,
				// never order again.
				return p.readBackApplied(ctx, req.GetRequestId(), o.SiteOrderID)
			}
			var sn string
			var err error
			if a.Interrupted {
				// An earlier attempt may have ordered: damaijia's
				// site_order_id tells, so read it back, never re-send blindly.
				var landed bool
				sn, landed, err = p.vendor.ResumeCreateOrder(ctx, o, p.charge)
				if err == nil && landed {
					a.Found(idempotency.Applied)
				} else if err == nil {
					a.Found(idempotency.NotApplied) // ordered now: the earlier one never landed
				}
			} else {
				sn, err = p.vendor.CreateOrder(ctx, o, p.charge)
			}
			if err != nil {
				return nil, parcelError(err)
			}
			return &logisticsv1.CreateParcelOrderResponse{OrderSn: sn, SiteOrderId: o.SiteOrderID}, nil
		})
}

// The RPCs whose request_id the engine records, as it names them.
const (
	methodCreateOrder = "CreateParcelOrder"
	methodCancelOrder = "CancelParcelOrder"
)

// readBackApplied builds the answer of an order an operator resolved
// applied, from damaijia's own record of it.
func (p *Parcels) readBackApplied(ctx context.Context, requestID, siteOrderID string) (*logisticsv1.CreateParcelOrderResponse, error) {
	sn, err := p.vendor.FindOrder(ctx, siteOrderID)
	if err != nil {
		return nil, parcelError(err)
	}
	if sn == "" {
		return nil, &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Reason: ReasonOrderNotFound,
			Message:  fmt.Sprintf("request_id %s was resolved applied, and damaijia has no order with site_order_id %s", requestID, siteOrderID),
			Metadata: map[string]string{"request_id": requestID, "site_order_id": siteOrderID}}
	}
	return &logisticsv1.CreateParcelOrderResponse{OrderSn: sn, SiteOrderId: siteOrderID}, nil
}

// ReasonOrderNotFound: a CreateParcelOrder resolved applied whose order
// damaijia does not have (FAILED_PRECONDITION).
const ReasonOrderNotFound = "ORDER_NOT_FOUND"

// Checkers are the reconciler's questions to damaijia, per RPC: an
// order_create whose outcome is unknown is looked up by its site_order_id.
// A cancel is left to its repeat (ResumeCancelOrder) or an operator.
func (p *Parcels) Checkers() map[string]idempotency.Checker {
	return map[string]idempotency.Checker{methodCreateOrder: p.checkCreateOrder}
}

// checkCreateOrder finds an order of unknown outcome by site_order_id: an
// order found is applied, and its number is what a repeat returns; none is
// not applied (damaijia refuses a second order with the same site_order_id,
// so a late one cannot be doubled by a new request_id).
func (p *Parcels) checkCreateOrder(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
	var req logisticsv1.CreateParcelOrderRequest
	if err := proto.Unmarshal(op.Request, &req); err != nil {
		return idempotency.Finding{}, fmt.Errorf("the kept request of %s: %w", op.RequestID, err)
	}
	sn, err := p.vendor.FindOrder(ctx, req.GetSiteOrderId())
	if err != nil {
		return idempotency.Finding{}, err
	}
	if sn == "" {
		return idempotency.Finding{Outcome: idempotency.NotApplied,
			Note: "damaijia has no package for site_order_id " + req.GetSiteOrderId() + " (package_get_list)"}, nil
	}
	return idempotency.Finding{Outcome: idempotency.Applied,
		Response: &logisticsv1.CreateParcelOrderResponse{OrderSn: sn, SiteOrderId: req.GetSiteOrderId()},
		Note:     "damaijia has order " + sn + " for site_order_id " + req.GetSiteOrderId() + " (package_get_list)"}, nil
}

// CancelParcelOrder implements ParcelService.
func (p *Parcels) CancelParcelOrder(ctx context.Context, req *logisticsv1.CancelParcelOrderRequest) (*logisticsv1.CancelParcelOrderResponse, error) {
	return idempotency.Run(ctx, p.ids, methodCancelOrder, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*logisticsv1.CancelParcelOrderResponse, error) {
			if a.Applied {
				// An operator found it applied: nothing to send.
				return &logisticsv1.CancelParcelOrderResponse{SiteOrderId: req.GetSiteOrderId()}, nil
			}
			cancel := p.vendor.CancelOrder
			if a.Interrupted {
				cancel = p.vendor.ResumeCancelOrder
			}
			if err := cancel(ctx, req.GetSiteOrderId()); err != nil {
				return nil, parcelError(err)
			}
			return &logisticsv1.CancelParcelOrderResponse{SiteOrderId: req.GetSiteOrderId()}, nil
		})
}

// ListPackages implements ParcelService.
func (p *Parcels) ListPackages(ctx context.Context, req *logisticsv1.ListPackagesRequest) (*logisticsv1.ListPackagesResponse, error) {
	statuses := packageStatuses()
	f := damaijia.PackageFilter{Status: statuses[req.GetStatus()], Mobile: req.GetMobile(), OrderSN: req.GetOrder(), SiteOrderID: req.GetSiteOrderId()}
	if req.GetCreatedAfter() != nil {
		f.CreatedFrom = req.GetCreatedAfter().AsTime()
	}
	if req.GetCreatedBefore() != nil {
		f.CreatedUntil = req.GetCreatedBefore().AsTime()
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedUntil.IsZero() && !f.CreatedFrom.Before(f.CreatedUntil) {
		return nil, domainerr.InvalidArgument("created_before", "TIME_RANGE_EMPTY", "must be after created_after")
	}
	query := strings.Join([]string{string(f.Status), f.Mobile, f.OrderSN, f.SiteOrderID, f.CreatedFrom.String(), f.CreatedUntil.String()}, "|")
	page, err := pageOf(req.GetPageSize(), req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	f.Page, f.Size = page.Page, page.Size
	pkgs, total, err := p.vendor.ListPackages(ctx, f)
	if err != nil {
		return nil, parcelError(err)
	}
	out := &logisticsv1.ListPackagesResponse{NextPageToken: page.next(total)}
	for _, k := range pkgs {
		pk := &logisticsv1.Package{PackageSn: k.PackageSN, OrderSn: k.OrderSN, SiteOrderId: k.SiteOrderID,
			Consignee: k.Consignee, Mobile: k.Mobile, ExpressNo: k.ExpressNo}
		for ps, ds := range statuses {
			if ds == k.Status {
				pk.Status = ps
			}
		}
		if !k.CreateTime.IsZero() {
			pk.CreateTime = timestamppb.New(k.CreateTime)
		}
		out.Packages = append(out.Packages, pk)
	}
	return out, nil
}
