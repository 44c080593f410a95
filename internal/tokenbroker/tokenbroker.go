// Package tokenbroker is the authentication layer of login-token vendors
// (e.g. damaijia's user_login → access_token): it logs in on first use,
// with one login in flight however many calls wait for it; hands every
// call the current token; and when the vendor refuses a token, invalidates
// only that token (a refusal of an older token never discards a newer
// one), logs in again and re-sends that call once. The re-send is safe
// even for a mutation, because a call refused for its token was not
// applied. It never logs a token or a secret, and counts logins in the
// metric vendorgate_vendor_logins_total{vendor, outcome}.
//
// Replicas of a service share one token through Options.Shared (e.g. a
// database row guarded by a lock that spans processes): the broker then
// asks Shared to renew a missing or refused token, and Shared either hands
// back the token another replica stored or runs the login once for all.
//
// It is vendor-neutral: the vendor package supplies Login (typically a
// vendorcall Mutate of its login endpoint) and places the token on each
// request itself:
//
//	broker, err := tokenbroker.New(tokenbroker.Options{
//		Vendor: "damaijia", Login: client.login, Registerer: reg, Logger: log,
//	})
//	err = broker.Do(ctx, func(ctx context.Context, token string) error {
//		req, err := http.NewRequest(http.MethodPost, base+"/v1/order_create", bytes.NewReader(body))
//		if err != nil {
//			return err
//		}
//		req.Header.Set("Authorization", token)
//		return caller.Mutate(ctx, "/v1/order_create", req, decodeReply)
//	})
package tokenbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// Login obtains a new token from the vendor. It runs detached from the
// cancellation of the call that started it (other calls may be waiting for
// it), so it must bound itself, as a vendorcall call does. It must not
// include the token or the secret in its error.
type Login func(ctx context.Context) (token string, err error)

// Options configure a Broker.
type Options struct {
	// Vendor names the vendor in logs and metrics, e.g. "damaijia".
	Vendor string
	// Login obtains a token (required).
	Login Login
	// Refused reports whether a call's error is the vendor refusing its
	// token. nil means vendorerr.IsKind(err, vendorerr.KindAuth): the
	// vendor's Decoder classifies its "token expired" answer (damaijia's
	// status 200 认证失败) as KindAuth.
	Refused func(error) bool
	// Shared, when set, keeps the token where the service's other
	// replicas see it; nil keeps it in this process only.
	Shared Shared
	// Registerer receives the logins metric; nil records none.
	Registerer prometheus.Registerer
	// Logger receives login outcomes, never a token; nil discards them.
	Logger *slog.Logger
}

// Shared is a token store that spans processes, so that N replicas make
// one login per expiry, also against a vendor whose login revokes older
// tokens.
type Shared interface {
	// Renew returns the shared token unless it is stale: stale is the
	// token the vendor just refused, or "" when this process has none yet
	// (any stored token will do). When the stored token is missing or
	// stale, Renew runs login, stores its token and returns it. It must
	// hold a lock that spans processes from its read to its store, so
	// that one replica logs in and the others wait and read its token. It
	// must not include a token in its error.
	Renew(ctx context.Context, stale string, login Login) (string, error)
}

// Broker holds one vendor's token. It is safe for concurrent use.
type Broker struct {
	opts   Options
	logins *prometheus.CounterVec

	mu       sync.Mutex
	token    string  // the current token, valid when gen != 0
	gen      uint64  // the current token's generation; 0 when there is none
	last     uint64  // the last generation handed out
	stale    string  // the token last refused, for Shared.Renew
	inflight *flight // the login under way, if any
}

// flight is one login that any number of calls wait for.
type flight struct {
	done  chan struct{}
	token string
	gen   uint64
	err   error
}

// New returns a Broker. It fails when Login is missing or the metric
// cannot be registered.
func New(opts Options) (*Broker, error) {
	if opts.Login == nil {
		return nil, errors.New("tokenbroker: Login is required")
	}
	if opts.Refused == nil {
		opts.Refused = func(err error) bool { return vendorerr.IsKind(err, vendorerr.KindAuth) }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{opts: opts}
	if opts.Registerer != nil {
		c, err := vendorcall.Register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_vendor_logins_total",
			Help: "Logins to token vendors by vendor and outcome (ok or failed).",
		}, []string{"vendor", "outcome"}))
		if err != nil {
			return nil, fmt.Errorf("tokenbroker %s: %w", opts.Vendor, err)
		}
		b.logins = c
	}
	return b, nil
}

// Do runs call with the current token, logging in first when there is
// none. When the vendor refuses that token (Options.Refused), Do
// invalidates it, obtains a new one and runs call once more; a second
// refusal, or a failed login, is returned. call must build its request
// afresh each time.
func (b *Broker) Do(ctx context.Context, call func(ctx context.Context, token string) error) error {
	token, gen, err := b.get(ctx)
	if err != nil {
		return err
	}
	err = call(ctx, token)
	if err == nil || !b.opts.Refused(err) {
		return err
	}
	b.invalidate(gen)
	b.opts.Logger.InfoContext(ctx, "vendor refused its token; logging in again and re-sending the call once",
		"vendor", b.opts.Vendor)
	token, _, err = b.get(ctx)
	if err != nil {
		return err
	}
	return call(ctx, token)
}

// Token returns the current token, logging in when there is none, for a
// caller that must place it itself (e.g. in a link it hands out).
func (b *Broker) Token(ctx context.Context) (string, error) {
	token, _, err := b.get(ctx)
	return token, err
}

// get returns the current token and its generation, joining or starting
// the one login in flight when there is none.
func (b *Broker) get(ctx context.Context) (string, uint64, error) {
	b.mu.Lock()
	if b.gen != 0 {
		token, gen := b.token, b.gen
		b.mu.Unlock()
		return token, gen, nil
	}
	f := b.inflight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		b.inflight = f
		go b.login(context.WithoutCancel(ctx), f)
	}
	b.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.gen, f.err
	case <-ctx.Done():
		return "", 0, ctx.Err()
	}
}

// login obtains a token, from Shared or by logging in, and hands it to
// everyone waiting on f.
func (b *Broker) login(ctx context.Context, f *flight) {
	var token string
	var err error
	if b.opts.Shared != nil {
		b.mu.Lock()
		stale := b.stale
		b.mu.Unlock()
		token, err = b.opts.Shared.Renew(ctx, stale, b.vendorLogin)
		if err == nil && token == "" {
			err = errors.New("the shared token store returned no token")
		}
		if err != nil && !errors.Is(err, errLogin) {
			err = fmt.Errorf("%s token: %w", b.opts.Vendor, err)
		}
	} else {
		token, err = b.vendorLogin(ctx)
	}
	b.mu.Lock()
	b.inflight = nil
	if err != nil {
		f.err = err
	} else {
		b.last++
		b.token, b.gen = token, b.last
		f.token, f.gen = token, b.last
	}
	b.mu.Unlock()
	close(f.done)
}

// errLogin marks a failed vendor login, already wrapped with the vendor's
// name.
var errLogin = errors.New("login failed")

// loginError is a failed vendor login.
type loginError struct {
	vendor string
	err    error
}

func (e *loginError) Error() string   { return e.vendor + " login: " + e.err.Error() }
func (e *loginError) Unwrap() []error { return []error{e.err, errLogin} }

// vendorLogin runs Options.Login once, counts it and logs its outcome.
func (b *Broker) vendorLogin(ctx context.Context) (string, error) {
	token, err := b.opts.Login(ctx)
	if err == nil && token == "" {
		err = errors.New("the vendor's login returned no token")
	}
	outcome := "ok"
	if err != nil {
		outcome = "failed"
		err = &loginError{vendor: b.opts.Vendor, err: err}
	}
	if b.logins != nil {
		b.logins.WithLabelValues(b.opts.Vendor, outcome).Inc()
	}
	if err != nil {
		b.opts.Logger.ErrorContext(ctx, "vendor login failed", "vendor", b.opts.Vendor, "error", err.Error())
		return "", err
	}
	b.opts.Logger.InfoContext(ctx, "vendor login succeeded", "vendor", b.opts.Vendor)
	return token, nil
}

// invalidate discards the token of generation gen, unless a newer one has
// replaced it already.
func (b *Broker) invalidate(gen uint64) {
	b.mu.Lock()
	if b.gen == gen {
		b.stale = b.token
		b.token, b.gen = "", 0
	}
	b.mu.Unlock()
}
