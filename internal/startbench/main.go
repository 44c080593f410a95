// Command startbench times a service binary from process start to its
// first /readyz 200, N starts in a row against one store: the first start
// on an empty store applies its migrations, the later ones are restarts.
// It polls /readyz from this process every millisecond (a curl per poll
// costs up to tens of milliseconds on a slow VM, which the figures would
// include). scripts/startbench runs it; see there for its arguments.
package main

import (
	"context"
	"fmt"
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
	if len(args) < 3 || len(args) > 4 {
		return fmt.Errorf("usage: startbench BIN SERVICE DATABASE_URL [N]")
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
		d, err := start(bin, strings.ToUpper(service), db)
		if err != nil {
			return err
		}
		fmt.Printf("%.1f ms\n", float64(d.Microseconds())/1000)
	}
	return nil
}

// start runs bin once and returns how long it took to answer /readyz with
// 200, then stops it.
func start(bin, svc, db string) (time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), svc+"_DATABASE_URL="+db, svc+"_ADDR="+addr,
		"AUTH_MODE=none", "LOG_LEVEL=warn", "METRICS_ADDR=off")
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
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

// freeAddr is a loopback address no one listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
