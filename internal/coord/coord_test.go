package coord_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/proctest"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
)

// replicas opens n handles on one database of the dialect: n replicas of a
// service on Postgres; one process (n must be 1) on SQLite.
func replicas(t *testing.T, dialect sqlstore.Dialect, n int) []*sqlstore.DB {
	t.Helper()
	url := sqlstoretest.SQLiteURL(t)
	if dialect == sqlstore.Postgres {
		url = sqlstoretest.PostgresURL(t, "coord")
	}
	dbs := make([]*sqlstore.DB, n)
	for i := range dbs {
		db, err := sqlstore.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		dbs[i] = db
	}
	return dbs
}

func forEachDialect(t *testing.T, f func(t *testing.T, d sqlstore.Dialect)) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f(t, d)
		})
	}
}

// TestLocksExcludeAcrossHandles: on Postgres two database handles stand for
// two replicas; a held lock refuses TryLock on the other, Lock waits for
// its release, and the locks of different keys do not interfere.
func TestLocksExcludeAcrossHandles(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		n := 1
		if d == sqlstore.Postgres {
			n = 2
		}
		dbs := replicas(t, d, n)
		a, b := coord.NewLocks(dbs[0]), coord.NewLocks(dbs[n-1])

		unlock, ok, err := a.TryLock(ctx, "k1")
		if err != nil || !ok {
			t.Fatalf("first TryLock: ok %v err %v", ok, err)
		}
		if _, ok, err := b.TryLock(ctx, "k1"); err != nil || ok {
			t.Fatalf("TryLock of a held key: got ok %v err %v, want refused", ok, err)
		}
		if u, ok, err := b.TryLock(ctx, "k2"); err != nil || !ok {
			t.Fatalf("TryLock of another key: ok %v err %v", ok, err)
		} else {
			u()
		}
		short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
		if _, err := b.Lock(short, "k1"); err == nil {
			t.Fatal("Lock of a held key returned before its release")
		}
		got := make(chan error, 1)
		go func() {
			u, err := b.Lock(ctx, "k1")
			if err == nil {
				u()
			}
			got <- err
		}()
		time.Sleep(50 * time.Millisecond)
		unlock()
		unlock() // a second release is harmless
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Lock did not get the key after its release")
		}
	})
}

// TestLocksAreMutualExclusion: 20 goroutines over two replicas increment a
// counter under one lock; no two are ever inside at once.
func TestLocksAreMutualExclusion(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		n := 1
		if d == sqlstore.Postgres {
			n = 2
		}
		dbs := replicas(t, d, n)
		var inside, maxInside, total atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				locks := coord.NewLocks(dbs[i%n])
				unlock, err := locks.Lock(context.Background(), "counter")
				if err != nil {
					t.Error(err)
					return
				}
				v := inside.Add(1)
				for m := maxInside.Load(); v > m && !maxInside.CompareAndSwap(m, v); m = maxInside.Load() {
				}
				time.Sleep(2 * time.Millisecond)
				total.Add(1)
				inside.Add(-1)
				unlock()
			})
		}
		wg.Wait()
		if maxInside.Load() != 1 || total.Load() != 20 {
			t.Fatalf("got at most %d inside and %d done, want 1 and 20", maxInside.Load(), total.Load())
		}
	})
}

func TestMain(m *testing.M) { proctest.Main(m, holdLock) }

// holdLock is the child process of TestDeadHolderReleasesItsLock: it takes
// the lock COORD_TEST_KEY in COORD_TEST_DB, says so, and holds it until it
// is killed.
func holdLock(ctx context.Context, environ []string, _ io.Writer, onListen func(net.Addr)) error {
	db, err := sqlstore.Open(ctx, os.Getenv("COORD_TEST_DB"))
	if err != nil {
		return err
	}
	if _, ok, err := coord.NewLocks(db).TryLock(ctx, os.Getenv("COORD_TEST_KEY")); err != nil || !ok {
		return fmt.Errorf("child TryLock: ok %v err %v", ok, err)
	}
	onListen(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	<-ctx.Done()
	return nil
}

// TestDeadHolderReleasesItsLock: a replica process that is killed while
// holding a lock releases it with its sessions.
func TestDeadHolderReleasesItsLock(t *testing.T) {
	t.Parallel()
	url := sqlstoretest.PostgresURL(t, "coord")
	holder := proctest.Start(t, []string{"COORD_TEST_DB=" + url, "COORD_TEST_KEY=orphan"}, proctest.Options{})
	db, err := sqlstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	locks := coord.NewLocks(db)
	ctx := context.Background()
	if _, ok, err := locks.TryLock(ctx, "orphan"); err != nil || ok {
		t.Fatalf("TryLock while the child holds it: got ok %v err %v, want refused", ok, err)
	}
	holder.Kill()
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	unlock, err := locks.Lock(wait, "orphan")
	if err != nil {
		t.Fatalf("got %v, want the dead holder's lock", err)
	}
	unlock()
}

// TestNotifierReachesEveryReplica: a payload published by one replica
// reaches the subscribers of all. How fast is logged, not asserted: a
// loaded CI machine stretches it, and the push latency is measured by
// BenchmarkManyWatchers (services/delivery); 10 s only bounds a wait for
// a payload that never comes.
func TestNotifierReachesEveryReplica(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		n := 1
		if d == sqlstore.Postgres {
			n = 2
		}
		dbs := replicas(t, d, n)
		var subs []<-chan string
		var pubs []*coord.Notifier
		for _, db := range dbs {
			nt, err := coord.NewNotifier(db, "coord_test", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nt.Close)
			ch, cancel := nt.Subscribe()
			t.Cleanup(cancel)
			subs, pubs = append(subs, ch), append(pubs, nt)
		}
		start := time.Now()
		if err := pubs[0].Publish(context.Background(), "order-1"); err != nil {
			t.Fatal(err)
		}
		for i, ch := range subs {
			select {
			case got := <-ch:
				if got != "order-1" {
					t.Errorf("replica %d: got %q, want order-1", i, got)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("replica %d: nothing within 10 s", i)
			}
		}
		t.Logf("%s: delivered to %d replicas in %s", d, n, time.Since(start))
	})
}

// TestNotifierRejectsBadChannel: the channel is an identifier, never SQL.
func TestNotifierRejectsBadChannel(t *testing.T) {
	t.Parallel()
	dbs := replicas(t, sqlstore.SQLite, 1)
	if _, err := coord.NewNotifier(dbs[0], "x; DROP TABLE y", nil); err == nil {
		t.Fatal("got no error for a channel that is not an identifier")
	}
}
