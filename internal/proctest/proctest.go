// Package proctest runs a service as a separate operating-system process in
// a test, so that tests can kill it mid-call, restart it, or run two
// replicas side by side. The child is the test binary itself, re-executed:
// TestMain hands control to the service's run function when the child's
// environment asks for it, so no separate build is needed and the test's
// crashpoint hooks (never compiled into a service binary) are available.
package proctest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/crashpoint/crashpointtest"
)

// The variables that turn the test binary into a child service.
const (
	envChild    = "VENDORGATE_PROCTEST_CHILD"
	envCrashAt  = "VENDORGATE_PROCTEST_CRASH_AT"
	envAddrFile = "VENDORGATE_PROCTEST_ADDR_FILE"
)

// CrashExitCode is the exit status of a child killed at its crashpoint.
const CrashExitCode = crashpointtest.ExitCode

// RunFunc is a service's run function: it serves until ctx ends, and tells
// onListen the address it listens on.
type RunFunc func(ctx context.Context, environ []string, logw io.Writer, onListen func(net.Addr)) error

// Main is the TestMain of a package whose tests start children: in a child
// it runs the service instead of the tests.
func Main(m *testing.M, run RunFunc) {
	if os.Getenv(envChild) == "1" {
		os.Exit(child(run))
	}
	os.Exit(m.Run())
}

func child(run RunFunc) int {
	if at := os.Getenv(envCrashAt); at != "" {
		crashpointtest.ExitAt(at)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	addrFile := os.Getenv(envAddrFile)
	err := run(ctx, os.Environ(), os.Stderr, func(a net.Addr) {
		// Written whole, then renamed: the parent never reads half of it.
		tmp := addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(a.String()), 0o600); err == nil {
			_ = os.Rename(tmp, addrFile)
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "proctest child:", err)
		return 1
	}
	return 0
}

// Options configure a child.
type Options struct {
	// CrashAt names the crashpoint at which the child exits with
	// CrashExitCode; "" for none.
	CrashAt string
	// StartTimeout bounds the wait for the child to listen; 0 means 90 s.
	StartTimeout time.Duration
}

// Proc is a running child service.
type Proc struct {
	// Addr is the address the child serves gRPC and REST on.
	Addr string

	t    testing.TB
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
	err  error
}

// Start runs the service in a child process with env added to this
// process's environment (later entries win), waits until it listens, and
// stops it when the test ends. Its log is printed if the test fails.
func Start(t testing.TB, env []string, opts Options) *Proc {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), envChild+"=1", envAddrFile+"="+addrFile, envCrashAt+"="+opts.CrashAt)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child service: %v", err)
	}
	p := &Proc{t: t, cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("child %d log:\n%s", cmd.Process.Pid, logs.String())
		}
	})
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			p.Addr = strings.TrimSpace(string(b))
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("child service exited before listening (%v); log:\n%s", p.err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("child service not listening after %s; log:\n%s", timeout, logs.String())
		}
	}
}

// Wait waits for the child to exit, at most timeout, and returns its exit
// code (-1 when it did not exit).
func (p *Proc) Wait(timeout time.Duration) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		return -1
	}
}

// Exited reports whether the child has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop asks the child to shut down gracefully and waits for it, killing it
// after 15 s.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if p.Wait(15*time.Second) == -1 {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill kills the child at once (SIGKILL) and waits for it.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Logs returns what the child has logged so far.
func (p *Proc) Logs() string { return p.logs.String() }

// Pid is the child's process id, e.g. to read its /proc/<pid>/status.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// FreePort returns a loopback address with a port free at the time of the
// call, for a child's extra listener.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// lockedBuffer is a bytes.Buffer safe for the child's two writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
