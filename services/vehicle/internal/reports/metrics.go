package reports

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric label values: the RPC that bought, and where a lookup's report
// came from.
const (
	viaOrderReport   = "OrderReport"
	viaLookupHistory = "LookupHistory"
	// viaResolveOperation counts a purchase whose answer was lost once an
	// operator finds it sold: the usage ledger then settles its call as a
	// paid one too (usage.Ledger.Resolve).
	viaResolveOperation = "ResolveOperation"

	sourceStored    = "stored"
	sourceInFlight  = "in_flight"
	sourcePurchased = "purchased"
)

// metrics counts what the service spends and what it saves.
type metrics struct {
	purchases *prometheus.CounterVec
	spend     *spend
	lookups   *prometheus.CounterVec
	resolved  *prometheus.CounterVec
	costFen   int64
}

// spend is the yuan spent per RPC, summed in whole fen and shown in yuan
// only when scraped: a float sum of yuan drifts away from the usage
// ledger's sum of cost_fen (0.1 + 0.2 is not 0.3).
type spend struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	fen  map[string]int64 // by RPC
}

func newSpend() *spend {
	return &spend{fen: make(map[string]int64), desc: prometheus.NewDesc("vendorgate_vehicle_report_spend_yuan_total",
		"Yuan spent on maintenance-record reports (purchases × VEHICLE_REPORT_COST_YUAN), by the RPC that bought them: "+
			"the purchases the vendor confirmed, and those of unknown outcome an operator found sold (rpc=\"ResolveOperation\"), "+
			"as the usage ledger's settled cost counts them.",
		[]string{"rpc"}, nil)}
}

func (s *spend) add(rpc string, fen int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fen[rpc] += fen
}

// Describe implements prometheus.Collector.
func (s *spend) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

// Collect implements prometheus.Collector.
func (s *spend) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for rpc, fen := range s.fen {
		if m, err := prometheus.NewConstMetric(s.desc, prometheus.CounterValue, float64(fen)/100, rpc); err == nil {
			ch <- m
		}
	}
}

// buyingSuspectAfter is how long a purchase may stay unanswered before the
// unresolved gauge counts it: a vendor call is bounded by
// MAINTENANCE_TIMEOUT (seconds), so one this old lost its process.
const buyingSuspectAfter = 5 * time.Minute

// gaugeScrapeTimeout bounds the unresolved gauge's query.
const gaugeScrapeTimeout = 2 * time.Second

func newMetrics(reg prometheus.Registerer, costFen int64, st Store, now func() time.Time) (*metrics, error) {
	m := &metrics{
		costFen: costFen,
		spend:   newSpend(),
		purchases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_vehicle_report_purchases_total",
			Help: "Maintenance-record reports bought from the vendor, by the RPC that bought them.",
		}, []string{"rpc"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_vehicle_lookups_total",
			Help: "LookupHistory purchases-or-reuses, by where the report came from: stored, in_flight (an order already bought) or purchased. Callers sharing one lookup count once.",
		}, []string{"source"}),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_vehicle_purchase_resolutions_total",
			Help: "Report purchases of unknown outcome an operator resolved (ResolveOperation), by outcome: APPLIED (sold) or NOT_APPLIED.",
		}, []string{"outcome"}),
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
		n, err := st.CountUnresolved(ctx, now().Add(-buyingSuspectAfter))
		if err != nil {
			return -1
		}
		return float64(n)
	})
	for _, c := range []prometheus.Collector{m.purchases, m.spend, m.lookups, m.resolved, unresolved} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("reports: register metrics: %w", err)
		}
	}
	return m, nil
}

// bought counts one purchase and its cost.
func (m *metrics) bought(via string) {
	m.purchases.WithLabelValues(via).Inc()
	m.spend.add(via, m.costFen)
}
