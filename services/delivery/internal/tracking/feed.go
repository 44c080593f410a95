package tracking

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// feedKeep is how many of an order's latest events a feed keeps in memory
// for its watchers; one further behind reads the store itself.
const feedKeep = 64

// feed follows one order for all of its watchers in this replica, so that
// a change costs one store read however many watch it: the tracker's one
// notification subscription pokes it, it reads the events after its cursor
// (and again every Recheck, in case a notification was lost), keeps the
// latest ones and wakes the watchers, who take them from memory. It also
// shares the vendor read of a watch's first state between the watchers
// that start together.
type feed struct {
	originID string
	poke     chan struct{} // "the order may have changed"; never blocks the sender
	ready    chan struct{} // closed once start has read the cursor
	refs     int           // watchers, guarded by Tracker.mu
	stop     context.CancelFunc

	startMu sync.Mutex // one start at a time
	started bool       // guarded by startMu

	mu sync.Mutex
	// latest is the order's last event known, zero when it has none.
	latest store.Event
	// events are the events after base, up to cursor, oldest first; a
	// watcher at base or after finds what it has not sent in them. The
	// slice is only appended to or replaced, never written in place, so
	// watchers read what since returned without the lock.
	events []store.Event
	base   int64
	cursor int64
	// changed is closed (and replaced) when events grow.
	changed chan struct{}
	// read is the last vendor read of the order, at readAt (polled orders
	// start new watches from it for PollInterval); reading is the read in
	// progress, if any.
	read    store.Event
	readAt  time.Time
	reading *sharedRead
	// derived holds what Derived made of the recent events, by event id.
	derived map[int64]*derivedValue
}

// derivedValue is one Derived result, made once.
type derivedValue struct {
	once sync.Once
	v    any
	err  error
}

// sharedRead is one vendor read of an order that several watches wait for.
type sharedRead struct {
	done chan struct{}
	e    store.Event
	err  error
}

// join returns originID's feed, starting it for the first watcher, and the
// function that leaves it; the last watcher to leave stops it.
func (t *Tracker) join(originID string) (*feed, func()) {
	t.routeOnce.Do(t.startRouting)
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.feeds[originID]
	if f == nil {
		ctx, cancel := context.WithCancel(t.ctx)
		f = &feed{originID: originID, poke: make(chan struct{}, 1), ready: make(chan struct{}),
			stop: cancel, changed: make(chan struct{})}
		t.feeds[originID] = f
		go t.runFeed(ctx, f)
	}
	f.refs++
	var once sync.Once
	return f, func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if f.refs--; f.refs == 0 {
				f.stop()
				if t.feeds[originID] == f {
					delete(t.feeds, originID)
				}
			}
		})
	}
}

// startRouting subscribes the tracker to the notifier once, for all of its
// feeds: a payload names the order that changed, Resync pokes every feed.
func (t *Tracker) startRouting() {
	notes, unsubscribe := t.notes.Subscribe()
	go func() {
		defer unsubscribe()
		for {
			var id string
			var ok bool
			select {
			case <-t.ctx.Done():
				return
			case id, ok = <-notes:
			}
			if !ok {
				return // the notifier closed: the feeds' re-checks carry on
			}
			t.mu.Lock()
			if id == "" { // coord.Resync: notifications may have been missed
				for _, f := range t.feeds {
					f.nudge()
				}
			} else if f := t.feeds[id]; f != nil {
				f.nudge()
			}
			t.mu.Unlock()
		}
	}()
}

func (f *feed) nudge() {
	select {
	case f.poke <- struct{}{}:
	default:
	}
}

// start reads the order's last event as the feed's cursor, once; a watch
// that finds it failed tries again.
func (t *Tracker) start(ctx context.Context, f *feed) error {
	f.startMu.Lock()
	defer f.startMu.Unlock()
	if f.started {
		return nil
	}
	e, err := t.st.Latest(ctx, f.originID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	f.mu.Lock()
	f.latest, f.base, f.cursor = e, e.ID, e.ID
	f.mu.Unlock()
	f.started = true
	close(f.ready)
	return nil
}

// runFeed reads the order's new events when poked, and every Recheck.
func (t *Tracker) runFeed(ctx context.Context, f *feed) {
	select {
	case <-ctx.Done():
		return
	case <-f.ready: // a poke meanwhile waits in its buffer
	}
	recheck := time.NewTicker(t.opts.Recheck)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.poke:
		case <-recheck.C:
		}
		t.readFeed(ctx, f)
	}
}

// readFeed appends the events after the feed's cursor and wakes the
// watchers.
func (t *Tracker) readFeed(ctx context.Context, f *feed) {
	for {
		f.mu.Lock()
		cursor := f.cursor
		f.mu.Unlock()
		events, err := t.st.Events(ctx, f.originID, cursor, eventsPerRead)
		if err != nil {
			if ctx.Err() == nil {
				// The next poke or re-check reads them.
				t.opts.Logger.Warn("tracking: read watched order's events", "origin_id", f.originID, "err", err)
			}
			return
		}
		if len(events) == 0 {
			return
		}
		f.mu.Lock()
		f.events = append(f.events, events...)
		if drop := len(f.events) - feedKeep; drop > 0 {
			f.base = f.events[drop-1].ID
			f.events = append([]store.Event(nil), f.events[drop:]...)
		}
		f.latest = events[len(events)-1]
		f.cursor = f.latest.ID
		close(f.changed)
		f.changed = make(chan struct{})
		f.mu.Unlock()
		if len(events) < eventsPerRead {
			return
		}
	}
}

// since returns the feed's events after last, and the channel closed when
// there are more; ok is false when last is behind what the feed keeps, and
// the store must be read.
func (f *feed) since(last int64) (events []store.Event, changed <-chan struct{}, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if last < f.base {
		return nil, f.changed, false
	}
	i := len(f.events)
	for i > 0 && f.events[i-1].ID > last {
		i--
	}
	return f.events[i:], f.changed, true
}

// last returns the order's last event known to the feed.
func (f *feed) last() store.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latest
}

// first returns the state a new watch of f's order starts from. With
// pushes the store is current: the feed's last event, read from the vendor
// only when there is none yet. Without them the vendor is asked, but one
// read serves every watch that starts within two PollIntervals of it (the
// poller's reads count), so that many watchers cost one vendor read.
func (t *Tracker) first(ctx context.Context, f *feed) (store.Event, error) {
	for {
		f.mu.Lock()
		if e, ok := f.current(t.Pushes(), t.opts.Now(), t.opts.PollInterval); ok {
			f.mu.Unlock()
			return e, nil
		}
		r := f.reading
		if r == nil {
			r = &sharedRead{done: make(chan struct{})}
			f.reading = r
			f.mu.Unlock()
			t.readShared(ctx, f, r)
			return r.e, r.err
		}
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return store.Event{}, ctx.Err()
		case <-r.done:
		}
		if r.err != nil {
			return store.Event{}, r.err
		}
		// Loop: the read is now the feed's, or a newer event is.
	}
}

// current returns the state a new watch may start from without reading the
// vendor, under f.mu.
func (f *feed) current(pushes bool, now time.Time, fresh time.Duration) (store.Event, bool) {
	e := f.latest
	if f.read.ID > e.ID {
		e = f.read
	}
	if pushes {
		return e, e.ID != 0
	}
	// Two intervals: the poller's reads note the feed once they are done,
	// so one interval would miss each time a poll read takes, and send
	// the watches that start then to the vendor too.
	return e, !f.readAt.IsZero() && now.Sub(f.readAt) < 2*fresh
}

// readShared reads the order from the vendor for every watch waiting on r.
// It is not cut short when the watch that started it leaves (the others
// wait for it), only when the service ends; the vendor call layer bounds
// it.
func (t *Tracker) readShared(ctx context.Context, f *feed, r *sharedRead) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()
	at := t.opts.Now()
	r.e, r.err = t.Refresh(ctx, f.originID, store.SourceRead)
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.err == nil {
		f.noteRead(r.e, at)
	}
	f.reading = nil
	close(r.done)
}

// noteRead records a vendor read of the order made at at, under f.mu.
func (f *feed) noteRead(e store.Event, at time.Time) {
	if at.After(f.readAt) {
		f.read, f.readAt = e, at
	}
}

// polled records the poller's read of originID, for the watches that
// start after it.
func (t *Tracker) polled(originID string, e store.Event, at time.Time) {
	t.mu.Lock()
	f := t.feeds[originID]
	t.mu.Unlock()
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noteRead(e, at)
}

// Derived returns build(e), made once for all the watchers of e's order in
// this replica while it is watched (e.g. the server's message for the
// event: decoding an order's snapshot for each of 10,000 watchers cost
// most of a push's fan-out); otherwise build's own result each time. What
// build returns is shared, and must not be changed.
func (t *Tracker) Derived(e store.Event, build func(store.Event) (any, error)) (any, error) {
	t.mu.Lock()
	f := t.feeds[e.OriginID]
	t.mu.Unlock()
	if f == nil {
		return build(e)
	}
	f.mu.Lock()
	d := f.derived[e.ID]
	if d == nil {
		if f.derived == nil || len(f.derived) >= 2*feedKeep {
			f.derived = map[int64]*derivedValue{}
		}
		d = &derivedValue{}
		f.derived[e.ID] = d
	}
	f.mu.Unlock()
	d.once.Do(func() { d.v, d.err = build(e) })
	return d.v, d.err
}
