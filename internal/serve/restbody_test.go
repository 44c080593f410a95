package serve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
)

// uploads is a WrapREST handler shaped like esign's multipart uploads
// (services/esign/internal/restfiles): it reads a multipart/form-data body
// itself, through a MaxBytesReader, answers a body it cannot read with its
// own 400 MALFORMED_BODY, and passes any other body on to the gateway. A
// request with X-Work-For works that long after the body before it answers,
// as an upload does while the service takes the file.
func uploads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		malformed := func(err error) {
			WriteError(w, rpcstatus.Refused(codes.InvalidArgument, testDomain, rpcstatus.ReasonMalformedBody,
				"malformed multipart body: "+err.Error(), nil))
		}
		mr, err := r.MultipartReader()
		if err != nil {
			malformed(err)
			return
		}
		var got int64
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				malformed(err)
				return
			}
			n, err := io.Copy(io.Discard, part)
			if err != nil {
				malformed(err)
				return
			}
			got += n
		}
		if d, err := time.ParseDuration(r.Header.Get("X-Work-For")); err == nil {
			time.Sleep(d)
		}
		if err := r.Context().Err(); err != nil {
			WriteError(w, rpcstatus.Refused(codes.Canceled, testDomain, "CANCELED", "the request was canceled after its body: "+err.Error(), nil))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"text":"uploaded %d bytes"}`, got)
	})
}

// multipartHead is the head of a multipart/form-data upload of length bytes.
func multipartHead(length int, extra string) string {
	return fmt.Sprintf("POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n%s\r\n", length, extra)
}

// multipartBody is a whole multipart/form-data body with one file part.
const multipartBody = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4 hello\r\n--b--\r\n"

// stalled is what a client that stalls its body gets.
type stalled struct {
	status int
	body   string
	// answered is when the answer had come, closed when the server's
	// close had.
	answered, closed time.Time
	// end is how the connection ended: io.EOF when the server closed it.
	end error
}

// stall sends request (a head and part of its body) over a raw connection,
// then nothing, reads the answer and waits for the server to close the
// connection, at most until deadline.
func stall(addr, request string, deadline time.Time) (stalled, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return stalled{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, request); err != nil {
		return stalled{}, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return stalled{}, fmt.Errorf("read answer: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return stalled{}, fmt.Errorf("read answer body: %w", err)
	}
	out := stalled{status: resp.StatusCode, body: string(body), answered: time.Now()}
	n, err := br.Read(make([]byte, 1))
	out.closed = time.Now()
	if n > 0 {
		err = fmt.Errorf("got %d more bytes after the answer", n)
	}
	out.end = err
	return out, nil
}

// settleGoroutines waits until no more than want goroutines run, failing
// with their stacks after a few seconds.
func settleGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for goruntime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("got %d goroutines, want at most %d:\n%s", goruntime.NumGoroutine(), want, buf[:goruntime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restCount is vendorgate_rest_requests_total for route and code, from
// s's /metrics.
func restCount(t *testing.T, s *server, route string, code int) int {
	t.Helper()
	_, body := s.get(t, "/metrics")
	want := fmt.Sprintf(`vendorgate_rest_requests_total{code="%d",route="%s"} `, code, route)
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), want); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

// stallCase is a body that stalls, and the answer it should get.
type stallCase struct {
	name    string
	s       *server
	request string // the head and the part of the body sent
	status  int
	reason  string
}

// check reports what is wrong with what one client got, having sent its
// request at sent.
func (c stallCase) check(t *testing.T, got stalled, sent time.Time, timeout time.Duration) error {
	if got.status != c.status {
		return fmt.Errorf("got HTTP %d, want %d (%s)", got.status, c.status, got.body)
	}
	if info := errorInfoOf(t, got.body); info.reason != c.reason {
		return fmt.Errorf("reason: got %s, want %s", info.reason, c.reason)
	}
	if !errors.Is(got.end, io.EOF) {
		return fmt.Errorf("after the answer, got %v, want the server to close the connection", got.end)
	}
	if d := got.closed.Sub(sent); d > timeout+time.Second {
		return fmt.Errorf("the connection closed %s after the request, want within %s", d.Round(time.Millisecond), timeout+time.Second)
	}
	if d := got.closed.Sub(got.answered); d > time.Second {
		return fmt.Errorf("the connection closed %s after the answer, want within 1s", d.Round(time.Millisecond))
	}
	return nil
}

// TestStalledBodyLetsTheConnectionGo is issue 21: clients that send part
// of a body and then nothing get their answer and then the end of their
// connection within a second, however the REST face refuses the body,
// whether it reads it itself or a WrapREST handler reads it as a multipart
// upload; and once they have gone, they leave no goroutine behind. It is
// not parallel: it counts goroutines.
func TestStalledBodyLetsTheConnectionGo(t *testing.T) {
	const (
		timeout = 300 * time.Millisecond
		clients = 50
		limit   = 1 << 10
	)
	plain := start(t, func(o *Options) {
		o.REST.BodyReadTimeout = timeout
		o.REST.MaxBodyBytes = limit
	})
	wrapped := start(t, func(o *Options) {
		o.REST.BodyReadTimeout = timeout
		o.REST.MaxBodyBytes = limit
		o.WrapREST = map[string]func(http.Handler) http.Handler{"POST /v1/echo": uploads}
	})
	jsonHead := func(length int, contentType string) string {
		return fmt.Sprintf("POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", contentType, length)
	}
	tests := []stallCase{
		{name: "JSON", s: plain, request: jsonHead(100, "application/json") + `{"text":"hal`,
			status: http.StatusRequestTimeout, reason: rpcstatus.ReasonRequestTimeout},
		{name: "JSON through a WrapREST handler", s: wrapped, request: jsonHead(100, "application/json") + `{"text":"hal`,
			status: http.StatusRequestTimeout, reason: rpcstatus.ReasonRequestTimeout},
		{name: "multipart upload", s: wrapped, request: multipartHead(len(multipartBody), "") + multipartBody[:40],
			status: http.StatusRequestTimeout, reason: rpcstatus.ReasonRequestTimeout},
		{name: "declared over the body limit", s: plain, request: jsonHead(2*limit, "application/json") + `{"text":"hal`,
			status: http.StatusRequestEntityTooLarge, reason: rpcstatus.ReasonRequestTooLarge},
		{name: "chunked over the body limit", s: plain,
			request: "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x\r\n", 2*limit) + `{"text":"` + strings.Repeat("a", 2*limit-9),
			status: http.StatusRequestEntityTooLarge, reason: rpcstatus.ReasonRequestTooLarge},
		{name: "unsupported content type", s: plain, request: jsonHead(100, "text/xml") + `<text>half`,
			status: http.StatusUnsupportedMediaType, reason: rpcstatus.ReasonUnsupportedMediaType},
	}

	// Warm both servers up (the gateway's own gRPC connection), so that
	// what stays running from here on is the servers' own.
	for _, s := range []*server{plain, wrapped} {
		if code, body := s.post(t, "/v1/echo", `{"text":"warm"}`); code != http.StatusOK {
			t.Fatalf("warm-up: got HTTP %d, want 200 (%s)", code, body)
		}
		s.http.Transport.(*http.Transport).CloseIdleConnections()
	}
	time.Sleep(100 * time.Millisecond)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := goruntime.NumGoroutine()
			// The echo service's proto has no HTTP rule, so the route table
			// does not know its one route; a WrapREST route is named by
			// its pattern.
			route := "unmatched"
			if tt.s == wrapped {
				route = "POST /v1/echo"
			}
			count := restCount(t, tt.s, route, tt.status)
			logs := len(tt.s.logs.lines(t, "finished REST request"))
			tt.s.http.Transport.(*http.Transport).CloseIdleConnections()

			addr := strings.TrimPrefix(tt.s.base, "http://")
			results := make([]stalled, clients)
			errs := make([]error, clients)
			sent := time.Now()
			var wg sync.WaitGroup
			for i := range clients {
				wg.Go(func() {
					results[i], errs[i] = stall(addr, tt.request, sent.Add(timeout+5*time.Second))
				})
			}
			wg.Wait()
			var failed []string
			var slowest time.Duration
			for i, got := range results {
				slowest = max(slowest, got.closed.Sub(got.answered))
				if err := errs[i]; err != nil {
					failed = append(failed, fmt.Sprintf("client %d: %v", i, err))
				} else if err := tt.check(t, got, sent, timeout); err != nil {
					failed = append(failed, fmt.Sprintf("client %d: %v", i, err))
				}
			}
			if len(failed) > 0 {
				t.Fatalf("%d of %d clients failed, the first: %s", len(failed), clients, failed[0])
			}
			t.Logf("the slowest close came %s after its answer", slowest.Round(time.Millisecond))
			if got := restCount(t, tt.s, route, tt.status) - count; got != clients {
				t.Errorf("vendorgate_rest_requests_total{route=%q,code=\"%d\"} grew by %d, want %d", route, tt.status, got, clients)
			}
			lines := tt.s.logs.lines(t, "finished REST request")[logs:]
			if len(lines) != clients {
				t.Errorf("got %d REST access-log lines, want %d", len(lines), clients)
			}
			for _, l := range lines {
				if l["http.status"] != float64(tt.status) || l["reason"] != tt.reason || l["http.route"] != route {
					t.Errorf("REST access log: got %v, want %d %s on %s", l, tt.status, tt.reason, route)
					break
				}
			}
			tt.s.http.Transport.(*http.Transport).CloseIdleConnections()
			settleGoroutines(t, before)
		})
	}
}

// TestWrappedUploadKeepsItsContext checks that a multipart upload whose
// body arrived in time is not cut by the body read timeout while its
// handler works on (an upload's service may take longer than that), and
// that its connection serves the next request.
func TestWrappedUploadKeepsItsContext(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	s := start(t, func(o *Options) {
		o.REST.BodyReadTimeout = timeout
		o.WrapREST = map[string]func(http.Handler) http.Handler{"POST /v1/echo": uploads}
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for i, work := range []time.Duration{3 * timeout, 0} {
		fmt.Fprint(conn, multipartHead(len(multipartBody), fmt.Sprintf("X-Work-For: %s\r\n", work))+multipartBody)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: read answer: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "uploaded 14 bytes") {
			t.Errorf("request %d (working %s): got HTTP %d %s, want 200 uploaded 14 bytes", i, work, resp.StatusCode, body)
		}
		if resp.Close {
			t.Errorf("request %d: the server closes the connection, want it kept alive", i)
		}
	}
}

// TestWrappedUploadIsBoundedByProgress: a streamed upload that keeps
// moving passes though it takes several times the body read timeout in
// all; the timeout bounds the pauses, not the total.
func TestWrappedUploadIsBoundedByProgress(t *testing.T) {
	t.Parallel()
	// The pauses are a quarter of the timeout: wide enough that a loaded
	// machine running the race detector does not stretch one past it.
	const timeout = time.Second
	s := start(t, func(o *Options) {
		o.REST.BodyReadTimeout = timeout
		o.WrapREST = map[string]func(http.Handler) http.Handler{"POST /v1/echo": uploads}
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprint(conn, multipartHead(len(multipartBody), ""))
	start := time.Now()
	for i := 0; i < len(multipartBody); i += 8 {
		_, _ = io.WriteString(conn, multipartBody[i:min(i+8, len(multipartBody))])
		time.Sleep(timeout / 4)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if took := time.Since(start); took < 2*timeout {
		t.Fatalf("the upload took %v, want it slower than the timeout in all for this test to mean anything", took)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "uploaded 14 bytes") {
		t.Errorf("got HTTP %d %s, want 200 uploaded 14 bytes", resp.StatusCode, body)
	}
}
