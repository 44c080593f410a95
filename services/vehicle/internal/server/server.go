// Package server implements vendorgate.vehicle.v1.VehicleService on top of
// the maintenance-record client and the purchase store: the rules that keep
// the service from paying twice for one report, and proto ↔ domain mapping.
// Handlers return Go errors (internal/domainerr for the service's own
// refusals); internal/serve's error interceptor turns them into statuses.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/types/known/timestamppb"

	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// Domain is the google.rpc.ErrorInfo domain of the vehicle service.
const Domain = "vehicle.vendorgate.dev"

// Ledger is what the server needs from the usage ledger (usage.Ledger).
type Ledger interface {
	// Reserve books costFen against the caller's daily spend cap before a
	// purchase, or refuses it (RESOURCE_EXHAUSTED) before any vendor call;
	// release(false) undoes the booking of a purchase the vendor surely
	// did not make.
	Reserve(ctx context.Context, costFen int64) (release func(applied bool), err error)
	// Report sums the vendor calls between start and end, for GetUsage.
	Report(ctx context.Context, start, end *timestamppb.Timestamp) (*usagev1.UsageReport, error)
}

// Vendor is what the server needs from the maintenance-record client.
type Vendor interface {
	// Order buys a report; it must not retry.
	Order(ctx context.Context, r maintenance.OrderRequest) (maintenance.Order, error)
	// Report fetches an order's report or its state, retrying a failure
	// the vendor may not have seen (a one-off fetch).
	Report(ctx context.Context, orderID string) (maintenance.Result, error)
	// PollReport is Report sent once: the poll loop owns the retrying.
	PollReport(ctx context.Context, orderID string) (maintenance.Result, error)
}

// Store is what the server needs from the purchase repository.
type Store interface {
	Begin(ctx context.Context, p store.Purchase, at time.Time) (string, error)
	Bought(ctx context.Context, id, orderID string, at time.Time) error
	Abandon(ctx context.Context, id string) error
	MarkUnknownByRequestID(ctx context.Context, requestID string) error
	Unsettled(ctx context.Context, vin string, since time.Time) ([]store.Order, error)
	Settle(ctx context.Context, requestID string, outcome store.Outcome, orderID string) error
	Finish(ctx context.Context, orderID string, state store.State, report []byte, at time.Time) error
	ByOrderID(ctx context.Context, orderID string) (store.Order, error)
	ByRequestID(ctx context.Context, requestID string) (store.Order, error)
	Reusable(ctx context.Context, vin string, since time.Time) (store.Order, error)
	CountUnresolved(ctx context.Context, buyingBefore time.Time) (int, error)
	WithRequestID(ctx context.Context, buyingBefore, boughtSince time.Time) ([]store.Order, error)
}

// Defaults for Options fields left zero.
const (
	DefaultFreshness       = 30 * 24 * time.Hour
	DefaultPollInterval    = time.Second
	DefaultPollMaxInterval = 30 * time.Second
	DefaultLookupWait      = time.Minute
)

// Options tunes a Server.
type Options struct {
	// Freshness is how old a stored report may be for LookupHistory to
	// serve it instead of buying. Zero means DefaultFreshness.
	Freshness time.Duration
	// CostFen is the price of one report in fen (VEHICLE_REPORT_COST_YUAN
	// × 100), for the spend metric and the spend cap of Ledger.Reserve:
	// money is counted in whole fen, as the usage ledger counts it.
	CostFen int64
	// Ledger books every purchase against the caller's daily spend cap and
	// answers GetUsage; nil books nothing and leaves GetUsage
	// unimplemented.
	Ledger Ledger
	// PollInterval is the first wait between report polls; the waits grow
	// up to PollMaxInterval. Zero means the defaults.
	PollInterval, PollMaxInterval time.Duration
	// LookupWait bounds a lookup's wait when the caller set no deadline,
	// and its polling once every caller has left. Zero means
	// DefaultLookupWait.
	LookupWait time.Duration
	// Requests is the request_id engine's store of the service
	// (idempotency.New(…, "vehicle", …)), which owns every purchase's
	// request_id: how long it is remembered (REQUEST_ID_TTL), its lock
	// across replicas, unknown outcomes and their resolution; required.
	Requests *idempotency.Store
	// Locks are shared by every replica of the store (coord.NewLocks of
	// the store's database); required.
	Locks Locks
	// Registry receives the purchase metrics; nil registers them nowhere.
	Registry prometheus.Registerer
	// Logger receives what callers cannot be told (a bought order that
	// could not be recorded, a purchase of unknown outcome); nil discards it.
	Logger *slog.Logger
}

// Server is the VehicleService implementation. Requests reach it already
// checked against their protovalidate rules.
type Server struct {
	vehiclev1.UnimplementedVehicleServiceServer
	vendor  Vendor
	store   Store
	opts    Options
	log     *slog.Logger
	metrics *metrics
	// costFen is the price of one report in fen.
	costFen int64
	// lookups shares one lookup per VIN between concurrent callers.
	lookups singleflight.Group
}

// New returns a Server buying through vendor and remembering in st.
func New(vendor Vendor, st Store, opts Options) (*Server, error) {
	if opts.Locks == nil {
		return nil, errors.New("server: Options.Locks is required")
	}
	if opts.Requests == nil {
		return nil, errors.New("server: Options.Requests is required")
	}
	m, err := newMetrics(opts.Registry, opts.CostFen, st)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Freshness = cmp.Or(opts.Freshness, DefaultFreshness)
	opts.PollInterval = cmp.Or(opts.PollInterval, DefaultPollInterval)
	opts.PollMaxInterval = max(cmp.Or(opts.PollMaxInterval, DefaultPollMaxInterval), opts.PollInterval)
	opts.LookupWait = cmp.Or(opts.LookupWait, DefaultLookupWait)
	return &Server{vendor: vendor, store: st, opts: opts, log: log, metrics: m, costFen: opts.CostFen}, nil
}

// OrderReport implements VehicleService.
func (s *Server) OrderReport(ctx context.Context, req *vehiclev1.OrderReportRequest) (*vehiclev1.OrderReportResponse, error) {
	vin, err := normalizeVIN(req.GetVin())
	if err != nil {
		return nil, err
	}
	requestID := strings.TrimSpace(req.GetRequestId())
	if requestID == "" {
		if requestID, err = newRequestID(viaOrderReport); err != nil {
			return nil, err
		}
	}
	return s.purchase(ctx, viaOrderReport, requestID, req, store.Purchase{
		VIN:          vin,
		EngineNumber: strings.TrimSpace(req.GetEngineNumber()),
		PlateNumber:  strings.TrimSpace(req.GetPlateNumber()),
	})
}

// GetReport implements VehicleService.
func (s *Server) GetReport(ctx context.Context, req *vehiclev1.GetReportRequest) (*vehiclev1.GetReportResponse, error) {
	o, err := s.store.ByOrderID(ctx, req.GetOrderId())
	if errors.Is(err, store.ErrNotFound) {
		return nil, domainerr.NotFound("ORDER_NOT_FOUND", fmt.Sprintf("order %q was not bought through vendorgate", req.GetOrderId()))
	}
	if err != nil {
		return nil, err
	}
	if !o.State.Finished() {
		if o, err = s.refresh(ctx, o, s.vendor.Report); err != nil {
			return nil, err
		}
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
	res, err := s.lookup(ctx, vin)
	if err != nil {
		return nil, err
	}
	v, err := view(res.order)
	if err != nil {
		return nil, err
	}
	return &vehiclev1.LookupHistoryResponse{
		Vin:        vin,
		OrderId:    res.order.OrderID,
		State:      v.state,
		Report:     v.report,
		BoughtTime: timestamp(res.order.BoughtAt),
		ReadyTime:  timestamp(res.order.ReadyAt),
		Purchased:  res.purchased,
	}, nil
}

// GetUsage implements VehicleService.
func (s *Server) GetUsage(ctx context.Context, req *vehiclev1.GetUsageRequest) (*vehiclev1.GetUsageResponse, error) {
	if s.opts.Ledger == nil {
		return s.UnimplementedVehicleServiceServer.GetUsage(ctx, req)
	}
	r, err := s.opts.Ledger.Report(ctx, req.GetStartTime(), req.GetEndTime())
	if err != nil {
		return nil, err
	}
	return &vehiclev1.GetUsageResponse{Report: r}, nil
}
