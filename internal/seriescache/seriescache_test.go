package seriescache

import (
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type routeCode struct {
	route string
	code  int
}

func TestCacheCountsIntoTheVectorsSeries(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total", Help: "h"}, []string{"route", "code"})
	c := New(func(k routeCode) prometheus.Counter { return vec.WithLabelValues(k.route, strconv.Itoa(k.code)) })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Get(routeCode{"GET /a", 200}).Inc()
				c.Get(routeCode{"GET /a", 404}).Inc()
			}
		})
	}
	wg.Wait()
	if got := testutil.ToFloat64(vec.WithLabelValues("GET /a", "200")); got != 800 {
		t.Errorf("GET /a 200 = %v, want 800", got)
	}
	if got := testutil.ToFloat64(vec.WithLabelValues("GET /a", "404")); got != 800 {
		t.Errorf("GET /a 404 = %v, want 800", got)
	}
	if n := testutil.CollectAndCount(vec); n != 2 {
		t.Errorf("the vector has %d series, want 2", n)
	}
}

// BenchmarkCounter is one count into a series: found by the cache, and by
// the vector.
func BenchmarkCounter(b *testing.B) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total", Help: "h"}, []string{"vendor", "endpoint", "outcome"})
	type key struct{ endpoint, outcome string }
	c := New(func(k key) prometheus.Counter { return vec.WithLabelValues("dingdang", k.endpoint, k.outcome) })
	b.Run("cache", func(b *testing.B) {
		for b.Loop() {
			c.Get(key{"orderRecord", "ok"}).Inc()
		}
	})
	b.Run("vector", func(b *testing.B) {
		for b.Loop() {
			vec.WithLabelValues("dingdang", "orderRecord", "ok").Inc()
		}
	})
}
