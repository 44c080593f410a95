package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
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
	// Explicit lists the RPCs ("pkg.Service/Method") that move money or buy
	// something: a caller may call them only when its allow list names them.
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
}

// Guard admits or refuses calls. It is safe for concurrent use.
type Guard struct {
	opts       Options
	log        *slog.Logger
	dir        atomic.Pointer[directory]
	sandboxKey string
	failures   *prometheus.CounterVec

	limitersMu sync.Mutex
	limiters   map[string]*callerLimiter
}

// directory is one snapshot of the known callers.
type directory struct {
	byHash map[string]*Caller
	byName map[string]*Caller
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
	g := &Guard{opts: opts, log: opts.Logger, limiters: map[string]*callerLimiter{}}
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

// Reload re-reads the keys file and the store. On failure the callers
// loaded before stay in force.
func (g *Guard) Reload(ctx context.Context) error {
	var callers []Caller
	if g.opts.Config.KeysFile != "" {
		fc, err := ReadKeysFile(g.opts.Config.KeysFile)
		if err != nil {
			return err
		}
		callers = append(callers, fc...)
	}
	if g.opts.Store != nil {
		sc, err := g.opts.Store.Callers(ctx)
		if err != nil {
			return err
		}
		callers = append(callers, sc...)
	}
	if g.sandboxKey != "" {
		callers = append(callers, Caller{Name: SandboxCaller, Keys: []string{HashKey(g.sandboxKey)}, Allow: append([]string{"*"}, g.opts.Explicit...)})
	}
	d := &directory{byHash: map[string]*Caller{}, byName: map[string]*Caller{}}
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
	g.dir.Store(d)
	return nil
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
			if err := g.Reload(ctx); err != nil && ctx.Err() == nil {
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
			g.fail(ReasonMissing, "", source, method)
			return ctx, err
		}
		var h [hashLen]byte
		hashKey(key, &h)
		c = g.dir.Load().byHash[string(h[:])] // indexing by a converted []byte allocates nothing
		if c == nil {
			g.fail(ReasonInvalid, claimedCaller(key), source, method)
			return ctx, domainerr.Unauthenticated(ReasonInvalid, "the API key is not valid")
		}
	case ModeMTLS:
		name, err := certCaller(ctx)
		if err != nil {
			g.fail(ReasonMissing, "", source, method)
			return ctx, err
		}
		c = g.dir.Load().byName[name]
		if c == nil {
			g.fail(ReasonInvalid, name, source, method)
			return ctx, domainerr.Unauthenticated(ReasonInvalid, "the client certificate names no known caller")
		}
	}
	if !allows(c.Allow, method, slices.Contains(g.opts.Explicit, method)) {
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

// fail counts and logs a refused call; caller is the claimed one, pooled
// as "unknown" when nobody configured it, so that the metric stays small.
func (g *Guard) fail(reason, caller, source, method string) {
	label := caller
	if _, known := g.dir.Load().byName[caller]; !known {
		label = unknownCaller
	}
	if g.failures != nil {
		g.failures.WithLabelValues(reason, label).Inc()
	}
	if reason != ReasonRateLimited {
		g.log.Warn("call refused", "service", g.opts.Service, "reason", reason, "claimed_caller", label, "source", source, "method", method)
	}
}
