package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/sandbox"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
)

// mutatingEndpoints are the Fadada endpoints that change something; a
// repeat answered from its request_id record reaches none of them.
var mutatingEndpoints = []string{
	fadada.PathAccountRegister, fadada.PathApplyCert, fadada.PathAddSignature, fadada.PathCustomSignature,
	fadada.PathUploadDocs, fadada.PathUploadTemplate, fadada.PathGenerateContract, fadada.PathContractFiling,
}

// vendorGate sits in front of the simulator, over real HTTP: it can hold
// the requests to an endpoint until released, or let the simulator apply
// one and then drop the connection instead of answering (a lost reply).
type vendorGate struct {
	next http.Handler

	mu   sync.Mutex
	hold map[string]chan struct{} // endpoint → closed to release
	drop map[string]int           // endpoint → replies still to lose
	held chan string              // receives the endpoint of each held request
	cut  map[string]int64         // endpoint → body bytes after which the next reply breaks
}

func (g *vendorGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := strings.TrimPrefix(r.URL.Path, fadadasim.Prefix)
	g.mu.Lock()
	release, hold := g.hold[ep]
	lose := g.drop[ep] > 0
	if lose {
		g.drop[ep]--
	}
	cut, cutting := g.cut[ep]
	delete(g.cut, ep)
	g.mu.Unlock()
	if hold {
		g.held <- ep
		<-release
	}
	if cutting {
		g.next.ServeHTTP(&cutWriter{ResponseWriter: w, left: cut}, r)
		return
	}
	if !lose {
		g.next.ServeHTTP(w, r)
		return
	}
	// Applied at the vendor, answer lost on the way back.
	g.next.ServeHTTP(discardWriter{header: http.Header{}}, r)
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
	}
}

// holdCalls makes requests to endpoint wait until the returned func runs.
func (g *vendorGate) holdCalls(endpoint string) func() {
	ch := make(chan struct{})
	g.mu.Lock()
	g.hold[endpoint] = ch
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		delete(g.hold, endpoint)
		g.mu.Unlock()
		close(ch)
	}
}

// loseReplies makes the next n replies of endpoint lost.
func (g *vendorGate) loseReplies(endpoint string, n int) {
	g.mu.Lock()
	g.drop[endpoint] = n
	g.mu.Unlock()
}

// cutReplies makes the next reply of endpoint come unannounced (chunked,
// no Content-Length) and break after bytes of its body: a transfer that
// fails half-way.
func (g *vendorGate) cutReplies(endpoint string, bytes int64) {
	g.mu.Lock()
	g.cut[endpoint] = bytes
	g.mu.Unlock()
}

// cutWriter passes left bytes of a body on, then breaks the connection.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) WriteHeader(code int) {
	c.Header().Del("Content-Length")
	c.ResponseWriter.WriteHeader(code)
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if int64(len(b)) <= c.left {
		c.left -= int64(len(b))
		return c.ResponseWriter.Write(b)
	}
	c.Header().Del("Content-Length")
	n, _ := c.ResponseWriter.Write(b[:c.left])
	c.left = 0
	rc := http.NewResponseController(c.ResponseWriter)
	_ = rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		_ = conn.Close()
	}
	return n, io.ErrClosedPipe
}

type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// vendorHarness is the service running against a simulator of the test's
// own, whose calls the test counts.
type vendorHarness struct {
	addr string
	sim  *fadadasim.Simulator
	gate *vendorGate
}

// mutations is how many requests reached Fadada's mutating endpoints.
func (h *vendorHarness) mutations() int {
	n := 0
	for _, ep := range mutatingEndpoints {
		n += h.sim.Calls(ep)
	}
	return n
}

// startWithVendor runs the simulator on loopback (real HTTP, both signing
// layers checked) and the service against it with the database at dbURL.
func startWithVendor(t *testing.T, dbURL string, extra ...string) *vendorHarness {
	t.Helper()
	h, env := startVendor(t, dbURL, extra...)
	h.addr, _ = runService(t, env)
	return h
}

// linkOrigin is ESIGN_LINK_BASE_URL outside the sandbox in the tests: the
// port is only known once the service listens, so a test that opens a
// link puts the address in its place (openable).
const linkOrigin = "http://esign.test"

// linkSecret is ESIGN_LINK_SECRET outside the sandbox in the tests, the
// same for every service a test runs, as for replicas.
const linkSecret = "test-link-secret-0123456789abcdef"

// openable is link with the service at addr in place of linkOrigin.
func openable(link, addr string) string {
	return strings.Replace(link, linkOrigin, "http://"+addr, 1)
}

// startVendor runs the simulator and returns the service's environment
// for it, with AUTH_MODE=none unless extra says otherwise.
func startVendor(t *testing.T, dbURL string, extra ...string) (*vendorHarness, []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	id, key, err := sandbox.NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	appID, appSecret, err := sandbox.NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	sim, err := fadadasim.New(fadadasim.Options{Keys: map[string]string{id: key}, App: fadada.Credentials{AppID: appID, AppSecret: appSecret}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	gate := &vendorGate{next: sim.Handler(), hold: map[string]chan struct{}{}, drop: map[string]int{}, held: make(chan string, 16),
		cut: map[string]int64{}}
	vendor, err := sandbox.Start(ctx, gate, id, key)
	if err != nil {
		t.Fatal(err)
	}
	env := append([]string{
		"AUTH_MODE=none", "FADADA_BASE_URL=" + vendor.BaseURL + fadadasim.Prefix, "FADADA_SECRET_ID=" + id, "FADADA_SECRET_KEY=" + key,
		"FADADA_APP_ID=" + appID, "FADADA_APP_SECRET=" + appSecret, "ESIGN_DATABASE_URL=" + dbURL,
		"ESIGN_LINK_BASE_URL=" + linkOrigin, "ESIGN_LINK_SECRET=" + linkSecret,
	}, extra...)
	return &vendorHarness{sim: sim, gate: gate}, env
}

// runService runs the service with environ (plus a loopback address) and
// returns its address and a func that stops it (also run when the test
// ends).
func runService(t testing.TB, environ []string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	var mu sync.Mutex
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"ESIGN_ADDR=127.0.0.1:0", "LOG_LEVEL=warn"}, environ...), lockedWriter{&mu, &logs}, func(a net.Addr) { addr <- a })
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case a := <-addr:
		return a.String(), stop
	case err := <-done:
		// Nothing left to stop, and done is read.
		once.Do(func() {})
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("run ended before listening: %v\n%s", err, logs.String())
		return "", stop
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// dialectURLs run a test against a fresh SQLite file and a fresh Postgres
// schema.
var dialectURLs = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return sqlstoretest.SQLiteURL(t) }},
	{"postgres", func(t *testing.T) string { return sqlstoretest.PostgresURL(t, "esign_main_test") }},
}

// errorReason is the reason of a gRPC error: its BadRequest field
// violation's for INVALID_ARGUMENT (the ErrorInfo then says only
// INVALID_ARGUMENT), else its ErrorInfo's.
func errorReason(err error) string {
	reason := ""
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				return v.GetReason()
			}
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		}
	}
	return reason
}

// certified registers a signer and certifies them, without request_ids.
func certified(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient, openID string) string {
	t.Helper()
	reg, err := c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: openID, AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyCertificate(ctx, &esignv1.ApplyCertificateRequest{CustomerId: reg.GetCustomerId(), VerifiedSerialno: "SN-" + openID}); err != nil {
		t.Fatal(err)
	}
	return reg.GetCustomerId()
}

// uploadWithID streams an upload whose first message carries requestID.
func uploadWithID(ctx context.Context, c esignv1.EsignServiceClient, contractID, requestID string, data []byte) (*esignv1.UploadContractResponse, error) {
	s, err := c.UploadContract(ctx)
	if err != nil {
		return nil, err
	}
	// Two messages, so that the fingerprint must cover more than the first.
	half := len(data) / 2
	if err := s.Send(&esignv1.UploadContractRequest{ContractId: contractID, DocTitle: "t", RequestId: requestID, File: data[:half]}); err == nil {
		_ = s.Send(&esignv1.UploadContractRequest{File: data[half:]})
	}
	return s.CloseAndRecv()
}

func uploadTemplateWithID(ctx context.Context, c esignv1.EsignServiceClient, templateID, requestID string, data []byte) (*esignv1.UploadTemplateResponse, error) {
	s, err := c.UploadTemplate(ctx)
	if err != nil {
		return nil, err
	}
	half := len(data) / 2
	if err := s.Send(&esignv1.UploadTemplateRequest{TemplateId: templateID, RequestId: requestID, File: data[:half]}); err == nil {
		_ = s.Send(&esignv1.UploadTemplateRequest{File: data[half:]})
	}
	return s.CloseAndRecv()
}

// TestRequestIDRepeats checks every mutation over gRPC, on SQLite and on
// Postgres: the same request_id and request again returns the first result
// with no vendor call; the same request_id with another request is
// INVALID_ARGUMENT REQUEST_ID_REUSED, with no vendor call either.
func TestRequestIDRepeats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup prepares what the mutation needs, without request_ids.
		setup func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string
		// call sends the mutation with requestID: variant 0 the request,
		// variant 1 a different one.
		call func(ctx context.Context, c esignv1.EsignServiceClient, arg, requestID string, variant int) (proto.Message, error)
	}{
		{"RegisterAccount", nil, func(ctx context.Context, c esignv1.EsignServiceClient, _, rid string, v int) (proto.Message, error) {
			return c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: []string{"rq-a", "rq-b"}[v], AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON, RequestId: rid})
		}},
		{"ApplyCertificate", func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string {
			reg, err := c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: "rq-cert", AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON})
			if err != nil {
				t.Fatal(err)
			}
			return reg.GetCustomerId()
		}, func(ctx context.Context, c esignv1.EsignServiceClient, cid, rid string, v int) (proto.Message, error) {
			return c.ApplyCertificate(ctx, &esignv1.ApplyCertificateRequest{CustomerId: cid, VerifiedSerialno: []string{"SNA", "SNB"}[v], RequestId: rid})
		}},
		{"AddSignature", func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string {
			return certified(ctx, t, c, "rq-seal")
		}, func(ctx context.Context, c esignv1.EsignServiceClient, cid, rid string, v int) (proto.Message, error) {
			return c.AddSignature(ctx, &esignv1.AddSignatureRequest{CustomerId: cid, File: append(bytes.Clone(pngHeader), byte(v)), RequestId: rid})
		}},
		{"CreateCustomSignature", func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string {
			return certified(ctx, t, c, "rq-draw")
		}, func(ctx context.Context, c esignv1.EsignServiceClient, cid, rid string, v int) (proto.Message, error) {
			return c.CreateCustomSignature(ctx, &esignv1.CreateCustomSignatureRequest{CustomerId: cid, Content: []string{"张三", "李四"}[v], RequestId: rid})
		}},
		{"UploadContract", nil, func(ctx context.Context, c esignv1.EsignServiceClient, _, rid string, v int) (proto.Message, error) {
			// The variant differs in its file's bytes only.
			return uploadWithID(ctx, c, "RQU1", rid, fadadasim.PDF([]string{"first", "other"}[v]))
		}},
		{"UploadTemplate", nil, func(ctx context.Context, c esignv1.EsignServiceClient, _, rid string, v int) (proto.Message, error) {
			return uploadTemplateWithID(ctx, c, "RQT1", rid, fadadasim.PDF([]string{"{a}", "{b}"}[v]))
		}},
		{"GenerateContract", func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string {
			if _, err := uploadTemplateWithID(ctx, c, "RQG", "", fadadasim.PDF("{borrower}")); err != nil {
				t.Fatal(err)
			}
			return "RQG"
		}, func(ctx context.Context, c esignv1.EsignServiceClient, tpl, rid string, v int) (proto.Message, error) {
			return c.GenerateContract(ctx, &esignv1.GenerateContractRequest{TemplateId: tpl, ContractId: "RQG1", DocTitle: "Loan",
				ParameterMap: map[string]string{"borrower": []string{"Boss Horse", "Pony"}[v]}, RequestId: rid})
		}},
		{"ArchiveContract", func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string {
			if _, err := uploadWithID(ctx, c, "RQA1", "", fadadasim.PDF("a")); err != nil {
				t.Fatal(err)
			}
			return "RQA1"
		}, func(ctx context.Context, c esignv1.EsignServiceClient, id, rid string, v int) (proto.Message, error) {
			return c.ArchiveContract(ctx, &esignv1.ArchiveContractRequest{ContractId: []string{id, "RQA2"}[v], RequestId: rid})
		}},
	}
	for _, d := range dialectURLs {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					h := startWithVendor(t, d.url(t))
					c := dial(t, h.addr)
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					arg := ""
					if tt.setup != nil {
						arg = tt.setup(ctx, t, c)
					}
					before := h.mutations()
					first, err := tt.call(ctx, c, arg, "rid-"+tt.name, 0)
					if err != nil {
						t.Fatalf("first call: %v", err)
					}
					if got := h.mutations() - before; got != 1 {
						t.Fatalf("first call: got %d vendor calls, want 1", got)
					}
					again, err := tt.call(ctx, c, arg, "rid-"+tt.name, 0)
					if err != nil {
						t.Fatalf("repeat: %v", err)
					}
					// A repeat's GenerateContract carries fresh links of the
					// service's own (server.GenerateContract): the first
					// answer's again within the same second, later ones after.
					fresh := protocmp.IgnoreFields(&esignv1.GenerateContractResponse{}, "view_url", "download_url", "expire_time")
					if diff := cmp.Diff(first, again, protocmp.Transform(), fresh); diff != "" {
						t.Errorf("repeat: got another result (-first +repeat):\n%s", diff)
					}
					if g, ok := again.(*esignv1.GenerateContractResponse); ok {
						f := first.(*esignv1.GenerateContractResponse)
						if g.GetViewUrl() == "" || g.GetDownloadUrl() == "" || g.GetExpireTime().AsTime().Before(f.GetExpireTime().AsTime()) {
							t.Errorf("repeat: links %q %q expiring %v, want links expiring no earlier than the first's (%v)",
								g.GetViewUrl(), g.GetDownloadUrl(), g.GetExpireTime().AsTime(), f.GetExpireTime().AsTime())
						}
					}
					_, err = tt.call(ctx, c, arg, "rid-"+tt.name, 1)
					if status.Code(err) != codes.InvalidArgument || errorReason(err) != idempotency.ReasonReused {
						t.Errorf("other request, same request_id: got %s %q (%v), want InvalidArgument %s",
							status.Code(err), errorReason(err), err, idempotency.ReasonReused)
					}
					if got := h.mutations() - before; got != 1 {
						t.Errorf("after the repeats: got %d vendor calls in all, want 1", got)
					}
				})
			}
		})
	}
}

// TestRequestIDInFlight: a repeat while the first call is still at the
// vendor is ABORTED, REQUEST_ID_IN_FLIGHT, and does not reach the vendor.
func TestRequestIDInFlight(t *testing.T) {
	t.Parallel()
	for _, d := range dialectURLs {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			h := startWithVendor(t, d.url(t))
			c := dial(t, h.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := uploadWithID(ctx, c, "RQF1", "", fadadasim.PDF()); err != nil {
				t.Fatal(err)
			}
			release := h.gate.holdCalls(fadada.PathContractFiling)
			first := make(chan error, 1)
			go func() {
				_, err := c.ArchiveContract(ctx, &esignv1.ArchiveContractRequest{ContractId: "RQF1", RequestId: "rid-flight"})
				first <- err
			}()
			<-h.gate.held
			_, err := c.ArchiveContract(ctx, &esignv1.ArchiveContractRequest{ContractId: "RQF1", RequestId: "rid-flight"})
			release()
			if status.Code(err) != codes.Aborted || errorReason(err) != idempotency.ReasonInFlight {
				t.Errorf("repeat in flight: got %s %q (%v), want Aborted %s", status.Code(err), errorReason(err), err, idempotency.ReasonInFlight)
			}
			if err := <-first; err != nil {
				t.Fatalf("first: %v", err)
			}
			if got := h.sim.Calls(fadada.PathContractFiling); got != 1 {
				t.Errorf("got %d contractFiling calls, want 1", got)
			}
		})
	}
}

// TestRequestIDInterrupted: a call whose reply was lost (applied at the
// vendor, outcome unknown here) is resolved on its repeat: by Fadada's
// duplicate guard for ApplyCertificate (3201) and ArchiveContract (1402),
// by reading the contract back for GenerateContract; AddSignature, which
// Fadada cannot tell apart, stays UNKNOWN without another vendor call.
func TestRequestIDInterrupted(t *testing.T) {
	t.Parallel()
	h := startWithVendor(t, sqlstoretest.SQLiteURL(t))
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	reg, err := c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: "rq-lost", AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON})
	if err != nil {
		t.Fatal(err)
	}
	cert := &esignv1.ApplyCertificateRequest{CustomerId: reg.GetCustomerId(), VerifiedSerialno: "SNL", RequestId: "rid-cert"}
	h.gate.loseReplies(fadada.PathApplyCert, 1)
	if _, err := c.ApplyCertificate(ctx, cert); status.Code(err) != codes.Unknown {
		t.Fatalf("ApplyCertificate with a lost reply: got %v, want Unknown", err)
	}
	if _, err := c.ApplyCertificate(ctx, cert); err != nil {
		t.Errorf("ApplyCertificate repeat: got %v, want the earlier attempt's success (3201 resolved)", err)
	}
	if _, err := c.ApplyCertificate(ctx, cert); err != nil {
		t.Errorf("ApplyCertificate second repeat: got %v, want the recorded success", err)
	}
	if got := h.sim.Calls(fadada.PathApplyCert); got != 2 {
		t.Errorf("got %d apply_cert calls, want 2 (the lost one and the resolving one)", got)
	}

	seal := &esignv1.AddSignatureRequest{CustomerId: reg.GetCustomerId(), File: pngHeader, RequestId: "rid-seal"}
	h.gate.loseReplies(fadada.PathAddSignature, 1)
	if _, err := c.AddSignature(ctx, seal); status.Code(err) != codes.Unknown {
		t.Fatalf("AddSignature with a lost reply: got %v, want Unknown", err)
	}
	_, err = c.AddSignature(ctx, seal)
	if status.Code(err) != codes.Unknown || errorReason(err) != idempotency.ReasonOutcomeUnknown {
		t.Errorf("AddSignature repeat: got %s %q (%v), want Unknown %s", status.Code(err), errorReason(err), err, idempotency.ReasonOutcomeUnknown)
	}
	if got := h.sim.Calls(fadada.PathAddSignature); got != 1 {
		t.Errorf("got %d add_signature calls, want 1: a seal must not be added twice", got)
	}

	if _, err := uploadWithID(ctx, c, "RQL1", "", fadadasim.PDF()); err != nil {
		t.Fatal(err)
	}
	archive := &esignv1.ArchiveContractRequest{ContractId: "RQL1", RequestId: "rid-archive"}
	h.gate.loseReplies(fadada.PathContractFiling, 1)
	if _, err := c.ArchiveContract(ctx, archive); status.Code(err) != codes.Unknown {
		t.Fatalf("ArchiveContract with a lost reply: got %v, want Unknown", err)
	}
	if got, err := c.ArchiveContract(ctx, archive); err != nil || got.GetMessage() == "" {
		t.Errorf("ArchiveContract repeat: got %v, %v, want the earlier attempt's success (1402 resolved)", got, err)
	}
	if exists, archived := h.sim.Contract("RQL1"); !exists || !archived {
		t.Errorf("contract RQL1: got exists=%t archived=%t, want both", exists, archived)
	}
}

// TestRequestIDREST: request_id over REST, in a JSON body (RegisterAccount,
// ArchiveContract with the id in the path) and as a multipart form field
// (UploadContract, whose fingerprint covers the file's bytes).
func TestRequestIDREST(t *testing.T) {
	t.Parallel()
	h := startWithVendor(t, sqlstoretest.SQLiteURL(t))
	base := "http://" + h.addr + "/v1/esign"

	var reg, again struct {
		CustomerID string `json:"customer_id"`
	}
	restCall(t, "POST", base+"/accounts", "application/json", jsonBody(map[string]any{"open_id": "rest-rq", "account_type": "ACCOUNT_TYPE_PERSON", "request_id": "rid-rest-reg"}), 200, &reg)
	before := h.mutations()
	restCall(t, "POST", base+"/accounts", "application/json", jsonBody(map[string]any{"open_id": "rest-rq", "account_type": "ACCOUNT_TYPE_PERSON", "request_id": "rid-rest-reg"}), 200, &again)
	if again != reg {
		t.Errorf("RegisterAccount repeat: got %+v, want %+v", again, reg)
	}
	checkReused(t, base+"/accounts", "application/json", jsonBody(map[string]any{"open_id": "rest-other", "account_type": "ACCOUNT_TYPE_PERSON", "request_id": "rid-rest-reg"}))

	var up, upAgain []byte
	body, ct := multipartBody(t, map[string]string{"contract_id": "RQR1", "doc_title": "t", "request_id": "rid-rest-up"}, fadadasim.PDF("rest"))
	restCall(t, "POST", base+"/contracts", ct, body, 200, &up)
	body, ct = multipartBody(t, map[string]string{"contract_id": "RQR1", "doc_title": "t", "request_id": "rid-rest-up"}, fadadasim.PDF("rest"))
	restCall(t, "POST", base+"/contracts", ct, body, 200, &upAgain)
	if !bytes.Equal(up, upAgain) {
		t.Errorf("UploadContract repeat: got %s, want %s", upAgain, up)
	}
	body, ct = multipartBody(t, map[string]string{"contract_id": "RQR1", "doc_title": "t", "request_id": "rid-rest-up"}, fadadasim.PDF("other bytes"))
	checkReused(t, base+"/contracts", ct, body)
	// The JSON form of the upload is the same request: its file's bytes
	// are the same.
	restCall(t, "POST", base+"/contracts", "application/json", jsonBody(map[string]any{
		"contract_id": "RQR1", "doc_title": "t", "request_id": "rid-rest-up", "file": base64.StdEncoding.EncodeToString(fadadasim.PDF("rest")),
	}), 200, nil)

	restCall(t, "POST", base+"/contracts/RQR1:archive", "application/json", jsonBody(map[string]any{"request_id": "rid-rest-arch"}), 200, nil)
	restCall(t, "POST", base+"/contracts/RQR1:archive", "application/json", jsonBody(map[string]any{"request_id": "rid-rest-arch"}), 200, nil)
	if got := h.mutations() - before; got != 2 {
		t.Errorf("got %d vendor calls after the first RegisterAccount, want 2 (one upload, one archive)", got)
	}
}

// checkReused posts body and wants 400 with a violation of request_id,
// reason REQUEST_ID_REUSED.
func checkReused(t *testing.T, url, contentType string, body io.Reader) {
	t.Helper()
	var got struct {
		Details []struct {
			FieldViolations []struct {
				Field  string `json:"field"`
				Reason string `json:"reason"`
			} `json:"field_violations"`
		} `json:"details"`
	}
	restCall(t, "POST", url, contentType, body, 400, &got)
	for _, d := range got.Details {
		for _, v := range d.FieldViolations {
			if v.Field == "request_id" && v.Reason == idempotency.ReasonReused {
				return
			}
		}
	}
	t.Errorf("POST %s: got details %+v, want a request_id violation %s", url, got.Details, idempotency.ReasonReused)
}

// TestRequestIDAfterRestart: an UploadTemplate whose send lost its reply
// is resolved after a restart on the same database: the template id
// the first process sent is still known to be ours, so the vendor's
// duplicate (2507) is the earlier attempt's success; and a finished
// request_id still answers without a vendor call.
func TestRequestIDAfterRestart(t *testing.T) {
	t.Parallel()
	for _, d := range dialectURLs {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			h, env := startVendor(t, d.url(t))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			addr, stop := runService(t, env)
			c := dial(t, addr)
			reg, err := c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: "restart", AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON, RequestId: "rid-restart-reg"})
			if err != nil {
				t.Fatal(err)
			}
			// The one send loses its reply: the service sends nothing
			// again on its own.
			h.gate.loseReplies(fadada.PathUploadTemplate, 1)
			if _, err := uploadTemplateWithID(ctx, c, "RST1", "rid-restart-tpl", fadadasim.PDF("{x}")); status.Code(err) != codes.Unknown {
				t.Fatalf("UploadTemplate with lost replies: got %v, want Unknown", err)
			}
			stop()

			addr, _ = runService(t, env)
			c = dial(t, addr)
			if _, err := uploadTemplateWithID(ctx, c, "RST1", "rid-restart-tpl", fadadasim.PDF("{x}")); err != nil {
				t.Fatalf("UploadTemplate after the restart: got %v, want the earlier attempt's success", err)
			}
			if got := h.sim.Calls(fadada.PathUploadTemplate); got != 2 {
				t.Errorf("got %d uploadtemplate calls, want 2 (1 lost, 1 met by the duplicate guard)", got)
			}
			before := h.mutations()
			again, err := c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: "restart", AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON, RequestId: "rid-restart-reg"})
			if err != nil || again.GetCustomerId() != reg.GetCustomerId() {
				t.Errorf("RegisterAccount after the restart: got %v, %v, want %s", again, err, reg.GetCustomerId())
			}
			if got := h.mutations() - before; got != 0 {
				t.Errorf("RegisterAccount after the restart: got %d vendor calls, want 0", got)
			}
		})
	}
}
