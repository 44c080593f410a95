package access

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/usage"
)

// spendReadTimeout bounds the store read of one scrape, well inside
// Prometheus' default 10 s scrape timeout.
const spendReadTimeout = 3 * time.Second

// spendCollector exports, for every caller with a daily spend cap, the cap
// and what it has booked against it today, read from the store at each
// scrape so that every replica reports the same, exact figure.
type spendCollector struct {
	caps   func() map[string]int64
	ledger *usage.Ledger
	log    *slog.Logger
	spent  *prometheus.Desc
	cap    *prometheus.Desc
}

func newSpendCollector(caps func() map[string]int64, ledger *usage.Ledger, log *slog.Logger) *spendCollector {
	return &spendCollector{
		caps: caps, ledger: ledger, log: log,
		spent: prometheus.NewDesc("vendorgate_caller_spend_today_yuan",
			"Paid vendor calls booked today (China day) by the caller on this service, in yuan, across replicas: what its daily spend cap is compared with. Callers with a cap only.",
			[]string{"caller"}, nil),
		cap: prometheus.NewDesc("vendorgate_caller_daily_spend_cap_yuan",
			"The caller's daily spend cap on this service (daily_spend_cap_yuan), in yuan. Callers with a cap only.",
			[]string{"caller"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *spendCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.spent
	ch <- c.cap
}

// Collect implements prometheus.Collector. When the store does not answer,
// the caps are still exported but today's spend is not (and the failure is
// logged): a made-up 0 would hide a caller near its cap.
func (c *spendCollector) Collect(ch chan<- prometheus.Metric) {
	caps := c.caps()
	if len(caps) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), spendReadTimeout)
	defer cancel()
	spent, err := c.ledger.SpentToday(ctx)
	if err != nil {
		c.log.Warn("spend gauge: today's spend not read; vendorgate_caller_spend_today_yuan left out of this scrape", "error", err)
	}
	for _, name := range slices.Sorted(maps.Keys(caps)) {
		ch <- prometheus.MustNewConstMetric(c.cap, prometheus.GaugeValue, yuan(caps[name]), name)
		if err == nil {
			ch <- prometheus.MustNewConstMetric(c.spent, prometheus.GaugeValue, yuan(spent[name]), name)
		}
	}
}

// yuan is fen as a gauge value in yuan.
func yuan(fen int64) float64 { return float64(fen) / 100 }
