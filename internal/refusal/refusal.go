// Package refusal limits and samples the refusals of unauthenticated
// requests per source address (a wrong API key, an unknown callback
// token): each source may be refused Burst times at once and Rate times a
// second after that, past which it is throttled; and its refusals are
// logged at most once a second, with a count of the ones not logged, and
// at most 50 lines a second for all sources together. A flood of bad
// requests then costs its sender, not the service's log or store.
package refusal

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The limits per source address.
const (
	refusalRate  = 5
	refusalBurst = 20
	// maxRefusalSources bounds the table of sources; past it, the quiet
	// ones go first.
	maxRefusalSources = 4096
	// refusalIdle is how long a source stays in the table after its last
	// failure: by then its bucket is full again.
	refusalIdle = refusalBurst / refusalRate * time.Second
	// refusalLogEvery is how often a source's failures are logged at
	// most; the others are counted in the metric and summed up in the
	// next line ("suppressed").
	refusalLogEvery = time.Second
	// refusalLogsPerSecond bounds the refusal lines of all sources
	// together, so that a flood from many addresses costs little log.
	refusalLogsPerSecond = 50
)

// Table keeps, per source address, the refusals' token bucket and log
// sampling. It is safe for concurrent use.
type Table struct {
	now func() time.Time

	mu      sync.Mutex
	sources map[netip.Prefix]*refusalSource
	// logs bounds the refusal lines of every source together.
	logs *rate.Limiter
}

type refusalSource struct {
	bucket *rate.Limiter
	last   time.Time // the last failure
	logged time.Time // the last line logged
	// suppressed counts the failures not logged since the last line.
	suppressed int
}

// New returns an empty Table on the clock now (nil means time.Now).
func New(now func() time.Time) *Table {
	if now == nil {
		now = time.Now
	}
	return &Table{
		now:     now,
		sources: map[netip.Prefix]*refusalSource{},
		logs:    rate.NewLimiter(refusalLogsPerSecond, refusalLogsPerSecond),
	}
}

// Verdict is what to do with one refusal.
type Verdict struct {
	// RetryAfter, when positive, throttles the source: answer it
	// RESOURCE_EXHAUSTED (429) with this retry delay.
	RetryAfter time.Duration
	// Log says whether to log this refusal, Suppressed how many were not
	// since the source's last line.
	Log        bool
	Suppressed int
}

// Note records a refusal of source ("ip:port", "ip" or anything else,
// pooled as one).
func (r *Table) Note(source string) Verdict {
	key := sourcePrefix(source)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sources[key]
	if s == nil {
		if len(r.sources) >= maxRefusalSources {
			r.evict(now)
		}
		s = &refusalSource{bucket: rate.NewLimiter(refusalRate, refusalBurst)}
		r.sources[key] = s
	}
	s.last = now
	var v Verdict
	if res := s.bucket.ReserveN(now, 1); res.DelayFrom(now) > 0 {
		v.RetryAfter = res.DelayFrom(now)
		res.CancelAt(now)
	}
	if now.Sub(s.logged) >= refusalLogEvery && r.logs.AllowN(now, 1) {
		v.Log, v.Suppressed = true, s.suppressed
		s.logged, s.suppressed = now, 0
	} else {
		s.suppressed++
	}
	return v
}

// evict makes room in the table: it drops the sources quiet for
// refusalIdle, and, when every source is busy, a quarter of them (map
// order is random), which only forgets their count.
func (r *Table) evict(now time.Time) {
	for k, s := range r.sources {
		if now.Sub(s.last) >= refusalIdle {
			delete(r.sources, k)
		}
	}
	for k := range r.sources {
		if len(r.sources) < maxRefusalSources*3/4 {
			break
		}
		delete(r.sources, k)
	}
}

// sourcePrefix is the bucket of a source address: the IPv4 address, or
// the IPv6 /64 (one host's share of addresses); anything unparsable
// shares the zero prefix.
func sourcePrefix(source string) netip.Prefix {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(source); err == nil {
		a = ap.Addr()
	} else if pa, err := netip.ParseAddr(strings.Trim(source, "[]")); err == nil {
		a = pa
	} else {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// Throttled reports how long source must wait before it may be refused
// again within its budget: 0 while it is within it. It records nothing, so
// that a handler can turn a flooding source away before the work a
// refusal costs (a store lookup of a token, say).
func (r *Table) Throttled(source string) time.Duration {
	key := sourcePrefix(source)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sources[key]
	if s == nil || s.bucket.TokensAt(now) >= 1 {
		return 0
	}
	return time.Duration((1 - s.bucket.TokensAt(now)) / float64(s.bucket.Limit()) * float64(time.Second))
}
