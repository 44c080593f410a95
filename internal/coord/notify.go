package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

// Resync is the payload a subscriber receives when notifications may have
// been missed (the listening connection was re-established, or the
// subscriber fell behind): it should re-read what it follows from the store.
const Resync = ""

// subscriberBuffer is how many payloads a slow subscriber may fall behind
// before it is sent Resync instead.
const subscriberBuffer = 256

// channelName is what PostgreSQL accepts unquoted as a LISTEN channel.
var channelName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Notifier delivers short payloads to every subscriber in every replica
// sharing the database. Payloads are hints ("order X changed"): the store
// stays the truth, and a subscriber re-reads it on Resync. It is safe for
// concurrent use.
type Notifier struct {
	db      *sqlstore.DB
	channel string
	log     *slog.Logger

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	stop   context.CancelFunc
	done   chan struct{}
}

type subscriber struct {
	ch     chan string
	missed bool // a payload was dropped; Resync is owed
}

// NewNotifier starts listening on channel (lower-case letters, digits and
// underscores): on PostgreSQL a connection of its own LISTENs, and is
// re-established with backoff when it breaks; on SQLite payloads go to this
// process's subscribers only. Close stops it.
func NewNotifier(db *sqlstore.DB, channel string, log *slog.Logger) (*Notifier, error) {
	if !channelName.MatchString(channel) {
		return nil, fmt.Errorf("coord: notification channel %q: want [a-z_][a-z0-9_]*", channel)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{db: db, channel: channel, log: log, subs: map[*subscriber]struct{}{}, done: make(chan struct{})}
	if db.Dialect != sqlstore.Postgres {
		close(n.done)
		return n, nil
	}
	ctx, stop := context.WithCancel(context.Background())
	n.stop = stop
	ready := make(chan error, 1)
	go n.listen(ctx, ready)
	// Wait for the first LISTEN, so that nothing published after
	// NewNotifier returns is missed.
	if err := <-ready; err != nil {
		stop()
		<-n.done
		return nil, err
	}
	return n, nil
}

// Publish sends payload (at most 7999 bytes) to every subscriber of the
// channel, in every replica.
func (n *Notifier) Publish(ctx context.Context, payload string) error {
	if payload == Resync {
		return errors.New("coord: empty payload is reserved for Resync")
	}
	if n.db.Dialect != sqlstore.Postgres {
		n.deliver(payload)
		return nil
	}
	if _, err := n.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, n.channel, payload); err != nil {
		return fmt.Errorf("coord: notify %s: %w", n.channel, err)
	}
	return nil
}

// Subscribe returns a channel of every payload published from now on, and
// the function that ends the subscription.
func (n *Notifier) Subscribe() (<-chan string, func()) {
	s := &subscriber{ch: make(chan string, subscriberBuffer)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		close(s.ch)
		return s.ch, func() {}
	}
	n.subs[s] = struct{}{}
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			if _, ok := n.subs[s]; ok {
				delete(n.subs, s)
				close(s.ch)
			}
		})
	}
}

// Close stops listening and closes every subscription's channel.
func (n *Notifier) Close() {
	if n.stop != nil {
		n.stop()
	}
	<-n.done
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	for s := range n.subs {
		delete(n.subs, s)
		close(s.ch)
	}
}

// deliver hands payload to every subscriber without blocking: one that is
// full is owed a Resync, sent as soon as it has room.
func (n *Notifier) deliver(payload string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.subs {
		if s.missed {
			select {
			case s.ch <- Resync:
				s.missed = false
			default:
				continue
			}
		}
		select {
		case s.ch <- payload:
		default:
			s.missed = true
		}
	}
}

// listen holds a LISTENing connection until ctx ends, reconnecting with
// backoff; after a reconnect every subscriber gets Resync. ready receives
// the first attempt's outcome.
func (n *Notifier) listen(ctx context.Context, ready chan<- error) {
	defer close(n.done)
	wait := 100 * time.Millisecond
	first := true
	for {
		err := n.listenOnce(ctx, func() {
			if first {
				first = false
				ready <- nil
			} else {
				n.deliver(Resync)
			}
			wait = 100 * time.Millisecond
		})
		if ctx.Err() != nil {
			return
		}
		if first {
			ready <- fmt.Errorf("coord: listen on %s: %w", n.channel, err)
			return
		}
		n.log.Warn("notification listener lost its connection; reconnecting", "channel", n.channel, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// listenOnce LISTENs on one connection, calls listening once it does, and
// delivers notifications until the connection fails or ctx ends.
func (n *Notifier) listenOnce(ctx context.Context, listening func()) error {
	conn, err := n.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer discard(conn) // never return a LISTENing session to the pool
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("coord: driver connection %T is not pgx", dc)
		}
		c := pc.Conn()
		if _, err := c.Exec(ctx, "LISTEN "+n.channel); err != nil {
			return err
		}
		listening()
		for {
			note, err := c.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			n.deliver(note.Payload)
		}
	})
}
