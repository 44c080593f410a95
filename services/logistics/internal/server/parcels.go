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
	"github.com/vendorgate/vendorgate/services/logistics/internal/parcels"
)

// Usage is what GetUsage needs of the usage ledger (internal/usage.Ledger).
type Usage interface {
	Report(ctx context.Context, start, end *timestamppb.Timestamp) (*usagev1.UsageReport, error)
}

// Parcels implements ParcelService.
type Parcels struct {
	logisticsv1.UnimplementedParcelServiceServer
	svc   *parcels.Service
	ids   *idempotency.Store
	usage Usage
}

// NewParcels returns the ParcelService handlers over the parcel use
// cases, keeping request_id records in ids; GetUsage reports from usage.
func NewParcels(svc *parcels.Service, ids *idempotency.Store, usage Usage) *Parcels {
	return &Parcels{svc: svc, ids: ids, usage: usage}
}

// GetUsage implements ParcelService: the whole service's usage, both
// vendors; UNIMPLEMENTED without a ledger, as in every service.
func (p *Parcels) GetUsage(ctx context.Context, req *logisticsv1.GetUsageRequest) (*logisticsv1.GetUsageResponse, error) {
	if p.usage == nil {
		return p.UnimplementedParcelServiceServer.GetUsage(ctx, req)
	}
	r, err := p.usage.Report(ctx, req.GetStartTime(), req.GetEndTime())
	if err != nil {
		return nil, err
	}
	return &logisticsv1.GetUsageResponse{Report: r}, nil
}

// ListWarehouses implements ParcelService.
func (p *Parcels) ListWarehouses(ctx context.Context, _ *logisticsv1.ListWarehousesRequest) (*logisticsv1.ListWarehousesResponse, error) {
	ws, err := p.svc.ListWarehouses(ctx)
	if err != nil {
		return nil, err
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
	ps, total, err := p.svc.ListProducts(ctx, req.GetWarehouseId(), page.Page, page.Size)
	if err != nil {
		return nil, err
	}
	out := &logisticsv1.ListProductsResponse{NextPageToken: page.next(total)}
	for _, x := range ps {
		out.Products = append(out.Products, &logisticsv1.Product{Id: x.ID, Name: x.Name, Price: x.Price, Weight: x.Weight})
	}
	return out, nil
}

// sourceOf is order_create's source for a sales platform.
func sourceOf(p logisticsv1.SalesPlatform) parcels.Source {
	switch p {
	case logisticsv1.SalesPlatform_SALES_PLATFORM_TAOBAO:
		return parcels.SourceTaobao
	case logisticsv1.SalesPlatform_SALES_PLATFORM_TMALL:
		return parcels.SourceTmall
	case logisticsv1.SalesPlatform_SALES_PLATFORM_JD:
		return parcels.SourceJD
	case logisticsv1.SalesPlatform_SALES_PLATFORM_PDD:
		return parcels.SourcePDD
	default:
		return parcels.SourceOther
	}
}

// packageStatuses pairs each PackageStatus with the vendor's letter.
func packageStatuses() map[logisticsv1.PackageStatus]parcels.PackageStatus {
	return map[logisticsv1.PackageStatus]parcels.PackageStatus{
		logisticsv1.PackageStatus_PACKAGE_STATUS_UNPAID:      parcels.PackageUnpaid,
		logisticsv1.PackageStatus_PACKAGE_STATUS_NOT_SHIPPED: parcels.PackageNotShipped,
		logisticsv1.PackageStatus_PACKAGE_STATUS_SHIPPED:     parcels.PackageShipped,
		logisticsv1.PackageStatus_PACKAGE_STATUS_CANCELLED:   parcels.PackageCancelled,
	}
}

// CreateParcelOrder implements ParcelService.
func (p *Parcels) CreateParcelOrder(ctx context.Context, req *logisticsv1.CreateParcelOrderRequest) (*logisticsv1.CreateParcelOrderResponse, error) {
	o := parcels.Order{
		SiteOrderID: req.GetSiteOrderId(), ProductID: req.GetProductId(), ProductNumber: int(req.GetProductNumber()),
		Remark: req.GetRemark(), Source: sourceOf(req.GetSource()),
	}
	for _, c := range req.GetConsignees() {
		o.Consignees = append(o.Consignees, parcels.Consignee{
			SiteOrderConsigneeID: c.GetSiteOrderConsigneeId(), Consignee: c.GetConsignee(), Mobile: c.GetMobile(),
			Province: c.GetProvince(), City: c.GetCity(), District: c.GetDistrict(), Address: c.GetAddress(), PlatformOrderSN: c.GetPlatformOrderSn(),
		})
	}
	for _, c := range req.GetConsigners() {
		o.Consigners = append(o.Consigners, parcels.Consigner{
			Consigner: c.GetConsigner(), Mobile: c.GetMobile(), Province: c.GetProvince(), City: c.GetCity(), District: c.GetDistrict(), Address: c.GetAddress(),
		})
	}
	return idempotency.Run(ctx, p.ids, methodCreateOrder, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*logisticsv1.CreateParcelOrderResponse, error) {
			sn, err := p.svc.CreateOrder(ctx, req.GetRequestId(), a, o)
			if err != nil {
				return nil, err
			}
			return &logisticsv1.CreateParcelOrderResponse{OrderSn: sn, SiteOrderId: o.SiteOrderID}, nil
		})
}

// The RPCs whose request_id the engine records, as it names them.
const (
	methodCreateOrder = "CreateParcelOrder"
	methodCancelOrder = "CancelParcelOrder"
)

// Checkers are the reconciler's questions, per RPC: an order_create whose
// outcome is unknown is looked up by its site_order_id
// (parcels.Service.CheckCreateOrder). A cancel is left to its repeat or an
// operator.
func (p *Parcels) Checkers() map[string]idempotency.Checker {
	return map[string]idempotency.Checker{methodCreateOrder: p.checkCreateOrder}
}

// checkCreateOrder asks about the kept request of an order of unknown
// outcome; an order found is applied, and its answer is what a repeat
// returns.
func (p *Parcels) checkCreateOrder(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
	var req logisticsv1.CreateParcelOrderRequest
	if err := proto.Unmarshal(op.Request, &req); err != nil {
		return idempotency.Finding{}, fmt.Errorf("the kept request of %s: %w", op.RequestID, err)
	}
	sn, f, err := p.svc.CheckCreateOrder(ctx, req.GetSiteOrderId())
	if err == nil && f.Outcome == idempotency.Applied {
		f.Response = &logisticsv1.CreateParcelOrderResponse{OrderSn: sn, SiteOrderId: req.GetSiteOrderId()}
	}
	return f, err
}

// CancelParcelOrder implements ParcelService.
func (p *Parcels) CancelParcelOrder(ctx context.Context, req *logisticsv1.CancelParcelOrderRequest) (*logisticsv1.CancelParcelOrderResponse, error) {
	return idempotency.Run(ctx, p.ids, methodCancelOrder, req.GetRequestId(), req,
		func(ctx context.Context, a idempotency.Attempt) (*logisticsv1.CancelParcelOrderResponse, error) {
			if err := p.svc.CancelOrder(ctx, a, req.GetSiteOrderId()); err != nil {
				return nil, err
			}
			return &logisticsv1.CancelParcelOrderResponse{SiteOrderId: req.GetSiteOrderId()}, nil
		})
}

// ListPackages implements ParcelService.
func (p *Parcels) ListPackages(ctx context.Context, req *logisticsv1.ListPackagesRequest) (*logisticsv1.ListPackagesResponse, error) {
	statuses := packageStatuses()
	f := parcels.PackageFilter{Status: statuses[req.GetStatus()], Mobile: req.GetMobile(), OrderSN: req.GetOrder(), SiteOrderID: req.GetSiteOrderId()}
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
	pkgs, total, err := p.svc.ListPackages(ctx, f)
	if err != nil {
		return nil, err
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
