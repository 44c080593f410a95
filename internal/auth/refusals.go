package auth

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed authentications per source address: each source may fail
// refusalBurst times at once and refusalRate times a second after that;
// past it, its failures are answered RESOURCE_EXHAUSTED with a retry
// delay. A valid key is never refused by this: the bucket is only read
// when authentication has already failed.
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

// ReasonAuthFailuresRateLimited refuses a source that failed to
// authenticate too often: it must slow down, whatever key it sends next.
const ReasonAuthFailuresRateLimited = "AUTH_FAILURES_RATE_LIMITED"

// refusals keeps, per source address, the failed authentications' token
// bucket and log sampling.
type refusals struct {
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

func newRefusals(now func() time.Time) *refusals {
	return &refusals{
		now:     now,
		sources: map[netip.Prefix]*refusalSource{},
		logs:    rate.NewLimiter(refusalLogsPerSecond, refusalLogsPerSecond),
	}
}

// refusalVerdict is what to do with one failed authentication.
type refusalVerdict struct {
	// retryAfter, when positive, throttles the source: answer
	// RESOURCE_EXHAUSTED with this retry delay.
	retryAfter time.Duration
	// log says whether to log this failure, suppressed how many were not
	// since the source's last line.
	log        bool
	suppressed int
}

// note records a failed authentication from source ("ip:port", "ip" or
// anything else, pooled as one).
func (r *refusals) note(source string) refusalVerdict {
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
	var v refusalVerdict
	if res := s.bucket.ReserveN(now, 1); res.DelayFrom(now) > 0 {
		v.retryAfter = res.DelayFrom(now)
		res.CancelAt(now)
	}
	if now.Sub(s.logged) >= refusalLogEvery && r.logs.AllowN(now, 1) {
		v.log, v.suppressed = true, s.suppressed
		s.logged, s.suppressed = now, 0
	} else {
		s.suppressed++
	}
	return v
}

// evict makes room in the table: it drops the sources quiet for
// refusalIdle, and, when every source is busy, a quarter of them (map
// order is random), which only forgets their count.
func (r *refusals) evict(now time.Time) {
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
