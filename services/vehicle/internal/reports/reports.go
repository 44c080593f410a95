// Package reports is the vehicle service's use-case: the rules that keep it
// from paying twice for one maintenance-record report. It buys a report at
// most once per request_id (through the request_id engine,
// internal/idempotency) and once per VIN among concurrent lookups, polls the
// vendor until the report is ready, serves a fresh stored report instead of
// buying, holds a VIN back while a purchase of it has an unknown outcome,
// hands earlier purchases to the engine (Adopt), and resolves unknown
// outcomes (operators' findings, the reconciler's checks).
//
// It declares what it needs from the purchase store (Store) and from the
// vendor client (Vendor); internal/store and internal/maintenance provide
// them. Its failures are Go errors (internal/domainerr for the service's own
// refusals), which internal/serve's error interceptor turns into statuses.
package reports

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
)

// Ledger is what the use-case needs from the usage ledger (usage.Ledger).
type Ledger interface {
	// Reserve books costFen against the caller's daily spend cap before a
	// purchase, or refuses it (RESOURCE_EXHAUSTED) before any vendor call;
	// release(false) undoes the booking of a purchase the vendor surely
	// did not make.
	Reserve(ctx context.Context, costFen int64) (release func(applied bool), err error)
}

// Vendor is what the use-case needs from the maintenance-record client.
type Vendor interface {
	// Order buys a report; it must not retry.
	Order(ctx context.Context, r maintenance.OrderRequest) (maintenance.Order, error)
	// Report fetches an order's report or its state, retrying a failure
	// the vendor may not have seen (a one-off fetch).
	Report(ctx context.Context, orderID string) (maintenance.Result, error)
	// PollReport is Report sent once: the poll loop owns the retrying.
	PollReport(ctx context.Context, orderID string) (maintenance.Result, error)
}

// Store is what the use-case needs from the purchase repository
// (internal/store).
type Store interface {
	// Begin records a purchase as StateBuying before the vendor is called
	// and returns its id; ErrDuplicateRequest when a purchase of unknown
	// outcome holds its request id.
	Begin(ctx context.Context, p Purchase, at time.Time) (string, error)
	// Bought records the vendor's order id for purchase id (StatePending);
	// ErrNotFound when the purchase's outcome became known meanwhile.
	Bought(ctx context.Context, id, orderID string, at time.Time) error
	// Abandon removes purchase id while it is still StateBuying.
	Abandon(ctx context.Context, id string) error
	// MarkUnknownByRequestID moves requestID's purchase from StateBuying
	// to StateUnknown.
	MarkUnknownByRequestID(ctx context.Context, requestID string) error
	// Unsettled returns vin's purchases of unknown outcome: StateBuying,
	// and StateUnknown since since.
	Unsettled(ctx context.Context, vin string, since time.Time) ([]Order, error)
	// Settle applies an operator's finding to requestID's purchase.
	Settle(ctx context.Context, requestID string, outcome Outcome, orderID string) error
	// Finish records a pending order's finished report.
	Finish(ctx context.Context, orderID string, state State, report []byte, at time.Time) error
	// ByOrderID returns the order with the vendor's order id, or ErrNotFound.
	ByOrderID(ctx context.Context, orderID string) (Order, error)
	// ByRequestID returns the purchase made for a request id, or ErrNotFound.
	ByRequestID(ctx context.Context, requestID string) (Order, error)
	// Reusable returns vin's newest report finished since since, else its
	// newest order bought since since and still pending, or ErrNotFound.
	Reusable(ctx context.Context, vin string, since time.Time) (Order, error)
	// CountUnresolved counts the purchases of unknown outcome.
	CountUnresolved(ctx context.Context, buyingBefore time.Time) (int, error)
	// WithRequestID returns the purchases that may need the request_id
	// engine's record (Adopt).
	WithRequestID(ctx context.Context, buyingBefore, boughtSince time.Time) ([]Order, error)
}

// Defaults for Options fields left zero.
const (
	DefaultFreshness       = 30 * 24 * time.Hour
	DefaultPollInterval    = time.Second
	DefaultPollMaxInterval = 30 * time.Second
	DefaultLookupWait      = time.Minute
)

// Options tunes a Service.
type Options struct {
	// Freshness is how old a stored report may be for a lookup to serve
	// it instead of buying. Zero means DefaultFreshness.
	Freshness time.Duration
	// CostFen is the price of one report in fen (VEHICLE_REPORT_COST_YUAN
	// × 100), for the spend metric and the spend cap of Ledger.Reserve:
	// money is counted in whole fen, as the usage ledger counts it.
	CostFen int64
	// Ledger books every purchase against the caller's daily spend cap;
	// nil books nothing.
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
	// Now is the clock of the rules that depend on time (the freshness,
	// the hold on a VIN whose purchase has an unknown outcome) and of the
	// times recorded; nil means time.Now.
	Now func() time.Time
	// Sleep waits between the attempts to record a sold order the store
	// failed to take; nil means time.Sleep. Tests pass one they release.
	Sleep func(time.Duration)
}

// Service buys, polls, stores and resolves the service's report purchases.
// It is safe for concurrent use.
type Service struct {
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

// New returns a Service buying through vendor and remembering in st.
func New(vendor Vendor, st Store, opts Options) (*Service, error) {
	if opts.Locks == nil {
		return nil, errors.New("reports: Options.Locks is required")
	}
	if opts.Requests == nil {
		return nil, errors.New("reports: Options.Requests is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m, err := newMetrics(opts.Registry, opts.CostFen, st, opts.Now)
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
	if opts.Sleep == nil {
		opts.Sleep = time.Sleep
	}
	return &Service{vendor: vendor, store: st, opts: opts, log: log, metrics: m, costFen: opts.CostFen}, nil
}
