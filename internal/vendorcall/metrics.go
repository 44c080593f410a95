package vendorcall

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/seriescache"
)

// metrics counts and times vendor calls per vendor and endpoint. One set
// is registered per registry and shared by every vendor's Caller on it.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec
	breaker  *prometheus.GaugeVec
	// requestsOf and durationOf are the series every call counts into.
	requestsOf *seriescache.Cache[callSeries, prometheus.Counter]
	durationOf *seriescache.Cache[callSeries, prometheus.Observer]
}

// callSeries names a call's series: outcome is empty for the duration's.
type callSeries struct{ vendor, endpoint, outcome string }

// newMetrics registers the vendor-call metrics on reg, or reuses the ones
// an earlier Caller registered there.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var m metrics
	var err error
	if m.requests, err = Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vendorgate_vendor_requests_total",
		Help: "Vendor HTTP calls by vendor, endpoint and outcome (ok or a failure reason).",
	}, []string{"vendor", "endpoint", "outcome"})); err != nil {
		return nil, err
	}
	if m.duration, err = Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vendorgate_vendor_request_duration_seconds",
		Help:    "Vendor HTTP call latency by vendor and endpoint.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"vendor", "endpoint"})); err != nil {
		return nil, err
	}
	if m.failures, err = Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vendorgate_vendor_failures_total",
		Help: "Failed vendor calls by vendor, endpoint, failure reason and vendor code (or HTTP status).",
	}, []string{"vendor", "endpoint", "reason", "vendor_code"})); err != nil {
		return nil, err
	}
	if m.breaker, err = Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vendorgate_vendor_circuit_state",
		Help: "Circuit breaker state per vendor: 0 closed, 1 half-open, 2 open.",
	}, []string{"vendor"})); err != nil {
		return nil, err
	}
	m.requestsOf = seriescache.New(func(k callSeries) prometheus.Counter {
		return m.requests.WithLabelValues(k.vendor, k.endpoint, k.outcome)
	})
	m.durationOf = seriescache.New(func(k callSeries) prometheus.Observer {
		return m.duration.WithLabelValues(k.vendor, k.endpoint)
	})
	return &m, nil
}

// Register registers c on reg and returns it, or, when an equal collector
// is already registered there (another vendor's Caller or broker built it
// first), returns that one, so that one process can hold several vendors
// without a panic. Any other registration failure is returned.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	var zero C
	return zero, fmt.Errorf("vendor metrics: %w", err)
}
