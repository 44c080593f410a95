package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
)

// contractBytes is the benchmark's contract size: the default upload limit.
const contractBytes = 20 << 20

// zeros reads zero bytes forever.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// bigPDF is a contract of contractBytes that starts as a PDF, generated
// as it is read, so the client holds none of it.
func bigPDF() io.Reader {
	head := "%PDF-1.4\n"
	return io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, contractBytes-int64(len(head))))
}

// heapPeak samples the heap in use until stop is closed and returns its
// peak above the level when it started.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				if peak < base {
					peak = base
				}
				out <- peak - base
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}()
	return out
}

// BenchmarkContract20MiB streams a 20 MiB contract up through
// UploadContract and down through DownloadContract, over gRPC and over
// REST (multipart up, raw bytes down), and reports the peak growth of the
// process's heap in use (service, simulator and client together) as
// heap-MiB. The service spools the upload to a file, and the simulator
// keeps files on disk.
//
// Garbage counts in the heap in use until a collection: with the default
// GOGC the peak grows with the live heap of everything in the process, not
// with the file. The benchmark collects more eagerly (GOGC=10) so that the
// figure is the memory the transfer holds.
func BenchmarkContract20MiB(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	addr := startService(b)
	c := dial(b, addr)
	var n atomic.Int64
	id := func() string { return fmt.Sprintf("B%d", n.Add(1)) }

	b.Run("grpc", func(b *testing.B) {
		b.SetBytes(2 * contractBytes)
		var worst uint64
		// The first round warms connections, caches and pools up.
		for i := -1; i == -1 || b.Loop(); i++ {
			stop := make(chan struct{})
			peak := heapPeak(stop)
			roundTripGRPC(b, c, id(), 64<<10)
			close(stop)
			if p := <-peak; i >= 0 {
				worst = max(worst, p)
			}
		}
		b.ReportMetric(float64(worst)/(1<<20), "heap-MiB")
	})

	b.Run("rest", func(b *testing.B) {
		b.SetBytes(2 * contractBytes)
		var worst uint64
		for i := -1; i == -1 || b.Loop(); i++ {
			stop := make(chan struct{})
			peak := heapPeak(stop)
			roundTripREST(b, addr, id())
			close(stop)
			if p := <-peak; i >= 0 {
				worst = max(worst, p)
			}
		}
		b.ReportMetric(float64(worst)/(1<<20), "heap-MiB")
	})
}

// roundTripGRPC uploads bigPDF as contract cid through UploadContract in
// chunks of chunk bytes, downloads it through DownloadContract and fails
// unless every byte came back.
func roundTripGRPC(b *testing.B, c esignv1.EsignServiceClient, cid string, chunk int) {
	b.Helper()
	ctx := context.Background()
	s, err := c.UploadContract(ctx)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, chunk)
	r := bigPDF()
	for first := true; ; first = false {
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			m := &esignv1.UploadContractRequest{File: buf[:k]}
			if first {
				m.ContractId, m.DocTitle = cid, "bench"
			}
			if s.Send(m) != nil {
				break // the status comes from CloseAndRecv
			}
		}
		if rerr != nil {
			break
		}
	}
	if _, err := s.CloseAndRecv(); err != nil {
		b.Fatal(err)
	}
	d, err := c.DownloadContract(ctx, &esignv1.DownloadContractRequest{ContractId: cid})
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	for {
		m, err := d.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		got += len(m.GetData())
	}
	if got != contractBytes {
		b.Fatalf("downloaded %d bytes, want %d", got, contractBytes)
	}
}
