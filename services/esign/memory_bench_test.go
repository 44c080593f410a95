package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/proctest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
)

// procStatus reads a "Vm…:" line of /proc/self/status, in bytes.
func procStatus(b *testing.B, field string) int64 {
	b.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status (Linux only): %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("%s: %v", field, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// peaks measures one round trip: the growth of the process's peak RSS
// (VmHWM, reset through /proc/self/clear_refs) and of its heap objects
// (runtime/metrics, sampled every 2 ms) over what they were when it
// started. The garbage of earlier rounds is collected and given back to
// the OS first, so every round starts from the same floor and reuses no
// freed pages (the figure is the first transfer's, not a warm one's).
func peaks(b *testing.B, roundTrip func()) (rss, heap, allocs int64) {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset VmHWM: %v", err)
	}
	base := procStatus(b, "VmRSS")
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	heapBase, allocBase := int64(sample[0].Value.Uint64()), int64(sample[1].Value.Uint64())
	stop, done := make(chan struct{}), make(chan int64)
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		peak := heapBase
		for {
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
				metrics.Read(s)
				peak = max(peak, int64(s[0].Value.Uint64()))
			}
		}
	}()
	roundTrip()
	close(stop)
	heapPeak := <-done
	metrics.Read(sample)
	return procStatus(b, "VmHWM") - base, heapPeak - heapBase, int64(sample[1].Value.Uint64()) - allocBase
}

// childPeak measures one round trip against a service in another
// process: the growth of that process's peak RSS (VmHWM of
// /proc/<pid>/status, reset through its clear_refs) over its RSS when the
// round trip started. The client's memory, in this process, is not in it.
func childPeak(b *testing.B, pid int, roundTrip func()) int64 {
	b.Helper()
	dir := fmt.Sprintf("/proc/%d/", pid)
	if err := os.WriteFile(dir+"clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the child's VmHWM: %v", err)
	}
	status := func(field string) int64 {
		raw, err := os.ReadFile(dir + "status")
		if err != nil {
			b.Fatal(err)
		}
		for line := range strings.Lines(string(raw)) {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				return kb << 10
			}
		}
		b.Fatalf("no %s in %sstatus", field, dir)
		return 0
	}
	base := status("VmRSS")
	roundTrip()
	return status("VmHWM") - base
}

// BenchmarkContractRoundTripInChild is BenchmarkContractRoundTrip's gRPC
// and REST round trips against the service running alone in a child
// process (proctest), so that the peak RSS growth (service-rss-MiB) is the
// service's, without the benchmark's client. The child's heap is not
// reachable from here; the in-process benchmark reports it.
//
//	go test -run '^$' -bench ContractRoundTripInChild -benchtime 5x ./services/esign/
func BenchmarkContractRoundTripInChild(b *testing.B) {
	p := proctest.Start(b, []string{"SANDBOX=1", "ESIGN_ADDR=127.0.0.1:0", "METRICS_ADDR=off", "LOG_LEVEL=warn",
		"AUTH_MODE=none", "ESIGN_DATABASE_URL=" + sqlstoretest.SQLiteURL(b)}, proctest.Options{})
	var n atomic.Int64
	id := func() string { return fmt.Sprintf("C%d", n.Add(1)) }
	measure := func(b *testing.B, roundTrip func(cid string)) {
		b.SetBytes(2 * contractBytes)
		var cold, worst int64
		// The first round also warms connections, caches and pools up: its
		// growth is reported apart (cold-service-rss-MiB), the worst of the
		// others as service-rss-MiB.
		for i := -1; i == -1 || b.Loop(); i++ {
			cid := id()
			r := childPeak(b, p.Pid(), func() { roundTrip(cid) })
			if i < 0 {
				cold = r
			} else {
				worst = max(worst, r)
			}
		}
		b.ReportMetric(float64(cold)/(1<<20), "cold-service-rss-MiB")
		b.ReportMetric(float64(worst)/(1<<20), "service-rss-MiB")
	}
	b.Run("grpc", func(b *testing.B) {
		c := dial(b, p.Addr)
		measure(b, func(cid string) { roundTripGRPC(b, c, cid, grpcClientChunk) })
	})
	b.Run("rest", func(b *testing.B) {
		measure(b, func(cid string) { roundTripREST(b, p.Addr, cid) })
	})
}

// grpcClientChunk is the gRPC client's upload chunk: a message that fits
// grpc-go's 32 KiB buffer tier (its default pool jumps from 32 KiB to
// 1 MiB), so that the client in the benchmark's process holds no 1 MiB
// buffer per queued message. That memory is the client's, which a real
// client spends in its own process.
const grpcClientChunk = 32<<10 - 64

// BenchmarkContractRoundTrip uploads a 20 MiB contract and downloads it
// again, and reports how much the process's peak RSS (rss-MiB) and its
// heap objects (heap-MiB) grew during the round trip, the worst of the
// rounds:
//   - rest: the service as run() wires it in sandbox mode, multipart
//     POST /v1/esign/contracts then GET /v1/esign/contracts/{id}/content;
//   - grpc: the same over the gRPC stream RPCs;
//   - simulator: the in-process Fadada simulator alone, called by the
//     Fadada client (uploaddocs, downLoadContract) with nothing of the
//     service around it: what the simulator and the vendor leg hold.
//
// The service's own figure is rest (or grpc) minus simulator. The client
// generates the file as it sends it and discards what it receives, so it
// holds none of it; the simulator keeps its copy on disk.
//
// The default GOGC is kept: the figure is the one a deployed process
// shows. go test -run '^$' -bench ContractRoundTrip -benchtime 5x ./services/esign/
func BenchmarkContractRoundTrip(b *testing.B) {
	addr := startService(b)
	var n atomic.Int64
	id := func() string { return fmt.Sprintf("M%d", n.Add(1)) }
	measure := func(b *testing.B, roundTrip func(cid string)) {
		b.SetBytes(2 * contractBytes)
		var rss, heap, allocs int64
		// The first round warms connections, caches and pools up.
		for i := -1; i == -1 || b.Loop(); i++ {
			cid := id()
			r, h, a := peaks(b, func() { roundTrip(cid) })
			if i >= 0 {
				rss, heap, allocs = max(rss, r), max(heap, h), max(allocs, a)
			}
		}
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(allocs)/(1<<20), "alloc-MiB")
	}

	b.Run("rest", func(b *testing.B) {
		measure(b, func(cid string) { roundTripREST(b, addr, cid) })
	})

	b.Run("grpc", func(b *testing.B) {
		c := dial(b, addr)
		measure(b, func(cid string) {
			roundTripGRPC(b, c, cid, grpcClientChunk)
		})
	})

	b.Run("simulator", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sim, vendor, creds, err := startSimulator(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer sim.Close()
		hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: vendor.SecretID, SecretKey: vendor.SecretKey, Base: vendorcall.NewTransport()}}
		client, err := fadada.New(hc, vendor.BaseURL+fadadasim.Prefix, creds, fadada.Options{})
		if err != nil {
			b.Fatal(err)
		}
		measure(b, func(cid string) {
			err := client.UploadDocs(ctx, cid, "bench", contracts.Document{Name: cid + ".pdf", ContentType: "application/pdf", Content: bigPDF()})
			if err != nil {
				b.Fatal(err)
			}
			var got int64
			err = client.DownloadContract(ctx, cid, func(_ string, body io.Reader) error {
				got, err = io.Copy(io.Discard, body)
				return err
			})
			if err != nil || got != contractBytes {
				b.Fatalf("downloaded %d bytes, %v, want %d", got, err, contractBytes)
			}
		})
	})
}

// roundTripREST uploads bigPDF as contract cid with a multipart POST
// /v1/esign/contracts to the service at addr, downloads it with GET
// /v1/esign/contracts/{id}/content and fails unless every byte came back.
func roundTripREST(b *testing.B, addr, cid string) {
	b.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		_ = mw.WriteField("contract_id", cid)
		_ = mw.WriteField("doc_title", "bench")
		w, _ := mw.CreateFormFile("file", "big.pdf")
		_, err := io.Copy(w, bigPDF())
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	resp, err := http.Post("http://"+addr+"/v1/esign/contracts", mw.FormDataContentType(), pr)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("upload: got %d %s, want 200", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + addr + "/v1/esign/contracts/" + cid + "/content")
	if err != nil {
		b.Fatal(err)
	}
	got, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got != contractBytes {
		b.Fatalf("downloaded %d bytes, want %d", got, contractBytes)
	}
}
