package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/esign/internal/store"
)

// dialects runs test against a fresh SQLite file and a fresh Postgres schema.
func dialects(t *testing.T, test func(t *testing.T, url string)) {
	t.Helper()
	for _, d := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return sqlstoretest.SQLiteURL(t) }},
		{"postgres", func(t *testing.T) string { return sqlstoretest.PostgresURL(t, "esign_test") }},
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
	return s
}

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func TestTemplateSent(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		defer s.Close()
		for i, want := range []bool{false, true, true} {
			before, err := s.MarkTemplateSent(ctx, "T1", t0)
			if err != nil {
				t.Fatal(err)
			}
			if before != want {
				t.Errorf("mark %d: got before=%t, want %t", i, before, want)
			}
		}
		if sent, err := s.TemplateSent(ctx, "T2"); err != nil || sent {
			t.Errorf("T2 never marked: got %t, %v, want false", sent, err)
		}
		if err := s.ForgetTemplate(ctx, "T1"); err != nil {
			t.Fatal(err)
		}
		if sent, err := s.TemplateSent(ctx, "T1"); err != nil || sent {
			t.Errorf("T1 forgotten: got %t, %v, want false", sent, err)
		}
		if before, err := s.MarkTemplateSent(ctx, "T1", t0); err != nil || before {
			t.Errorf("T1 marked after forget: got before=%t, %v, want false", before, err)
		}
	})
}

// TestTemplateSentConcurrent: of many concurrent marks of one id, exactly
// one is the first.
func TestTemplateSentConcurrent(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		// Two stores are two replicas; a SQLite file takes one process (and
		// one open store) only.
		a, b := open(t, url), (*store.Store)(nil)
		defer a.Close()
		if strings.HasPrefix(url, "postgres") {
			b = open(t, url)
			defer b.Close()
		} else {
			b = a
		}
		var mu sync.Mutex
		firsts := 0
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := a
				if i%2 == 1 {
					s = b
				}
				before, err := s.MarkTemplateSent(ctx, "TC", t0)
				if err != nil {
					t.Error(err)
					return
				}
				if !before {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if firsts != 1 {
			t.Errorf("got %d first marks, want 1", firsts)
		}
	})
}

// TestTemplateSentSurvivesRestart: a template id recorded before the store
// is closed is still there when the database is opened again.
func TestTemplateSentSurvivesRestart(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		if _, err := s.MarkTemplateSent(ctx, "TR", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open(t, url)
		defer s.Close()
		if sent, err := s.TemplateSent(ctx, "TR"); err != nil || !sent {
			t.Errorf("after reopening: got %t, %v, want true", sent, err)
		}
		if before, err := s.MarkTemplateSent(ctx, "TR", t0); err != nil || !before {
			t.Errorf("mark after reopening: got before=%t, %v, want true", before, err)
		}
	})
}
