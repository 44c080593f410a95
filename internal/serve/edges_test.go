package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/vendorgate/vendorgate/internal/auth"
)

// freeAddr is a loopback address nobody listens on (a moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestMetricsPrivateByDefault: /metrics is 404 on the API port unless
// METRICS_ADDR names that port; it is served on the service's default
// metrics address, on METRICS_ADDR, nowhere with "off"; a default address
// another process holds is skipped with a warning, not a failure.
func TestMetricsPrivateByDefault(t *testing.T) {
	t.Parallel()
	metricsAt := func(t *testing.T, addr string) int {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("default address", func(t *testing.T) {
		t.Parallel()
		def := freeAddr(t)
		s := start(t, func(o *Options) { o.REST.MetricsAddr = ""; o.DefaultMetricsAddr = def })
		if code, _ := s.get(t, "/metrics"); code != http.StatusNotFound {
			t.Errorf("/metrics on the API port: got %d, want 404", code)
		}
		waitUntil(t, "metrics on the default address", func() bool { return metricsAt(t, def) == http.StatusOK })
	})
	t.Run("METRICS_ADDR over the default", func(t *testing.T) {
		t.Parallel()
		def, explicit := freeAddr(t), freeAddr(t)
		s := start(t, func(o *Options) { o.REST.MetricsAddr = explicit; o.DefaultMetricsAddr = def })
		if code, _ := s.get(t, "/metrics"); code != http.StatusNotFound {
			t.Errorf("/metrics on the API port: got %d, want 404", code)
		}
		waitUntil(t, "metrics on METRICS_ADDR", func() bool { return metricsAt(t, explicit) == http.StatusOK })
		if code := metricsAt(t, def); code != 0 {
			t.Errorf("default address with METRICS_ADDR set: got %d, want nothing listening", code)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		def := freeAddr(t)
		s := start(t, func(o *Options) { o.REST.MetricsAddr = "off"; o.DefaultMetricsAddr = def })
		if code, _ := s.get(t, "/metrics"); code != http.StatusNotFound {
			t.Errorf("/metrics on the API port: got %d, want 404", code)
		}
		if code := metricsAt(t, def); code != 0 {
			t.Errorf("default address with METRICS_ADDR=off: got %d, want nothing listening", code)
		}
	})
	t.Run("neither set", func(t *testing.T) {
		t.Parallel()
		s := start(t, func(o *Options) { o.REST.MetricsAddr = "" })
		if code, _ := s.get(t, "/metrics"); code != http.StatusNotFound {
			t.Errorf("/metrics on the API port: got %d, want 404", code)
		}
	})
	t.Run("default address taken", func(t *testing.T) {
		t.Parallel()
		held, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		s := start(t, func(o *Options) { o.REST.MetricsAddr = ""; o.DefaultMetricsAddr = held.Addr().String() })
		if code, _ := s.get(t, "/healthz"); code != http.StatusOK {
			t.Errorf("/healthz: got %d, want the service running", code)
		}
		if !strings.Contains(s.logs.String(), "metrics not served") {
			t.Error("got no warning for the taken default metrics address")
		}
	})
}

// TestRetryAfterOverREST: a REST 429 or 503 whose status carries a
// RetryInfo has Retry-After in whole seconds, rounded up, at least 1; one
// without RetryInfo has none.
func TestRetryAfterOverREST(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	for _, tc := range []struct {
		mode       string
		code       int
		retryAfter string
	}{
		{"store-down", http.StatusServiceUnavailable, "2"},
		{"busy", http.StatusTooManyRequests, "1"},
		{"exhausted", http.StatusTooManyRequests, ""},
		{"not-found", http.StatusNotFound, ""},
	} {
		resp, err := s.http.Post(s.base+"/v1/echo", "application/json", strings.NewReader(`{"text":"hi","mode":"`+tc.mode+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Retry-After") != tc.retryAfter {
			t.Errorf("%s: got %d Retry-After %q, want %d %q", tc.mode, resp.StatusCode, resp.Header.Get("Retry-After"), tc.code, tc.retryAfter)
		}
	}
}

// The blob service streams downloadBytes in chunks, as a service streams
// a contract (google.api.HttpBody) to its WrapREST download handler.
const (
	downloadBytes = 19 << 20
	blobChunk     = 32 << 10
	blobMethod    = "/test.v1.BlobService/Download"
)

// registerBlob registers the blob service on srv; started counts the
// downloads that began, sent the bytes sent.
func registerBlob(srv grpc.ServiceRegistrar, started *atomic.Int32, sent *atomic.Int64) {
	chunk := bytes.Repeat([]byte("0123456789abcdef"), blobChunk/16)
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "test.v1.BlobService",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "Download",
			ServerStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				var req wrapperspb.StringValue
				if err := stream.RecvMsg(&req); err != nil {
					return err
				}
				started.Add(1)
				for n := 0; n < downloadBytes; n += blobChunk {
					if err := stream.SendMsg(&wrapperspb.BytesValue{Value: chunk}); err != nil {
						return err
					}
					sent.Add(blobChunk)
				}
				return nil
			},
		}},
		Metadata: "test/v1/blob.proto",
	}, struct{}{})
}

// downloadHandler is a WrapREST handler like esign's raw downloads: it
// copies the service's stream, called through its own client, to the REST
// client, with nothing of its own to bound the copy.
func downloadHandler(self grpc.ClientConnInterface) func(http.Handler) http.Handler {
	return func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithCancel(OutgoingContext(r))
			defer cancel()
			cs, err := self.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, blobMethod)
			if err == nil {
				err = cs.SendMsg(&wrapperspb.StringValue{Value: "contract"})
			}
			if err == nil {
				err = cs.CloseSend()
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			for {
				var m wrapperspb.BytesValue
				if err := cs.RecvMsg(&m); err != nil {
					return
				}
				if _, err := w.Write(m.GetValue()); err != nil {
					return
				}
			}
		})
	}
}

// memory is the heap in use after a collection, and the process's RSS.
func memory(t *testing.T) (heap, rss uint64) {
	t.Helper()
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	status, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				var kb uint64
				_, _ = fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				rss = kb << 10
			}
		}
	}
	return ms.HeapInuse, rss
}

// TestStalledDownloadsAreCut: 100 clients open a 19 MB download and read
// nothing. The process's heap grows by far less than 128 MiB (each holds
// at most its gRPC window, a chunk and net/http's few KiB), every one is
// cut after REST_WRITE_IDLE_TIMEOUT and logged, and a normal download
// during them completes quickly.
//
// Not parallel: it measures the process's memory.
func TestStalledDownloadsAreCut(t *testing.T) {
	const stalled = 100
	const idle = 2 * time.Second
	var started atomic.Int32
	var sent atomic.Int64
	local := NewLocal()
	s := start(t, func(o *Options) {
		echo := o.RegisterGRPC
		o.RegisterGRPC = func(srv grpc.ServiceRegistrar) { echo(srv); registerBlob(srv, &started, &sent) }
		o.REST.WriteIdleTimeout = idle
		o.Local = local
		o.WrapREST = map[string]func(http.Handler) http.Handler{"GET /v1/blob": downloadHandler(local)}
	})
	addr := strings.TrimPrefix(s.base, "http://")

	download := func() (int64, time.Duration) {
		t.Helper()
		t0 := time.Now()
		resp, err := s.http.Get(s.base + "/v1/blob")
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("download: got %d, %d bytes, %v", resp.StatusCode, n, err)
		}
		return n, time.Since(t0)
	}
	n, warm := download()
	if n != downloadBytes {
		t.Fatalf("warm-up download: got %d bytes in %s, want %d", n, warm, downloadBytes)
	}
	heap0, rss0 := memory(t)
	goroutines0 := goruntime.NumGoroutine()

	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	before := started.Load()
	for range stalled {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
		clients = append(clients, c)
		if _, err := io.WriteString(c, "GET /v1/blob HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	opened := time.Now()
	waitUntil(t, "every stalled download started", func() bool { return started.Load()-before == stalled })
	// The stalled downloads send until every buffer on their way is full
	// (the socket's too), then stall.
	for prev := int64(-1); sent.Load() != prev; time.Sleep(100 * time.Millisecond) {
		prev = sent.Load()
	}
	blocked := time.Now()
	heap1, rss1 := memory(t)
	goroutines1 := goruntime.NumGoroutine()

	n, took := download()
	t.Logf("%d stalled downloads: heap in use %d MiB -> %d MiB (+%d MiB), RSS %d MiB -> %d MiB, goroutines %d -> %d; a normal download during them: %d bytes in %s (%s alone)",
		stalled, heap0>>20, heap1>>20, (int64(heap1)-int64(heap0))>>20, rss0>>20, rss1>>20, goroutines0, goroutines1, n, took, warm)
	if grown := int64(heap1) - int64(heap0); grown > 128<<20 {
		t.Errorf("heap in use grew by %d MiB with %d stalled downloads, want at most 128 MiB", grown>>20, stalled)
	}
	// Quickly: not waiting for the stalled ones to be cut (the race
	// detector slows every download alike).
	if n != downloadBytes || took > 3*warm+time.Second {
		t.Errorf("normal download during the stalled ones: got %d bytes in %s, want %d in about the %s it takes alone", n, took, downloadBytes, warm)
	}

	waitUntil(t, "every stalled download cut", func() bool {
		return strings.Count(s.logs.String(), "REST response cut") >= stalled
	})
	// The last cut, by its log line's time, after the downloads stalled.
	var lastCut time.Time
	for _, line := range s.logs.lines(t, "REST response cut: the client took nothing for REST_WRITE_IDLE_TIMEOUT") {
		if at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(line["time"])); err == nil && at.After(lastCut) {
			lastCut = at
		}
	}
	cutAfter := lastCut.Sub(blocked)
	// Each stalled client's connection is reset by the server: the kernel
	// drops what it still held for the client.
	for i, c := range clients {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.Copy(io.Discard, c)
		if err != nil && !isReset(err) {
			t.Errorf("stalled client %d: got %v after %d bytes, want the connection reset or closed", i, err, got)
		}
		if got >= downloadBytes {
			t.Errorf("stalled client %d: got the whole download", i)
		}
	}
	waitUntil(t, "the stalled downloads' goroutines gone", func() bool { return goruntime.NumGoroutine() <= goroutines0+10 })
	t.Logf("all cut %s after they stalled (timeout %s, %s after they were opened); goroutines back to %d", cutAfter, idle, lastCut.Sub(opened), goruntime.NumGoroutine())
	if cutAfter > idle+time.Second {
		t.Errorf("stalled downloads cut %s after they stalled, want about %s", cutAfter, idle)
	}
	if !strings.Contains(s.logs.String(), `"written_bytes"`) {
		t.Error("the cut's log line does not say how much was written")
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// h2 frame types and codes a raw HTTP/2 client needs.
const (
	h2Data          = 0x0
	h2Headers       = 0x1
	h2RSTStream     = 0x3
	h2Settings      = 0x4
	h2GoAway        = 0x7
	h2EndStream     = 0x1
	h2EndHeaders    = 0x4
	h2RefusedStream = 0x7
	h2Preface       = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

func writeH2Frame(w io.Writer, typ, flags byte, stream uint32, payload []byte) error {
	var h [9]byte
	h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	h[3], h[4] = typ, flags
	binary.BigEndian.PutUint32(h[5:], stream&0x7fffffff)
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// hpackLiterals encodes header fields as HPACK literals without indexing
// and without Huffman coding (every string shorter than 127 bytes).
func hpackLiterals(fields ...string) []byte {
	var b []byte
	for i := 0; i < len(fields); i += 2 {
		b = append(b, 0x00, byte(len(fields[i])))
		b = append(b, fields[i]...)
		b = append(b, byte(len(fields[i+1])))
		b = append(b, fields[i+1]...)
	}
	return b
}

// TestWatchFloodIsCapped: one connection opens 5000 health Watch streams
// without a key, ignoring the server's SETTINGS as a hostile client does.
// The server holds at most GRPC_MAX_CONCURRENT_STREAMS of them and refuses
// the rest (RST_STREAM REFUSED_STREAM), the process grows by less than
// 20 MB, and another client's unary call still works.
//
// Not parallel: it counts the process's goroutines and memory.
func TestWatchFloodIsCapped(t *testing.T) {
	const streams = 5000
	s := start(t, nil)
	// The other client's connection is up before the flood.
	if _, err := s.call(t.Context(), "hi", "ok"); err != nil {
		t.Fatal(err)
	}
	heap0, rss0 := memory(t)
	goroutines0 := goruntime.NumGoroutine()

	c, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var refused, answered, otherResets atomic.Int32
	var goAway atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		r := bufio.NewReader(c)
		var h [9]byte
		for {
			if _, err := io.ReadFull(r, h[:]); err != nil {
				return
			}
			payload := make([]byte, int(h[0])<<16|int(h[1])<<8|int(h[2]))
			if _, err := io.ReadFull(r, payload); err != nil {
				return
			}
			switch h[3] {
			case h2RSTStream:
				if binary.BigEndian.Uint32(payload) == h2RefusedStream {
					refused.Add(1)
				} else {
					otherResets.Add(1)
				}
			case h2Headers:
				answered.Add(1)
			case h2GoAway:
				goAway.Store(true)
			}
		}
	})
	headers := hpackLiterals(":method", "POST", ":scheme", "http", ":path", "/grpc.health.v1.Health/Watch",
		":authority", "test", "content-type", "application/grpc", "te", "trailers")
	w := bufio.NewWriterSize(c, 64<<10)
	_, _ = w.WriteString(h2Preface)
	_ = writeH2Frame(w, h2Settings, 0, 0, nil)
	for i := range streams {
		id := uint32(2*i + 1)
		_ = writeH2Frame(w, h2Headers, h2EndHeaders, id, headers)
		// An empty HealthCheckRequest: the overall health.
		if err := writeH2Frame(w, h2Data, h2EndStream, id, []byte{0, 0, 0, 0, 0}); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every stream answered or refused", func() bool {
		return refused.Load()+answered.Load()+otherResets.Load() >= streams || goAway.Load()
	})
	time.Sleep(200 * time.Millisecond)
	heap1, rss1 := memory(t)
	goroutines1 := goruntime.NumGoroutine()

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	t0 := time.Now()
	_, callErr := s.call(ctx, "hi", "ok")
	took := time.Since(t0)
	t.Logf("%d Watch streams on one connection: %d open, %d refused, %d other resets, GOAWAY %t; goroutines %d -> %d; heap in use %d KiB -> %d KiB (%+d KiB), RSS %d MiB -> %d MiB; another client's call took %s",
		streams, answered.Load(), refused.Load(), otherResets.Load(), goAway.Load(), goroutines0, goroutines1,
		heap0>>10, heap1>>10, (int64(heap1)-int64(heap0))>>10, rss0>>20, rss1>>20, took)
	if callErr != nil {
		t.Errorf("another client's call during the flood: %v", callErr)
	}
	if got := answered.Load(); got > DefaultGRPCMaxConcurrentStreams {
		t.Errorf("Watch streams served on one connection: got %d, want at most %d", got, DefaultGRPCMaxConcurrentStreams)
	}
	if got := refused.Load(); got < streams-DefaultGRPCMaxConcurrentStreams {
		t.Errorf("refused streams: got %d, want %d (REFUSED_STREAM, not queued)", got, streams-DefaultGRPCMaxConcurrentStreams)
	}
	if grown := goroutines1 - goroutines0; grown > DefaultGRPCMaxConcurrentStreams+20 {
		t.Errorf("server goroutines grew by %d, want at most the cap (%d) and a few for the connection", grown, DefaultGRPCMaxConcurrentStreams)
	}
	if grown := int64(heap1) - int64(heap0); grown > 20<<20 {
		t.Errorf("heap in use grew by %d KiB, want at most 20 MB", grown>>10)
	}
	_ = c.Close()
	wg.Wait()
	waitUntil(t, "the flood's goroutines gone", func() bool { return goruntime.NumGoroutine() <= goroutines0+5 })
}

// waitUntil polls cond until it holds, failing after 15 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBadKeyFloodOverREST: 1000 REST calls with a wrong key from one
// address log a handful of refusals, are throttled to 429 with
// Retry-After after a burst of 401s, and cost nothing for a caller with a
// good key, over REST or gRPC.
func TestBadKeyFloodOverREST(t *testing.T) {
	t.Parallel()
	keys := t.TempDir() + "/keys.yaml"
	body := "callers:\n  - name: echoer\n    keys: [\"" + auth.HashKey("good") + "\"]\n    allow: [\"test.v1.EchoService/*\"]\n"
	if err := os.WriteFile(keys, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	guardLogs := &logBuffer{}
	g, err := auth.New(context.Background(), auth.Options{Service: "echo", Config: auth.Config{Mode: auth.ModeAPIKey, KeysFile: keys, ReloadInterval: time.Hour},
		Logger: slog.New(slog.NewJSONHandler(guardLogs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, func(o *Options) { o.Guard = g })
	post := func(key string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, s.base+"/v1/echo", strings.NewReader(`{"text":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	began := time.Now()
	codes := map[int]int{}
	var retryAfter string
	for range 1000 {
		code, ra := post("wrong")
		codes[code]++
		if code == http.StatusTooManyRequests {
			retryAfter = ra
		}
	}
	flood := time.Since(began)
	lines := strings.Count(guardLogs.String(), "call refused")
	t0 := time.Now()
	goodCode, _ := post("good")
	goodREST := time.Since(t0)
	t0 = time.Now()
	_, grpcErr := s.call(withBearer("good"), "hi", "ok")
	goodGRPC := time.Since(t0)
	t.Logf("1000 wrong keys over REST in %s: %v, Retry-After %q, %d log lines; then a good key: REST %d in %s, gRPC %v in %s",
		flood, codes, retryAfter, lines, goodCode, goodREST, grpcErr, goodGRPC)
	if most := int(flood/time.Second) + 2; lines > most {
		t.Errorf("refusal log lines: got %d, want at most one a second (%d)", lines, most)
	}
	// The budget is a burst of 20 and 5 a second: a slow (loaded, -race)
	// run earns more 401s, never many.
	if most := 40 + int(5*flood.Seconds()); codes[http.StatusUnauthorized] > most || codes[http.StatusTooManyRequests] < 1000-most || retryAfter == "" {
		t.Errorf("got %v with Retry-After %q, want a burst of 401s, then 429s with Retry-After", codes, retryAfter)
	}
	if goodCode != http.StatusOK || grpcErr != nil {
		t.Errorf("a good key after the flood: REST %d, gRPC %v; want both served", goodCode, grpcErr)
	}
}

func TestRedactPath(t *testing.T) {
	t.Parallel()
	secrets := []string{"/v1/esign/links/"}
	for in, want := range map[string]string{
		"/v1/esign/links/abc.def":              "/v1/esign/links/…",
		"/v1/esign/links/abc.def/static/x.css": "/v1/esign/links/…/static/x.css",
		"/v1/esign/links/":                     "/v1/esign/links/",
		"/v1/delivery/orders/A1":               "/v1/delivery/orders/A1",
	} {
		if got := redactPath(in, secrets); got != want {
			t.Errorf("redactPath(%q): got %q, want %q", in, got, want)
		}
	}
}
