package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

// sqliteStore is a Store on a SQLite file.
type sqliteStore struct{ db *sqlstore.DB }

func (s sqliteStore) DB() *sqlstore.DB { return s.db }
func (s sqliteStore) Close() error     { return s.db.Close() }

// TestReadinessFollowsTheStore: a service run by the bootstrap is ready
// while its store answers and not once it stops answering, whatever the
// service; Wire's Close runs after the servers stop.
func TestReadinessFollowsTheStore(t *testing.T) {
	var st sqliteStore
	addrs := make(chan net.Addr, 1)
	closed := make(chan struct{})
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Spec{
			Name: "probe", Domain: "probe.vendorgate.dev",
			Config: Config{
				Addr: "127.0.0.1:0", AddrVar: "PROBE_ADDR",
				DatabaseURL: "file:" + filepath.Join(t.TempDir(), "probe.db"), DatabaseVar: "PROBE_DATABASE_URL",
				DatabaseTimeout: time.Second, RequestIDTTL: time.Hour, ReconcileInterval: time.Hour,
				ShutdownTimeout: 5 * time.Second, Access: access.Config{Auth: auth.Config{Mode: auth.ModeNone, ReloadInterval: time.Minute}, UsageRetention: time.Hour},
			},
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
			MetricsAddr: "",
			OnListen:    func(a net.Addr) { addrs <- a },
			Open: func(ctx context.Context, url string, _ *slog.Logger) (Store, error) {
				db, err := sqlstore.Open(ctx, url)
				st = sqliteStore{db: db}
				return st, err
			},
			Wire: func(context.Context, *Deps) (*Wired, error) {
				return &Wired{
					Register: func(grpc.ServiceRegistrar) {},
					Close:    []func() error{func() error { close(closed); return nil }},
				}, nil
			},
		})
	}()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("not listening within 20s")
	}
	readyz := func() int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get("http://" + addr.String() + "/readyz")
			if err == nil {
				_ = resp.Body.Close()
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET /readyz: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("with the store up: /readyz %d, want 200", code)
	}
	_ = st.db.Close()
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("with the store closed: /readyz %d, want 503", code)
	}
	stop()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s")
	}
	select {
	case <-closed:
	default:
		t.Error("Wire's Close did not run")
	}
}

// TestRunFilesAreShort: each service's run.go supplies only its
// configuration and hands the rest to this package and its wire.go: it
// fits on one screen.
func TestRunFilesAreShort(t *testing.T) {
	files, err := filepath.Glob("../../services/*/run.go")
	if err != nil || len(files) != 4 {
		t.Fatalf("found %v (%v), want the four services' run.go", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n > 60 {
			t.Errorf("%s has %d lines, want at most 60", f, n)
		}
	}
}
