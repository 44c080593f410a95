// Command startbench times a service binary from process start to its
// first /readyz 200, N starts in a row against one store: the first start
// on an empty store applies its migrations, the later ones are restarts.
// It polls /readyz from this process every millisecond (a curl per poll
// costs up to tens of milliseconds on a slow VM, which the figures would
// include). With -idle D it also reports the process's resident memory
// (VmRSS, and its RssAnon and RssFile parts, from /proc/<pid>/status) D
// after it was ready; with -probe P as well, it asks /readyz every P in
// the meantime, as an orchestrator's readiness probe does. scripts/startbench runs it; see there for its
// arguments.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "startbench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("startbench", flag.ContinueOnError)
	idle := flags.Duration("idle", 0, "report the resident memory this long after ready (0: not)")
	probe := flags.Duration("probe", 0, "with -idle, ask /readyz this often until then (0: not)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	args = flags.Args()
	if len(args) < 3 || len(args) > 4 {
		return fmt.Errorf("usage: startbench [-idle D [-probe P]] BIN SERVICE DATABASE_URL [N]")
	}
	bin, service, db := args[0], args[1], args[2]
	n := 5
	if len(args) == 4 {
		var err error
		if n, err = strconv.Atoi(args[3]); err != nil || n < 1 {
			return fmt.Errorf("N must be a positive number, got %q", args[3])
		}
	}
	for range n {
		d, memory, err := start(bin, strings.ToUpper(service), db, *idle, *probe)
		if err != nil {
			return err
		}
		fmt.Printf("%.1f ms%s\n", float64(d.Microseconds())/1000, memory)
	}
	return nil
}

// start runs bin once and returns how long it took to answer /readyz with
// 200, and its resident memory idle after that when idle is not 0 (asking
// /readyz every probe meanwhile, when probe is not 0), then stops it.
func start(bin, svc, db string, idle, probe time.Duration) (time.Duration, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, "", err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), svc+"_DATABASE_URL="+db, svc+"_ADDR="+addr,
		"AUTH_MODE=none", "LOG_LEVEL="+cmp.Or(os.Getenv("LOG_LEVEL"), "warn"), "METRICS_ADDR=off")
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	ready, err := waitReady(addr, began, exited, bin)
	if err != nil || idle == 0 {
		return ready, "", err
	}
	end := time.Now().Add(idle)
	for probe > 0 && time.Until(end) > probe {
		time.Sleep(probe)
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	time.Sleep(time.Until(end))
	memory, err := resident(cmd.Process.Pid)
	if probe > 0 {
		memory = "probed every " + probe.String() + ": " + memory
	}
	return ready, fmt.Sprintf(", %s later: %s", idle, memory), err
}

// waitReady polls addr's /readyz until it answers 200 and returns the time
// since began.
func waitReady(addr string, began time.Time, exited chan error, bin string) (time.Duration, error) {
	client := &http.Client{Timeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		select {
		case err := <-exited:
			exited <- err
			return 0, fmt.Errorf("%s exited before it was ready (%v); run it by hand to see why", bin, err)
		case <-ctx.Done():
			return 0, fmt.Errorf("%s was not ready within 30s", bin)
		default:
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(began), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// resident is pid's VmRSS, RssAnon and RssFile.
func resident(pid int) (string, error) {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "", err
	}
	var parts []string
	for line := range strings.Lines(string(status)) {
		key, value, _ := strings.Cut(line, ":")
		switch key {
		case "VmRSS", "RssAnon", "RssFile":
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
			if err != nil {
				return "", fmt.Errorf("%s: %w", key, err)
			}
			parts = append(parts, fmt.Sprintf("%s %.1f MiB", key, kb/1024))
		}
	}
	if len(parts) != 3 {
		return "", fmt.Errorf("/proc/%d/status: %d of VmRSS, RssAnon, RssFile", pid, len(parts))
	}
	return strings.Join(parts, ", "), nil
}

// freeAddr is a loopback address no one listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
