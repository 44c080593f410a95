package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// dialects runs test against a fresh SQLite file and a fresh Postgres schema.
func dialects(t *testing.T, test func(t *testing.T, url string)) {
	t.Helper()
	for _, d := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return sqlstoretest.SQLiteURL(t) }},
		{"postgres", func(t *testing.T) string { return sqlstoretest.PostgresURL(t, "delivery_test") }},
	} {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			test(t, d.url(t))
		})
	}
}

func open(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 123e6, time.UTC)

func TestTrackKeepsTheFirstToken(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		s := open(t, url)
		ctx := context.Background()
		got, err := s.Track(ctx, "A1", "tok-1", t0)
		if err != nil || got != "tok-1" {
			t.Fatalf("Track: got %q, %v, want tok-1", got, err)
		}
		if got, err = s.Track(ctx, "A1", "tok-2", t0); err != nil || got != "tok-1" {
			t.Fatalf("Track again: got %q, %v, want the stored tok-1", got, err)
		}
		if id, err := s.OrderByToken(ctx, "tok-1"); err != nil || id != "A1" {
			t.Fatalf("OrderByToken: got %q, %v, want A1", id, err)
		}
		if _, err := s.OrderByToken(ctx, "tok-2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("OrderByToken(unknown): got %v, want ErrNotFound", err)
		}
		// An order first seen by a watch (no token) gets one when created.
		if _, _, err := s.Record(ctx, store.Event{OriginID: "B1", RawStatus: "0", Snapshot: []byte("{}"), Source: store.SourceRead, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Track(ctx, "B1", "tok-b", t0); err != nil || got != "tok-b" {
			t.Fatalf("Track after Record: got %q, %v, want tok-b", got, err)
		}
	})
}

func TestRecordOnlyChanges(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		s := open(t, url)
		ctx := context.Background()
		if _, err := s.Latest(ctx, "A1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Latest of nothing: got %v, want ErrNotFound", err)
		}
		steps := []struct {
			raw     string
			changed bool
			id      int64
		}{{"0", true, 1}, {"0", false, 1}, {"4", true, 2}, {"4", false, 2}, {"3", true, 3}}
		for i, st := range steps {
			e, changed, err := s.Record(ctx, store.Event{OriginID: "A1", RawStatus: st.raw,
				Snapshot: []byte(`{"s":"` + st.raw + `"}`), Source: store.SourcePush, CreatedAt: t0.Add(time.Duration(i) * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			if changed != st.changed || e.ID != st.id || e.RawStatus != st.raw {
				t.Errorf("step %d (%s): got changed=%v id=%d raw=%s, want %v %d %s", i, st.raw, changed, e.ID, e.RawStatus, st.changed, st.id, st.raw)
			}
		}
		evs, err := s.Events(ctx, "A1", 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].ID != 2 || evs[1].ID != 3 || string(evs[1].Snapshot) != `{"s":"3"}` ||
			evs[0].Source != store.SourcePush || !evs[0].CreatedAt.Equal(t0.Add(2*time.Second)) {
			t.Errorf("Events after 1: got %+v", evs)
		}
		last, err := s.Latest(ctx, "A1")
		if err != nil || last.ID != 3 {
			t.Errorf("Latest: got %+v, %v, want event 3", last, err)
		}
	})
}

// TestRecordConcurrently: many writers reporting the same changes at once
// (as replicas do) record each change once.
func TestRecordConcurrently(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		// Two handles on Postgres, as two replicas have; SQLite serves one
		// process, through one handle.
		a := open(t, url)
		b := a
		if strings.HasPrefix(url, "postgres") {
			b = open(t, url)
		}
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		recorded := 0
		for i := range 20 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, raw := range []string{"0", "4", "3"} {
					_, changed, err := s.Record(ctx, store.Event{OriginID: "C1", RawStatus: raw, Snapshot: []byte("{}"), Source: store.SourcePoll, CreatedAt: t0})
					if err != nil {
						t.Error(err)
						return
					}
					if changed {
						mu.Lock()
						recorded++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		evs, err := a.Events(ctx, "C1", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		// Interleavings may record a status again after another (0,4,0,…),
		// but every recorded change is a change and ids have no gaps.
		if len(evs) != recorded {
			t.Fatalf("got %d events, %d reported recorded", len(evs), recorded)
		}
		for i, e := range evs {
			if e.ID != int64(i+1) || (i > 0 && e.RawStatus == evs[i-1].RawStatus) {
				t.Errorf("event %d: %+v after %+v", i, e, evs[max(i-1, 0)])
			}
		}
	})
}

func TestPushesKeepTheirBytes(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		s := open(t, url)
		ctx := context.Background()
		raw := []byte{0xff, 0x00, 'a', '='}
		for i, p := range []store.Push{
			{OriginID: "A1", ContentType: "application/x-www-form-urlencoded", Payload: []byte("origin_id=A1&order_status=4"), ReceivedAt: t0},
			{OriginID: "A1", ContentType: "application/octet-stream", Payload: raw, ReceivedAt: t0.Add(time.Second)},
		} {
			if err := s.SavePush(ctx, p); err != nil {
				t.Fatalf("push %d: %v", i, err)
			}
		}
		got, err := s.Pushes(ctx, "A1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || string(got[1].Payload) != string(raw) || got[0].ContentType != "application/x-www-form-urlencoded" {
			t.Errorf("got %s", fmt.Sprint(got))
		}
	})
}
