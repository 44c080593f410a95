package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/refusal"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

// ErrorInfo reasons of this package.
const (
	ReasonMissing     = "CREDENTIALS_MISSING"
	ReasonInvalid     = "CREDENTIALS_INVALID"
	ReasonDenied      = "PERMISSION_DENIED"
	ReasonRateLimited = "CALLER_RATE_LIMITED"
)

// Anonymous is the caller of every call in ModeNone.
const Anonymous = "anonymous"

// anonymous is the one Caller record of ModeNone, shared by every call
// rather than built for each.
var anonymous = &Caller{Name: Anonymous, Allow: []string{"*"}}

// SandboxCaller is the caller of sandbox mode's development key.
const SandboxCaller = "sandbox-dev"

// unknownCaller pools, in metrics, the callers nobody configured.
const unknownCaller = "unknown"

// Options configure a Guard.
type Options struct {
	// Service names the service in logs, e.g. "vehicle".
	Service string
	// Config is the AUTH_* configuration.
	Config Config
	// Store holds the callers managed with vendorgate-admin; nil for none.
	Store *Store
	// Explicit lists more RPCs ("pkg.Service/Method") that a caller may
	// call only when its allow list names them, on top of PaidOrMoneyRPCs,
	// which every Guard applies; nil adds none.
	Explicit []string
	// Open lists RPC prefixes that need no credentials, e.g. the gRPC
	// health service.
	Open []string
	// Sandbox creates a development key allowed everything (Config.SandboxKey
	// or a random one): see Guard.SandboxKey.
	Sandbox bool
	// Registerer receives the failure counter; nil records none.
	Registerer prometheus.Registerer
	// Logger receives failed attempts (never a key) and reload problems.
	Logger *slog.Logger
	// Replicas is how many replicas of the service are alive; a caller's
	// rate_per_second is shared out among them. nil means 1.
	Replicas func() int
	// Now is the clock of the per-source refusal limits; nil is time.Now.
	Now func() time.Time
}

// ReasonAuthFailuresRateLimited refuses a source that failed to
// authenticate too often: it must slow down, whatever key it sends next.
const ReasonAuthFailuresRateLimited = "AUTH_FAILURES_RATE_LIMITED"

// Guard admits or refuses calls. It is safe for concurrent use.
type Guard struct {
	opts       Options
	log        *slog.Logger
	dir        atomic.Pointer[directory]
	sandboxKey string
	failures   *prometheus.CounterVec
	// reloadRefused counts the reloads refused, by reason.
	reloadRefused *prometheus.CounterVec
	// explicit is PaidOrMoneyRPCs and Options.Explicit.
	explicit map[string]bool
	// refusals limits and samples failed authentications per source.
	refusals *refusal.Table

	limitersMu sync.Mutex
	limiters   map[string]*callerLimiter
}

// directory is one snapshot of the known callers.
type directory struct {
	byHash map[string]*Caller
	byName map[string]*Caller
	// configured counts the callers of the keys file and the store: all
	// but the sandbox's.
	configured int
}

type callerLimiter struct {
	perSecond float64
	lim       *rate.Limiter
}

// New builds the guard and loads the callers once. Outside sandbox mode,
// ModeAPIKey with no key configured is an error: a service must not be
// open by accident (set AUTH_MODE=none to mean it).
func New(ctx context.Context, opts Options) (*Guard, error) {
	if err := opts.Config.Check(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Guard{opts: opts, log: opts.Logger, limiters: map[string]*callerLimiter{},
		explicit: explicitSet(opts.Explicit), refusals: refusal.New(opts.Now)}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer != nil {
		c, err := vendorcall.Register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_auth_failures_total",
			Help: "Refused calls by reason and the caller the credential claimed (unknown pooled).",
		}, []string{"reason", "caller"}))
		if err != nil {
			return nil, err
		}
		g.failures = c
		r, err := vendorcall.Register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_auth_reload_refused_total",
			Help: "Reloads of the callers refused, the callers loaded before staying in force, by reason: no_callers (the new list is empty), invalid (the keys file does not parse or check), store (the store did not answer).",
		}, []string{"reason"}))
		if err != nil {
			return nil, err
		}
		g.reloadRefused = r
	}
	if opts.Sandbox && opts.Config.Mode == ModeAPIKey {
		g.sandboxKey = opts.Config.SandboxKey
		if g.sandboxKey == "" {
			k, err := NewKey(SandboxCaller)
			if err != nil {
				return nil, err
			}
			g.sandboxKey = k
		}
	}
	if err := g.Reload(ctx); err != nil {
		return nil, err
	}
	if opts.Config.Mode == ModeAPIKey && len(g.dir.Load().byHash) == 0 {
		return nil, errors.New("AUTH_MODE=api-key but no API keys are configured: set AUTH_KEYS_FILE, create a caller with vendorgate-admin, or set AUTH_MODE=none explicitly to run without authentication")
	}
	if opts.Config.Mode == ModeMTLS && len(g.dir.Load().byName) == 0 {
		return nil, errors.New("AUTH_MODE=mtls but no callers are configured: list them (named by their certificates' URI SAN or CN) in AUTH_KEYS_FILE or the store, or set AUTH_MODE=none explicitly")
	}
	return g, nil
}

// SandboxKey is the development key of sandbox mode, "" otherwise.
func (g *Guard) SandboxKey() string { return g.sandboxKey }

// ErrNoCallers is a reload refused because it would leave no caller where
// there were some.
var ErrNoCallers = errors.New("auth: the new list of callers is empty")

// Reload re-reads the keys file and the store. On failure the callers
// loaded before stay in force, and so they do when the new list would
// leave no caller where there were some (an emptied or truncated keys
// file, "callers: []"): that reload is refused with ErrNoCallers, logged
// at ERROR. Refused reloads are counted in
// vendorgate_auth_reload_refused_total; each caller a reload removes is
// logged at WARN, each it adds at INFO.
func (g *Guard) Reload(ctx context.Context) error {
	var callers []Caller
	if g.opts.Config.KeysFile != "" {
		fc, err := ReadKeysFile(g.opts.Config.KeysFile)
		if err != nil {
			g.countRefusedReload("invalid")
			return err
		}
		callers = append(callers, fc...)
	}
	if g.opts.Store != nil {
		sc, err := g.opts.Store.Callers(ctx)
		if err != nil {
			g.countRefusedReload("store")
			return err
		}
		callers = append(callers, sc...)
	}
	configured := len(callers)
	if g.sandboxKey != "" {
		allow := append([]string{"*"}, slices.Sorted(maps.Keys(g.explicit))...)
		callers = append(callers, Caller{Name: SandboxCaller, Keys: []string{HashKey(g.sandboxKey)}, Allow: allow})
	}
	d := &directory{byHash: map[string]*Caller{}, byName: map[string]*Caller{}, configured: configured}
	for i := range callers {
		c := &callers[i]
		if prev, dup := d.byName[c.Name]; dup {
			// The file and the store both name it: the file wins, the
			// store's keys still count.
			prev.Keys = append(prev.Keys, c.Keys...)
			for _, k := range c.Keys {
				d.byHash[k] = prev
			}
			continue
		}
		d.byName[c.Name] = c
		for _, k := range c.Keys {
			d.byHash[k] = c
		}
	}
	prev := g.dir.Load()
	if prev != nil && g.opts.Config.Mode != ModeNone && prev.configured > 0 && d.configured == 0 {
		g.countRefusedReload("no_callers")
		g.log.Error("auth: reload refused: the keys file and the store list no caller, which would refuse every call; the callers loaded before stay in force (an emptied or half-written AUTH_KEYS_FILE?)",
			"service", g.opts.Service, "callers_in_force", prev.configured)
		return ErrNoCallers
	}
	g.dir.Store(d)
	if prev != nil {
		g.logChanges(prev, d)
	}
	return nil
}

// logChanges logs the callers a reload removed (WARN: their calls now
// fail) and added.
func (g *Guard) logChanges(prev, next *directory) {
	for _, name := range slices.Sorted(maps.Keys(prev.byName)) {
		if _, kept := next.byName[name]; !kept && name != SandboxCaller {
			g.log.Warn("auth: caller removed by a reload; its keys no longer authenticate", "service", g.opts.Service, "caller", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(next.byName)) {
		if _, had := prev.byName[name]; !had && name != SandboxCaller {
			g.log.Info("auth: caller added by a reload", "service", g.opts.Service, "caller", name)
		}
	}
}

func (g *Guard) countRefusedReload(reason string) {
	if g.reloadRefused != nil {
		g.reloadRefused.WithLabelValues(reason).Inc()
	}
}

// Watch reloads the callers every Config.ReloadInterval until ctx ends.
func (g *Guard) Watch(ctx context.Context) {
	t := time.NewTicker(g.opts.Config.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A refusal for want of callers has been logged, at ERROR.
			if err := g.Reload(ctx); err != nil && !errors.Is(err, ErrNoCallers) && ctx.Err() == nil {
				g.log.Warn("auth: reload failed; the callers loaded before stay in force", "service", g.opts.Service, "error", err)
			}
		}
	}
}

type callerKey struct{}

// CallerFrom returns the caller Admit found for ctx's call, or "".
func CallerFrom(ctx context.Context) string {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	if c == nil {
		return ""
	}
	return c.Name
}

// CallerOf returns the caller record Admit found for ctx's call.
func CallerOf(ctx context.Context) (Caller, bool) {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	if c == nil {
		return Caller{}, false
	}
	return *c, true
}

// WithCaller returns ctx with c as its caller, for tests and background
// work done on a caller's behalf.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, &c)
}

// Admit authenticates the call to fullMethod ("/pkg.Service/Method") in
// ctx (gRPC metadata and peer), checks the caller's permission and rate,
// and returns ctx with the caller. source is the caller's address, for
// the log of a failed attempt.
func (g *Guard) Admit(ctx context.Context, fullMethod, source string) (context.Context, error) {
	method := strings.TrimPrefix(fullMethod, "/")
	for _, p := range g.opts.Open {
		if strings.HasPrefix(method, p) {
			return ctx, nil
		}
	}
	var c *Caller
	switch g.opts.Config.Mode {
	case ModeNone:
		return context.WithValue(ctx, callerKey{}, anonymous), nil
	case ModeAPIKey:
		key, err := bearer(ctx)
		if err != nil {
			return ctx, g.refuse(ReasonMissing, "", source, method, err)
		}
		var h [hashLen]byte
		hashKey(key, &h)
		c = g.dir.Load().byHash[string(h[:])] // indexing by a converted []byte allocates nothing
		if c == nil {
			return ctx, g.refuse(ReasonInvalid, claimedCaller(key), source, method,
				domainerr.Unauthenticated(ReasonInvalid, "the API key is not valid"))
		}
	case ModeMTLS:
		name, err := certCaller(ctx)
		if err != nil {
			return ctx, g.refuse(ReasonMissing, "", source, method, err)
		}
		c = g.dir.Load().byName[name]
		if c == nil {
			return ctx, g.refuse(ReasonInvalid, name, source, method,
				domainerr.Unauthenticated(ReasonInvalid, "the client certificate names no known caller"))
		}
	}
	if !allows(c.Allow, method, g.explicit[method]) {
		g.fail(ReasonDenied, c.Name, source, method)
		return ctx, domainerr.PermissionDenied(ReasonDenied, "the caller may not call "+method, map[string]string{"method": method, "caller": c.Name})
	}
	if err := g.rate(c); err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, callerKey{}, c), nil
}

// bearer returns the key of the call's "authorization: Bearer <key>".
func bearer(ctx context.Context) (string, error) {
	// Not FromIncomingContext: it copies every header of the call.
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vals) == 0 {
		return "", domainerr.Unauthenticated(ReasonMissing, `an API key is required: send "authorization: Bearer <key>"`)
	}
	scheme, key, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(key) == "" {
		return "", domainerr.Unauthenticated(ReasonMissing, `the authorization header must read "Bearer <key>"`)
	}
	return strings.TrimSpace(key), nil
}

// certCaller is the caller a verified client certificate names: its first
// URI SAN, else its subject CN.
func certCaller(ctx context.Context) (string, error) {
	var chains [][]*x509.Certificate
	if name, ok := ctx.Value(restCertKey{}).(string); ok && name != "" {
		return name, nil
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			chains = ti.State.VerifiedChains
		}
	}
	if len(chains) == 0 || len(chains[0]) == 0 {
		return "", domainerr.Unauthenticated(ReasonMissing, "a client certificate is required")
	}
	return CertName(chains[0][0]), nil
}

// CertName is the caller a client certificate names: its first URI SAN,
// else its subject CN.
func CertName(cert *x509.Certificate) string {
	if len(cert.URIs) > 0 {
		return cert.URIs[0].String()
	}
	return cert.Subject.CommonName
}

type restCertKey struct{}

// WithRESTCertificate returns ctx carrying the caller named by the client
// certificate of the REST request a gateway call serves (the gateway's own
// connection to the gRPC server carries none). Only the serve package's
// verified gateway path may call it.
func WithRESTCertificate(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, restCertKey{}, name)
}

// rate takes one token from c's bucket.
func (g *Guard) rate(c *Caller) error {
	if c.RatePerSecond <= 0 {
		return nil
	}
	// Each replica admits its share of the caller's rate: the replica set
	// stays within the rate, overshooting only while a replica joins or
	// leaves (until the next heartbeat), by at most one burst per replica.
	share := c.RatePerSecond
	if g.opts.Replicas != nil {
		share /= float64(max(1, g.opts.Replicas()))
	}
	g.limitersMu.Lock()
	l := g.limiters[c.Name]
	if l == nil || l.perSecond != share {
		l = &callerLimiter{perSecond: share, lim: rate.NewLimiter(rate.Limit(share), max(1, int(share)))}
		g.limiters[c.Name] = l
	}
	g.limitersMu.Unlock()
	r := l.lim.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		g.fail(ReasonRateLimited, c.Name, "", "")
		err := domainerr.ResourceExhausted(ReasonRateLimited,
			fmt.Sprintf("caller %s is over its rate of %g requests per second", c.Name, c.RatePerSecond),
			map[string]string{"quota": "rate_per_second", "caller": c.Name})
		err.RetryAfter = d
		return err
	}
	return nil
}

// refuse counts a failed authentication (err, with reason) from source and
// returns the error to answer: err, or, once the source has failed too
// often, RESOURCE_EXHAUSTED with a retry delay. At most one line a second
// per source is logged; the metric counts every failure.
func (g *Guard) refuse(reason, caller, source, method string, err error) error {
	label := g.callerLabel(caller)
	if g.failures != nil {
		g.failures.WithLabelValues(reason, label).Inc()
	}
	v := g.refusals.Note(source)
	if v.Log {
		g.log.Warn("call refused", "service", g.opts.Service, "reason", reason, "claimed_caller", label,
			"source", source, "method", method, "suppressed", v.Suppressed, "throttled", v.RetryAfter > 0)
	}
	if v.RetryAfter <= 0 {
		return err
	}
	throttled := domainerr.ResourceExhausted(ReasonAuthFailuresRateLimited,
		"too many failed authentications from this address; slow down and check the credentials",
		map[string]string{"quota": "failed_authentications_per_address"})
	throttled.RetryAfter = v.RetryAfter
	return throttled
}

// fail counts and logs a refused call of a known caller; caller is the
// claimed one, pooled as "unknown" when nobody configured it, so that the
// metric stays small.
func (g *Guard) fail(reason, caller, source, method string) {
	label := g.callerLabel(caller)
	if g.failures != nil {
		g.failures.WithLabelValues(reason, label).Inc()
	}
	if reason != ReasonRateLimited {
		g.log.Warn("call refused", "service", g.opts.Service, "reason", reason, "claimed_caller", label, "source", source, "method", method)
	}
}

// callerLabel is caller for metrics and logs: a configured caller's name,
// or "unknown", so that the metric stays small and a key sent as a
// caller's name is never echoed.
func (g *Guard) callerLabel(caller string) string {
	if _, known := g.dir.Load().byName[caller]; !known {
		return unknownCaller
	}
	return caller
}

// SpendCaps is the daily spend cap in fen of each caller loaded now that
// has one (Caller.DailySpendCapYuan), by name: the callers a spend gauge
// follows from the start, before any of them spends.
func (g *Guard) SpendCaps() map[string]int64 {
	caps := map[string]int64{}
	for name, c := range g.dir.Load().byName {
		if fen, ok := c.SpendCapFen(); ok {
			caps[name] = fen
		}
	}
	return caps
}
