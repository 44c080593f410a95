// Package seriescache keeps the series of a Prometheus vector that a hot
// path counts into, by a comparable key of their label values.
//
// A vector finds a series by its label values on every call: it checks
// that they are valid UTF-8, hashes them and reads its map under a lock.
// A call path that counts into the same few series (a vendor endpoint's
// outcomes, a route's status codes) finds them with one map read instead.
// The vectors it caches must not delete series: a deleted series would
// keep counting here, unseen.
package seriescache

import "sync"

// Cache is the series of one vector by key, created on first use by the
// function given to New.
type Cache[K comparable, S any] struct {
	series func(K) S
	m      sync.Map // K → S
}

// New returns a Cache whose series for a key k is series(k), e.g.
//
//	seriescache.New(func(k routeCode) prometheus.Counter {
//		return vec.WithLabelValues(k.route, strconv.Itoa(k.code))
//	})
func New[K comparable, S any](series func(K) S) *Cache[K, S] {
	return &Cache[K, S]{series: series}
}

// Get returns k's series.
func (c *Cache[K, S]) Get(k K) S {
	if s, ok := c.m.Load(k); ok {
		return s.(S)
	}
	s, _ := c.m.LoadOrStore(k, c.series(k))
	return s.(S)
}
