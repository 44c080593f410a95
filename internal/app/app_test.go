package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

// sqliteStore is a Store on a SQLite file.
type sqliteStore struct{ db *sqlstore.DB }

func (s sqliteStore) DB() *sqlstore.DB { return s.db }
func (s sqliteStore) Close() error     { return s.db.Close() }

// probe is a service run by the bootstrap with no methods of its own.
type probe struct {
	addr   net.Addr
	st     *sqliteStore
	stop   context.CancelFunc
	done   chan error    // Run's return value
	closed chan struct{} // closed by Wire's Close
}

// startProbe runs a probe service on a SQLite file, logging to log, and
// returns once it listens.
func startProbe(t *testing.T, log *slog.Logger) *probe {
	t.Helper()
	p := &probe{st: &sqliteStore{}, done: make(chan error, 1), closed: make(chan struct{})}
	addrs := make(chan net.Addr, 1)
	ctx, stop := context.WithCancel(t.Context())
	p.stop = stop
	go func() {
		p.done <- Run(ctx, Spec{
			Name: "probe", Domain: "probe.vendorgate.dev",
			Config: Config{
				Addr: "127.0.0.1:0", AddrVar: "PROBE_ADDR",
				DatabaseURL: "file:" + filepath.Join(t.TempDir(), "probe.db"), DatabaseVar: "PROBE_DATABASE_URL",
				DatabaseTimeout: time.Second, RequestIDTTL: time.Hour, ReconcileInterval: time.Hour,
				ShutdownTimeout: 5 * time.Second, Access: access.Config{Auth: auth.Config{Mode: auth.ModeNone, ReloadInterval: time.Minute}, UsageRetention: time.Hour},
			},
			Logger:      log,
			MetricsAddr: "",
			OnListen:    func(a net.Addr) { addrs <- a },
			Open: func(ctx context.Context, url string, _ *slog.Logger) (Store, error) {
				db, err := sqlstore.Open(ctx, url)
				p.st.db = db
				return p.st, err
			},
			Wire: func(context.Context, *Deps) (*Wired, error) {
				return &Wired{
					Register: func(grpc.ServiceRegistrar) {},
					Close:    []func() error{func() error { close(p.closed); return nil }},
				}, nil
			},
		})
	}()
	select {
	case p.addr = <-addrs:
	case err := <-p.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("not listening within 20s")
	}
	t.Cleanup(func() {
		stop()
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return within 20s")
		}
	})
	return p
}

// TestReadinessFollowsTheStore: a service run by the bootstrap is ready
// while its store answers and not once it stops answering, whatever the
// service; Wire's Close runs after the servers stop.
func TestReadinessFollowsTheStore(t *testing.T) {
	p := startProbe(t, slog.New(slog.NewTextHandler(io.Discard, nil)))
	readyz := func() int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get("http://" + p.addr.String() + "/readyz")
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
	_ = p.st.db.Close()
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("with the store closed: /readyz %d, want 503", code)
	}
	p.stop()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s")
	}
	select {
	case <-p.closed:
	default:
		t.Error("Wire's Close did not run")
	}
}

// TestStartUpsPagesAreGivenBack: once the servers take calls, the
// bootstrap releases the binary's pages start-up touched, and says so.
func TestStartUpsPagesAreGivenBack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("internal/residency releases pages on Linux only")
	}
	logs := &logtest.Buffer{}
	startProbe(t, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	deadline := time.Now().Add(20 * time.Second)
	for {
		for line := range strings.Lines(logs.String()) {
			var entry struct {
				Msg   string `json:"msg"`
				Bytes int64  `json:"bytes"`
				Error string `json:"error"`
			}
			if json.Unmarshal([]byte(line), &entry) != nil {
				continue
			}
			switch {
			case entry.Msg == "released start-up's pages of the binary" && entry.Bytes > 0:
				return
			case strings.Contains(entry.Msg, "pages of the binary"):
				t.Fatalf("got %q (%d bytes, error %q), want the pages released", entry.Msg, entry.Bytes, entry.Error)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no release logged within 20s; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
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
