package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/proctest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
)

// The shape of BenchmarkManyWatchers.
const (
	// watchBenchEnv sets the number of watchers (default 10000).
	watchBenchEnv = "DELIVERY_BENCH_WATCHERS"
	// watchBenchProfileEnv names a directory to write, per sub-benchmark,
	// a heap profile with every watch open and a CPU profile of the push.
	watchBenchProfileEnv = "DELIVERY_BENCH_PROFILE_DIR"
	defaultWatchers      = 10000
	watchBenchOrders     = 5    // the watchers are spread over this many orders
	streamsPerConn       = 2000 // watchers per gRPC connection
	watchBenchMaxConns   = 2500 // GRPC_MAX_CONCURRENT_STREAMS for the bench
	openConcurrency      = 200  // watches being opened at once
	// watchBenchTimeout bounds each sub-benchmark.
	watchBenchTimeout = 25 * time.Second
)

// BenchmarkManyWatchers holds many concurrent WatchOrder streams over gRPC
// on one replica, spread over watchBenchOrders orders and a few
// connections, then cancels every order at once and measures how long each
// watcher waits for its order's change, from the moment the cancels are
// sent. Issue 19's budget: 10,000 watchers, RSS ≤ 300 MB, one vendor read
// per order however many watch it, every watcher reached within 1s at p99.
// The service is run() in a child process (proctest, as the replica tests
// run it), so that its memory is its own and not the clients'; the
// Dingdang simulator runs in this one, where its calls are counted.
//
//   - push: the vendor pushes to the callback listener, which reads the
//     order back and tells the watchers;
//   - poll: no callback URL; one poller per order reads it every 500ms.
//
// Metrics: watchers; first-ms, p50-ms, p99-ms and max-ms from the cancels
// to each watcher's event (first-ms is mostly the push's own path: cancel,
// callback, read-back, record); rss-growth-MB, the service's peak RSS
// (VmHWM) over its RSS before the watches were opened; reads/order, the
// simulator's orderRecord calls per order from the first watch to the last
// event (push: the watches' first read and the pushed change's read-back;
// poll: add one per poll interval, the log line gives the run's length);
// open-s, the time to open every watch. Run with
//
//	go test -run XXX -bench BenchmarkManyWatchers -benchtime 1x ./services/delivery/
//
// with DELIVERY_BENCH_WATCHERS=n for another number of watchers, and
// DELIVERY_BENCH_PROFILE_DIR=dir to run the service in this process and
// write a heap profile (every watch open) and a CPU profile (the push) of
// service and clients together.
func BenchmarkManyWatchers(b *testing.B) {
	n := defaultWatchers
	if v := os.Getenv(watchBenchEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < watchBenchOrders {
			b.Fatalf("%s=%q: want a number of watchers ≥ %d", watchBenchEnv, v, watchBenchOrders)
		}
	}
	b.Run("push", func(b *testing.B) {
		addr := proctest.FreePort(b)
		watchBench(b, n, "DELIVERY_CALLBACK_ADDR="+addr, "DELIVERY_CALLBACK_PUBLIC_URL=http://"+addr)
	})
	b.Run("poll", func(b *testing.B) {
		watchBench(b, n, "DELIVERY_WATCH_POLL_INTERVAL=500ms")
	})
}

// watchBench runs one round of BenchmarkManyWatchers with n watchers on a
// service started with env.
func watchBench(b *testing.B, n int, env ...string) {
	for range b.N {
		b.StopTimer()
		watchRound(b, n, env...)
	}
}

func watchRound(b *testing.B, n int, env ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), watchBenchTimeout)
	defer cancel()
	sim := dingdangsim.New(dingdangsim.Options{Keys: map[string]string{testSecretID: testSecretKey}, StatusStep: time.Hour})
	go sim.Run(ctx)
	vendor := httptest.NewServer(sim.Handler())
	defer vendor.Close()
	env = append([]string{"LOG_LEVEL=info", "GRPC_MAX_CONCURRENT_STREAMS=" + strconv.Itoa(watchBenchMaxConns)}, env...)
	// The service runs alone in a child process, so that its memory is
	// its own and not the clients'; in this one with DELIVERY_BENCH_PROFILE_DIR.
	var (
		addr   string
		memory func(field string) float64
	)
	profile := os.Getenv(watchBenchProfileEnv)
	if profile == "" {
		p := proctest.Start(b, childEnv(sqlstoretest.SQLiteURL(b), vendor.URL, env...), proctest.Options{})
		addr = p.Addr
		status := "/proc/" + strconv.Itoa(childPID(b)) + "/status"
		memory = func(field string) float64 { return procStatusMB(b, status, field) }
	} else {
		h := startSim(b, &logtest.Buffer{}, sim, vendor.URL, append([]string{"DINGDANG_STATUS_MAP=" + dingdangsim.StatusMap}, env...)...)
		addr = strings.TrimPrefix(h.rest, "http://")
		memory = func(field string) float64 { return procStatusMB(b, "/proc/self/status", field) }
	}
	clients := make([]deliveryv1.DeliveryServiceClient, (n+streamsPerConn-1)/streamsPerConn)
	for i := range clients {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		clients[i] = deliveryv1.NewDeliveryServiceClient(conn)
	}
	ids := make([]string, watchBenchOrders)
	for i := range ids {
		ids[i] = fmt.Sprintf("WATCH-%d", i)
		if _, err := clients[0].CreateOrder(ctx, validOrder(ids[i])); err != nil {
			b.Fatal(err)
		}
	}
	if profile != "" {
		// Start from what this process holds now: the previous round's
		// memory back to the OS, and the peak (VmHWM) reset to the
		// current RSS.
		debug.FreeOSMemory()
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Logf("cannot reset the peak RSS (%v): VmHWM is the process's", err)
		}
	}
	rss0 := memory("VmRSS")
	reads0 := sim.Calls(dingdangsim.PathOrderRecord)
	began := time.Now()

	// Each watcher reads its order's first state, then waits for the
	// cancel and records when it came.
	var (
		opened, done sync.WaitGroup
		failures     atomic.Int64
		firstErr     atomic.Value
		sent         atomic.Int64 // UnixNano of the cancels; 0 before
		waits        = make([]time.Duration, n)
	)
	fail := func(err error) {
		if failures.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	sem := make(chan struct{}, openConcurrency)
	opened.Add(n)
	done.Add(n)
	openStart := time.Now()
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer done.Done()
			ready := sync.OnceFunc(func() { <-sem; opened.Done() })
			defer ready()
			waits[i] = -1
			stream, err := clients[i%len(clients)].WatchOrder(ctx, &deliveryv1.WatchOrderRequest{OriginId: ids[i%len(ids)]})
			if err != nil {
				fail(err)
				return
			}
			if _, err := stream.Recv(); err != nil {
				fail(fmt.Errorf("first event: %w", err))
				return
			}
			ready()
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return
				}
				if err != nil {
					fail(err)
					return
				}
				if resp.GetEvent().GetStatus() == deliveryv1.OrderStatus_ORDER_STATUS_CANCELLED {
					waits[i] = time.Since(time.Unix(0, sent.Load()))
				}
			}
		}()
	}
	opened.Wait()
	openTime := time.Since(openStart)
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d watches failed to open, the first: %v", f, n, firstErr.Load())
	}
	rssOpen := memory("VmRSS")
	if profile != "" {
		b.Logf("in this process with the clients: %s", goMemory())
		writeHeapProfile(b, filepath.Join(profile, b.Name()+".heap"))
		stopCPU := startCPUProfile(b, filepath.Join(profile, b.Name()+".cpu"))
		defer stopCPU()
	}

	b.StartTimer()
	sent.Store(time.Now().UnixNano())
	var cancels sync.WaitGroup
	for _, id := range ids {
		cancels.Go(func() {
			if _, err := clients[0].CancelOrder(ctx, &deliveryv1.CancelOrderRequest{OriginId: id, ReasonId: 10000, Reason: "压测"}); err != nil {
				fail(fmt.Errorf("cancel %s: %w", id, err))
			}
		})
	}
	cancels.Wait()
	done.Wait()
	b.StopTimer()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d watchers failed, the first: %v", f, n, firstErr.Load())
	}
	reads := sim.Calls(dingdangsim.PathOrderRecord) - reads0
	peak := memory("VmHWM")

	slices.Sort(waits)
	if missed := slices.IndexFunc(waits, func(d time.Duration) bool { return d >= 0 }); missed != 0 {
		b.Fatalf("%d of %d watchers never saw their order cancelled", max(missed, len(waits)), n)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(n), "watchers")
	b.ReportMetric(ms(waits[0]), "first-ms")
	b.ReportMetric(ms(waits[n/2]), "p50-ms")
	b.ReportMetric(ms(waits[n*99/100]), "p99-ms")
	b.ReportMetric(ms(waits[n-1]), "max-ms")
	b.ReportMetric(peak-rss0, "rss-growth-MB")
	b.ReportMetric(float64(reads)/float64(len(ids)), "reads/order")
	b.ReportMetric(openTime.Seconds(), "open-s")
	b.Logf("%d watchers on %d orders over %d connections: opened in %s; service RSS %.0f MB before, %.0f MB with the watches open, peak %.0f MB; %d orderRecord calls in %s",
		n, len(ids), len(clients), openTime.Round(time.Millisecond), rss0, rssOpen, peak, reads, time.Since(began).Round(time.Millisecond))
}

// procStatusMB reads a memory line of a /proc/<pid>/status file (e.g.
// VmRSS), in MB.
func procStatusMB(b *testing.B, path, field string) float64 {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatalf("%s: %q", field, v)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no %s in %s", field, path)
	return 0
}

func writeHeapProfile(b *testing.B, path string) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

func startCPUProfile(b *testing.B, path string) (stop func()) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }
}

// goMemory describes the Go runtime's memory: live heap objects, goroutine
// stacks, everything mapped, and the goroutines.
func goMemory() string {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	metrics.Read(samples)
	mb := func(i int) float64 { return float64(samples[i].Value.Uint64()) / (1 << 20) }
	return fmt.Sprintf("Go heap objects %.0f MB, stacks %.0f MB, all %.0f MB, %d goroutines",
		mb(0), mb(1), mb(2), samples[3].Value.Uint64())
}

// childPID finds the service proctest started: this process's child
// running this same binary.
func childPID(b *testing.B) int {
	b.Helper()
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		b.Fatal(err)
	}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	found := 0
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, not ")".
		i := strings.LastIndexByte(string(stat), ')')
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		if exe, err := os.Readlink("/proc/" + d.Name() + "/exe"); err == nil && exe == self && pid > found {
			found = pid
		}
	}
	if found == 0 {
		b.Fatal("the child service's process was not found")
	}
	return found
}
