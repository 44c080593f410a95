package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
)

func dialects(t *testing.T) map[string]string {
	return map[string]string{
		"sqlite":   sqlstoretest.SQLiteURL(t),
		"postgres": sqlstoretest.PostgresURL(t, "logistics_store"),
	}
}

// TestLegacyOperations: a database written before issue 15 keeps its
// movements in the renamed legacy table; LegacyToImport returns the
// unresolved ones and the applied ones since the cutoff, and ForgetLegacy
// deletes one with its resolutions.
func TestLegacyOperations(t *testing.T) {
	t.Parallel()
	for name, url := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			// The schema as it was: the first two migrations only.
			old := fstest.MapFS{}
			for _, f := range []string{"00001_logistics_operations.sql", "00002_logistics_vendor_tokens.sql"} {
				b, err := migrations.ReadFile("migrations/" + f)
				if err != nil {
					t.Fatal(err)
				}
				old[f] = &fstest.MapFile{Data: b}
			}
			db, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			if err := sqlstore.Migrate(ctx, db, old, versionTable, nil); err != nil {
				t.Fatal(err)
			}
			t0 := time.UnixMilli(1_700_000_000_000).UTC()
			for i, row := range []struct {
				id, state string
				at        time.Time
			}{
				{"unknown", "UNKNOWN", t0}, {"pending", "PENDING", t0}, {"old-ok", "SUCCEEDED", t0},
				{"new-ok", "SUCCEEDED", t0.Add(time.Hour)}, {"applied", "APPLIED", t0.Add(time.Hour)},
				{"failed", "FAILED", t0.Add(time.Hour)}, {"not-applied", "NOT_APPLIED", t0.Add(time.Hour)},
			} {
				if _, err := db.ExecContext(ctx, `INSERT INTO logistics_operations (request_id, kind, phone, amount, state, vendor_message, created_at)
					VALUES ($1, 'RECHARGE', '+61400000001', '10.50', $2, 'msg', $3)`, row.id, row.state, row.at.UnixMilli()+int64(i)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO logistics_resolutions (id, request_id, outcome, note, resolved_at)
				VALUES ('x1', 'applied', 'APPLIED', 'seen', 1)`); err != nil {
				t.Fatal(err)
			}
			_ = db.Close()

			st, err := Open(ctx, url, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ops, err := st.LegacyToImport(ctx, t0.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, op := range ops {
				ids = append(ids, op.RequestID)
			}
			if diff := cmp.Diff([]string{"unknown", "pending", "new-ok", "applied"}, ids); diff != "" {
				t.Errorf("legacy operations to import (-want +got):\n%s", diff)
			}
			if op := ops[0]; op.Kind != "RECHARGE" || op.Phone != "+61400000001" || op.Amount != "10.50" || op.VendorMessage != "msg" || !op.CreatedAt.Equal(t0) {
				t.Errorf("got %+v, want the row as written", op)
			}
			if err := st.ForgetLegacy(ctx, "applied"); err != nil {
				t.Fatal(err)
			}
			if ops, _ := st.LegacyToImport(ctx, t0.Add(time.Minute)); len(ops) != 3 {
				t.Errorf("after ForgetLegacy: got %d to import, want 3", len(ops))
			}
		})
	}
}

// mutexLocker is an in-process Locker standing for coord.Locks.
type mutexLocker struct{ mu sync.Mutex }

func (l *mutexLocker) Lock(context.Context, string) (func(), error) {
	l.mu.Lock()
	return l.mu.Unlock, nil
}

// TestSharedToken: two store handles (two replicas) renewing at once log
// in once; a refused (stale) token is replaced by one login; a replica
// that holds an older token than the stored one gets the stored one.
func TestSharedToken(t *testing.T) {
	t.Parallel()
	for name, url := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var locks mutexLocker
			// Two handles stand for two replicas; SQLite serves one process,
			// so there both share one handle.
			var shared [2]*SharedToken
			var st *Store
			for i := range shared {
				if st == nil || name == "postgres" {
					opened, err := Open(ctx, url, slog.New(slog.DiscardHandler))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = opened.Close() })
					st = opened
				}
				shared[i] = st.SharedToken("vendor", &locks, nil)
			}
			var logins atomic.Int32
			login := func(context.Context) (string, error) {
				return fmt.Sprintf("token-%d", logins.Add(1)), nil
			}
			var wg sync.WaitGroup
			got := make([]string, 20)
			for i := range got {
				wg.Go(func() {
					token, err := shared[i%2].Renew(ctx, "", login)
					if err != nil {
						t.Error(err)
					}
					got[i] = token
				})
			}
			wg.Wait()
			for i, token := range got {
				if token != "token-1" {
					t.Errorf("renew %d: got %q, want token-1", i, token)
				}
			}
			if token, _ := shared[0].Renew(ctx, "token-1", login); token != "token-2" {
				t.Errorf("renew of the refused token-1: got %q, want token-2", token)
			}
			if token, _ := shared[1].Renew(ctx, "token-1", login); token != "token-2" {
				t.Errorf("the other replica's renew of token-1: got %q, want the stored token-2", token)
			}
			if n := logins.Load(); n != 2 {
				t.Errorf("got %d logins, want 2", n)
			}
			failed := func(context.Context) (string, error) { return "", errors.New("refused") }
			if _, err := shared[0].Renew(ctx, "token-2", failed); err == nil || strings.Contains(err.Error(), "token-2") {
				t.Errorf("failed login: got %v, want an error without the token", err)
			}
		})
	}
}
