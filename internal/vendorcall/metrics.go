package vendorcall

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts and times vendor calls per vendor and endpoint.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec
}

// NewMetrics registers the vendor-call metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_vendor_requests_total",
			Help: "Vendor HTTP calls by vendor, endpoint and outcome (ok or a failure reason).",
		}, []string{"vendor", "endpoint", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vendorgate_vendor_request_duration_seconds",
			Help:    "Vendor HTTP call latency by vendor and endpoint.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"vendor", "endpoint"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_vendor_failures_total",
			Help: "Failed vendor calls by vendor, endpoint, failure reason and vendor code (or HTTP status).",
		}, []string{"vendor", "endpoint", "reason", "vendor_code"}),
	}
	reg.MustRegister(m.requests, m.duration, m.failures)
	return m
}
