package billing

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gaugeName is the unresolved movements' gauge, watched by an alert.
const gaugeName = "vendorgate_billing_unresolved_operations"

// Gauge is the number of money movements whose outcome is unknown. A
// scrape reads the last count and touches no database: the count is
// refreshed by the service when a movement's outcome becomes unknown or is
// resolved on this replica, and every interval for the other replicas'.
// On SQLite, which has no other replicas, an interval's count finds no
// record written since the last one and asks the store nothing
// (idempotency.Store.CountUnresolved).
type Gauge struct {
	records Counter
	log     *slog.Logger
	n       atomic.Int64
}

// Counter counts the unresolved operations of some methods
// (idempotency.Store).
type Counter interface {
	CountUnresolved(ctx context.Context, methods ...string) (int64, error)
}

// NewGauge registers the gauge on reg and counts from records.
func NewGauge(reg prometheus.Registerer, records Counter, log *slog.Logger) (*Gauge, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gauge{records: records, log: log}
	if reg != nil {
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: gaugeName,
			Help: "30post money movements whose outcome is unknown and awaits an operator's ResolveOperation (refreshed on change and every LOGISTICS_RECONCILE_INTERVAL).",
		}, func() float64 { return float64(g.n.Load()) })); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Refresh counts the unresolved money movements again.
func (g *Gauge) Refresh(ctx context.Context) {
	if g == nil {
		return
	}
	n, err := g.count(ctx)
	if err != nil {
		g.log.Warn("unresolved money movements not counted; the gauge keeps its last value", "gauge", gaugeName, "error", err)
		return
	}
	g.n.Store(n)
}

func (g *Gauge) count(ctx context.Context) (int64, error) {
	return g.records.CountUnresolved(ctx, MethodRecharge, MethodDeduct)
}

// RefreshEvery refreshes the gauge now and every interval until ctx ends.
func (g *Gauge) RefreshEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		g.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
