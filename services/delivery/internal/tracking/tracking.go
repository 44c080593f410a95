// Package tracking follows delivery orders after they are dispatched: it
// hands each order a callback URL with an unguessable token, receives the
// vendor's status pushes on that URL, confirms each by reading the order
// back from the vendor (a push carries no signature), records a status event
// only when the status really changed, and streams the changes to watchers
// on every replica. Without a public callback URL it polls the vendor
// instead, one poller per order however many watch it.
package tracking

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/time/rate"

	"github.com/vendorgate/vendorgate/internal/refusal"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdang"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// CallbackPath is the route of the push endpoint on the callback listener.
const CallbackPath = "POST /callbacks/dingdang/{token}"

// callbackPrefix is CallbackPath's path before the token.
const callbackPrefix = "/callbacks/dingdang/"

// Defaults of Options.
const (
	defaultPollInterval = 10 * time.Second
	defaultRecheck      = 5 * time.Second
	defaultPushRate     = 1 // pushes per second per order, after the burst
	defaultPushBurst    = 5
	defaultMaxPushBytes = 64 << 10
	maxLimiters         = 10000 // per-order push limiters kept in memory
	eventsPerRead       = 100
)

// Vendor is what tracking needs from the Dingdang client.
type Vendor interface {
	GetOrder(ctx context.Context, originID string) (*dingdang.Order, error)
}

// Notifier carries "this order changed" between replicas (coord.Notifier).
type Notifier interface {
	Publish(ctx context.Context, payload string) error
	Subscribe() (<-chan string, func())
}

// Locker lets one replica poll an order (coord.Locks).
type Locker interface {
	TryLock(ctx context.Context, key string) (unlock func(), ok bool, err error)
}

// Options configures a Tracker.
type Options struct {
	// PublicURL is where the vendor reaches the callback listener from the
	// internet, e.g. "https://hooks.example.com"; each order's callback is
	// PublicURL + "/callbacks/dingdang/" + its token. Empty sends no
	// callback: watched orders are polled.
	PublicURL string
	// PollInterval is how often a watched order is read from the vendor
	// when there is no PublicURL; 0 means 10s.
	PollInterval time.Duration
	// Recheck is how often a watcher re-reads the store, in case a
	// notification was lost; 0 means 5s.
	Recheck time.Duration
	// PushRate and PushBurst limit the pushes accepted per order (in this
	// replica); 0 means 1 per second with a burst of 5.
	PushRate  rate.Limit
	PushBurst int
	// MaxPushBytes bounds a push's body; 0 means 64 KiB.
	MaxPushBytes int64
	// Final reports whether an order with this raw status will change no more.
	Final func(raw string) bool
	// Registerer receives the push metrics; nil records none.
	Registerer prometheus.Registerer
	// Logger receives push and poll failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// After waits d on the clock Now reads (time.After's contract): the
	// read of an order whose pushes were rate-limited waits on it. nil
	// means time.After.
	After func(d time.Duration) <-chan time.Time
	// TracerProvider starts the root span of each poll of an order
	// (SpanPoll), under which its vendor read and store calls are traced
	// (the service's provider); nil records none.
	TracerProvider trace.TracerProvider
}

// Tracker follows orders. It is safe for concurrent use.
type Tracker struct {
	ctx    context.Context // the service's: pollers and trailing refreshes end with it
	st     *store.Store
	vendor Vendor
	notes  Notifier
	locks  Locker
	opts   Options
	pushes *prometheus.CounterVec
	// strangers limits and samples the refusals of unknown tokens per
	// source address, so that guessing tokens costs the guesser.
	strangers *refusal.Table

	// routeOnce subscribes the tracker to the notifier, for every feed.
	routeOnce sync.Once

	mu       sync.Mutex
	pollers  map[string]*poller
	feeds    map[string]*feed // watched orders
	limiters map[string]*rate.Limiter
	trailing map[string]bool // orders with a refresh waiting for their limiter
}

// New returns a Tracker whose background work (polling) ends with ctx.
func New(ctx context.Context, st *store.Store, vendor Vendor, notes Notifier, locks Locker, opts Options) (*Tracker, error) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPollInterval
	}
	if opts.Recheck <= 0 {
		opts.Recheck = defaultRecheck
	}
	if opts.PushRate <= 0 {
		opts.PushRate = defaultPushRate
	}
	if opts.PushBurst <= 0 {
		opts.PushBurst = defaultPushBurst
	}
	if opts.MaxPushBytes <= 0 {
		opts.MaxPushBytes = defaultMaxPushBytes
	}
	if opts.Final == nil {
		opts.Final = func(string) bool { return false }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	t := &Tracker{
		ctx: ctx, st: st, vendor: vendor, notes: notes, locks: locks, opts: opts,
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_delivery_callback_pushes_total",
			Help: "Status pushes received on the Dingdang callback endpoint, by outcome (accepted, unknown_token, source_throttled, rate_limited, too_large, vendor_error, store_error).",
		}, []string{"outcome"}),
		pollers:   map[string]*poller{},
		feeds:     map[string]*feed{},
		limiters:  map[string]*rate.Limiter{},
		strangers: refusal.New(opts.Now),
		trailing:  map[string]bool{},
	}
	for _, o := range []string{outcomeAccepted, outcomeUnknownToken, outcomeRateLimited, outcomeTooLarge, outcomeVendorError, outcomeStoreError} {
		t.pushes.WithLabelValues(o)
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(t.pushes); err != nil {
			return nil, fmt.Errorf("tracking: register metrics: %w", err)
		}
	}
	return t, nil
}

// Pushes reports whether the vendor is given callback URLs.
func (t *Tracker) Pushes() bool { return t.opts.PublicURL != "" }

// CallbackURL returns the callback URL to send with originID's createOrder,
// storing the order's token first; "" when there is no public URL. A repeat
// for the same order returns the same URL.
func (t *Tracker) CallbackURL(ctx context.Context, originID string) (string, error) {
	if t.opts.PublicURL == "" {
		return "", nil
	}
	tok, err := newToken()
	if err != nil {
		return "", err
	}
	tok, err = t.st.Track(ctx, originID, tok, t.opts.Now())
	if err != nil {
		return "", err
	}
	return t.opts.PublicURL + callbackPrefix + tok, nil
}

// Refresh reads originID from the vendor and records its status when it
// changed, telling every replica's watchers. It returns the order's last
// event, new or not.
func (t *Tracker) Refresh(ctx context.Context, originID string, source store.Source) (store.Event, error) {
	o, err := t.vendor.GetOrder(ctx, originID)
	if err != nil {
		return store.Event{}, err
	}
	return t.Observe(ctx, o, source)
}

// Observe records o, just read from the vendor, like Refresh.
func (t *Tracker) Observe(ctx context.Context, o *dingdang.Order, source store.Source) (store.Event, error) {
	snapshot, err := json.Marshal(o)
	if err != nil {
		return store.Event{}, fmt.Errorf("tracking: encode order %s: %w", o.OriginID, err)
	}
	e, changed, err := t.st.Record(ctx, store.Event{OriginID: o.OriginID, RawStatus: o.RawStatus,
		Snapshot: snapshot, Source: source, CreatedAt: t.opts.Now()})
	if err != nil {
		return store.Event{}, err
	}
	if changed {
		if err := t.notes.Publish(ctx, o.OriginID); err != nil {
			// Watchers still see the event at their next store re-check.
			t.opts.Logger.Warn("tracking: notify watchers", "origin_id", o.OriginID, "err", err)
		}
	}
	return e, nil
}

// Events returns up to limit events of originID after afterID, oldest first.
func (t *Tracker) Events(ctx context.Context, originID string, afterID int64, limit int) ([]store.Event, error) {
	return t.st.Events(ctx, originID, afterID, limit)
}

// Order decodes an event's snapshot.
func Order(e store.Event) (*dingdang.Order, error) {
	var o dingdang.Order
	if err := json.Unmarshal(e.Snapshot, &o); err != nil {
		return nil, fmt.Errorf("tracking: decode event %d of %s: %w", e.ID, e.OriginID, err)
	}
	return &o, nil
}

// Final reports whether e is an order's last state.
func (t *Tracker) Final(e store.Event) bool { return t.opts.Final(e.RawStatus) }

// Watch sends originID's current state (or, when afterID > 0, the events
// after afterID) and then every change, until the order is final, send
// fails, or ctx or the service ends. The current state is the last event
// recorded when pushes keep the store current, else read from the vendor
// (one read for the watches that start within two poll intervals). The
// watchers of an order share its feed: a change costs one store read
// whatever their number.
func (t *Tracker) Watch(ctx context.Context, originID string, afterID int64, send func(store.Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()
	// Join (and so subscribe) before reading, so that no change falls
	// between the two.
	f, leave := t.join(originID)
	defer leave()
	if err := t.start(ctx, f); err != nil {
		return err
	}

	last := afterID
	if afterID == 0 {
		e, err := t.first(ctx, f)
		if err != nil {
			return err
		}
		if err := send(e); err != nil {
			return err
		}
		if t.Final(e) {
			return nil
		}
		last = e.ID
	} else if e := f.last(); e.ID != 0 && e.ID <= afterID && t.Final(e) {
		return nil
	}
	if !t.Pushes() {
		release := t.poll(originID)
		defer release()
	}
	for {
		events, changed, ok := f.since(last)
		if !ok {
			// Further behind than the feed keeps: from the store.
			var err error
			if events, err = t.st.Events(ctx, originID, last, eventsPerRead); err != nil {
				return err
			}
		}
		for _, e := range events {
			if err := send(e); err != nil {
				return err
			}
			last = e.ID
			if t.Final(e) {
				return nil
			}
		}
		if len(events) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("tracking: new callback token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// tokenLen is the length of newToken's tokens.
const tokenLen = 43

// validToken reports whether tok could be one of newToken's.
func validToken(tok string) bool {
	if len(tok) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(tok)
	return err == nil
}
