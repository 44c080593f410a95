package server

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric label values: the RPC that bought, and where a lookup's report
// came from.
const (
	viaOrderReport   = "OrderReport"
	viaLookupHistory = "LookupHistory"
	// viaResolveOperation counts a purchase whose answer was lost once an
	// operator finds it sold.
	viaResolveOperation = "ResolveOperation"

	sourceStored    = "stored"
	sourceInFlight  = "in_flight"
	sourcePurchased = "purchased"
)

// metrics counts what the service spends and what it saves.
type metrics struct {
	purchases *prometheus.CounterVec
	spend     *prometheus.CounterVec
	lookups   *prometheus.CounterVec
	cost      float64
}

// buyingSuspectAfter is how long a purchase may stay unanswered before the
// unresolved gauge counts it: a vendor call is bounded by
// MAINTENANCE_TIMEOUT (seconds), so one this old lost its process.
const buyingSuspectAfter = 5 * time.Minute

// gaugeScrapeTimeout bounds the unresolved gauge's query.
const gaugeScrapeTimeout = 2 * time.Second

func newMetrics(reg prometheus.Registerer, cost float64, st Store) (*metrics, error) {
	m := &metrics{
		cost: cost,
		purchases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_vehicle_report_purchases_total",
			Help: "Maintenance-record reports bought from the vendor, by the RPC that bought them.",
		}, []string{"rpc"}),
		spend: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_vehicle_report_spend_yuan_total",
			Help: "Yuan spent on maintenance-record reports (purchases × VEHICLE_REPORT_COST_YUAN), by the RPC that bought them.",
		}, []string{"rpc"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_vehicle_lookups_total",
			Help: "LookupHistory purchases-or-reuses, by where the report came from: stored, in_flight (an order already bought) or purchased. Callers sharing one lookup count once.",
		}, []string{"source"}),
	}
	if reg == nil {
		return m, nil
	}
	unresolved := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vendorgate_vehicle_unresolved_purchases",
		Help: "Report purchases whose outcome is unknown (no answer, or their process died) and await an operator's ResolveOperation; -1 when the store did not answer.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), gaugeScrapeTimeout)
		defer cancel()
		n, err := st.CountUnresolved(ctx, time.Now().Add(-buyingSuspectAfter))
		if err != nil {
			return -1
		}
		return float64(n)
	})
	for _, c := range []prometheus.Collector{m.purchases, m.spend, m.lookups, unresolved} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: register metrics: %w", err)
		}
	}
	return m, nil
}

// bought counts one purchase and its cost.
func (m *metrics) bought(via string) {
	m.purchases.WithLabelValues(via).Inc()
	m.spend.WithLabelValues(via).Add(m.cost)
}
