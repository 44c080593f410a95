// Package server implements vendorgate.vehicle.v1.VehicleService: gRPC
// handlers that check and map requests to the report use-case
// (internal/reports) and its answers back to proto, and nothing else.
// Handlers return Go errors (internal/domainerr for the service's own
// refusals); internal/serve's error interceptor turns them into statuses.
package server

import (
	"context"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
)

// Domain is the google.rpc.ErrorInfo domain of the vehicle service.
const Domain = "vehicle.vendorgate.dev"

// Usage is what the server needs from the usage ledger (usage.Ledger).
type Usage interface {
	// Report sums the vendor calls between start and end, for GetUsage.
	Report(ctx context.Context, start, end *timestamppb.Timestamp) (*usagev1.UsageReport, error)
}

// Options tunes a Server.
type Options struct {
	// Usage answers GetUsage; nil leaves GetUsage unimplemented.
	Usage Usage
}

// Server is the VehicleService implementation. Requests reach it already
// checked against their protovalidate rules.
type Server struct {
	vehiclev1.UnimplementedVehicleServiceServer
	reports *reports.Service
	opts    Options
}

// New returns a Server answering from r.
func New(r *reports.Service, opts Options) *Server {
	return &Server{reports: r, opts: opts}
}

// OrderReport implements VehicleService.
func (s *Server) OrderReport(ctx context.Context, req *vehiclev1.OrderReportRequest) (*vehiclev1.OrderReportResponse, error) {
	vin, err := normalizeVIN(req.GetVin())
	if err != nil {
		return nil, err
	}
	r, err := s.reports.Order(ctx, strings.TrimSpace(req.GetRequestId()), req, reports.Purchase{
		VIN:          vin,
		EngineNumber: strings.TrimSpace(req.GetEngineNumber()),
		PlateNumber:  strings.TrimSpace(req.GetPlateNumber()),
	})
	if err != nil {
		return nil, err
	}
	return &vehiclev1.OrderReportResponse{OrderId: r.OrderID, Vin: r.VIN, BoughtTime: timestamp(r.BoughtAt), Replayed: r.Replayed}, nil
}

// GetReport implements VehicleService.
func (s *Server) GetReport(ctx context.Context, req *vehiclev1.GetReportRequest) (*vehiclev1.GetReportResponse, error) {
	o, err := s.reports.Get(ctx, req.GetOrderId())
	if err != nil {
		return nil, err
	}
	v, err := view(o)
	if err != nil {
		return nil, err
	}
	return &vehiclev1.GetReportResponse{
		OrderId:    o.OrderID,
		Vin:        o.VIN,
		State:      v.state,
		Report:     v.report,
		BoughtTime: timestamp(o.BoughtAt),
		ReadyTime:  timestamp(o.ReadyAt),
	}, nil
}

// LookupHistory implements VehicleService.
func (s *Server) LookupHistory(ctx context.Context, req *vehiclev1.LookupHistoryRequest) (*vehiclev1.LookupHistoryResponse, error) {
	vin, err := normalizeVIN(req.GetVin())
	if err != nil {
		return nil, err
	}
	res, err := s.reports.Lookup(ctx, vin)
	if err != nil {
		return nil, err
	}
	v, err := view(res.Order)
	if err != nil {
		return nil, err
	}
	return &vehiclev1.LookupHistoryResponse{
		Vin:        vin,
		OrderId:    res.Order.OrderID,
		State:      v.state,
		Report:     v.report,
		BoughtTime: timestamp(res.Order.BoughtAt),
		ReadyTime:  timestamp(res.Order.ReadyAt),
		Purchased:  res.Purchased,
	}, nil
}

// GetHistory implements VehicleService. It never buys and never calls the
// vendor (reports.Service.Stored), which is what makes it safe behind a GET.
func (s *Server) GetHistory(ctx context.Context, req *vehiclev1.GetHistoryRequest) (*vehiclev1.GetHistoryResponse, error) {
	vin, err := normalizeVIN(req.GetVin())
	if err != nil {
		return nil, err
	}
	o, err := s.reports.Stored(ctx, vin)
	if err != nil {
		return nil, err
	}
	v, err := view(o)
	if err != nil {
		return nil, err
	}
	return &vehiclev1.GetHistoryResponse{
		Vin:        vin,
		OrderId:    o.OrderID,
		State:      v.state,
		Report:     v.report,
		BoughtTime: timestamp(o.BoughtAt),
		ReadyTime:  timestamp(o.ReadyAt),
	}, nil
}

// ListUnresolvedOperations implements VehicleService.
func (s *Server) ListUnresolvedOperations(ctx context.Context, req *vehiclev1.ListUnresolvedOperationsRequest) (*vehiclev1.ListUnresolvedOperationsResponse, error) {
	ops, next, err := s.reports.ListUnresolved(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &vehiclev1.ListUnresolvedOperationsResponse{NextPageToken: next}
	for _, op := range ops {
		out.Operations = append(out.Operations, operation(op))
	}
	return out, nil
}

// ResolveOperation implements VehicleService; the caller is the operator
// who resolves.
func (s *Server) ResolveOperation(ctx context.Context, req *vehiclev1.ResolveOperationRequest) (*vehiclev1.ResolveOperationResponse, error) {
	applied := req.GetOutcome() == vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED
	op, err := s.reports.Resolve(ctx, req.GetRequestId(), applied, req.GetOrderId(), auth.CallerFrom(ctx), req.GetNote())
	if err != nil {
		return nil, err
	}
	return &vehiclev1.ResolveOperationResponse{Operation: operation(op)}, nil
}

// GetUsage implements VehicleService.
func (s *Server) GetUsage(ctx context.Context, req *vehiclev1.GetUsageRequest) (*vehiclev1.GetUsageResponse, error) {
	if s.opts.Usage == nil {
		return s.UnimplementedVehicleServiceServer.GetUsage(ctx, req)
	}
	r, err := s.opts.Usage.Report(ctx, req.GetStartTime(), req.GetEndTime())
	if err != nil {
		return nil, err
	}
	return &vehiclev1.GetUsageResponse{Report: r}, nil
}
