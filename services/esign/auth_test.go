package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
)

// The test's callers and keys.
const (
	// keyApp is esign-app's key, allowed the whole service.
	keyApp = "vg_esign-app_key-for-tests-0001"
	// keyReader is reader's key, allowed GetContractLinks only.
	keyReader = "vg_reader_key-for-tests-0002"
	// keyOld and keyNew are rotor's keys before and after a rotation.
	keyOld = "vg_rotor_old-key-for-tests-0003"
	keyNew = "vg_rotor_new-key-for-tests-0004"
	// keyWrong is nobody's.
	keyWrong = "vg_esign-app_not-a-key-0005"
)

const esignService = "vendorgate.esign.v1.EsignService"

// writeCallers writes the keys file in the YAML shape, atomically
// (the service re-reads it while the test runs). rotorKeys are rotor's.
func writeCallers(t *testing.T, path string, rotorKeys ...string) {
	t.Helper()
	entry := func(name string, allow string, keys ...string) string {
		var hashes []string
		for _, k := range keys {
			hashes = append(hashes, `"`+auth.HashKey(k)+`"`)
		}
		return fmt.Sprintf("  - name: %s\n    keys: [%s]\n    allow: [%q]\n    rate_per_second: 1000\n",
			name, strings.Join(hashes, ", "), allow)
	}
	body := "callers:\n" + entry("esign-app", esignService+"/*", keyApp) +
		entry("reader", esignService+"/GetContractLinks", keyReader) +
		entry("rotor", esignService+"/*", rotorKeys...)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startGuarded runs the simulator and the service in AUTH_MODE=api-key
// with a keys file re-read every 50 ms, on a fresh Postgres schema (the
// usage ledger's shared store).
func startGuarded(t *testing.T) (*vendorHarness, string) {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "callers.yaml")
	writeCallers(t, keys, keyOld, keyNew)
	h, env := startVendor(t, sqlstoretest.PostgresURL(t, "esign_auth_test"),
		"AUTH_MODE=api-key", "AUTH_KEYS_FILE="+keys, "AUTH_RELOAD_INTERVAL=50ms")
	h.addr, _ = runService(t, env)
	return h, keys
}

func withKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// restDo sends a REST request with key (none when "") and returns the
// status and body.
func restDo(t *testing.T, method, url, key, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// checkRefusal checks a refused gRPC call: its code, an ErrorInfo with
// reason, and a message that names no key and no other caller.
func checkRefusal(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info == nil || info.GetReason() != reason {
		t.Errorf("%s: got ErrorInfo %v, want reason %s", what, info, reason)
	}
	checkNamesNoSecret(t, what, st.Message()+fmt.Sprint(info.GetMetadata()))
}

// checkRESTRefusal checks a refused REST call's status and error body.
func checkRESTRefusal(t *testing.T, what string, code int, body []byte, wantCode int, reason string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("%s: got %d %s, want %d", what, code, body, wantCode)
	}
	var e struct {
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"details"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: got %s, want a google.rpc.Status: %v", what, body, err)
	}
	if !slices.ContainsFunc(e.Details, func(d struct {
		Type   string `json:"@type"`
		Reason string `json:"reason"`
	}) bool {
		return d.Type == "type.googleapis.com/google.rpc.ErrorInfo" && d.Reason == reason
	}) {
		t.Errorf("%s: got %s, want an ErrorInfo with reason %s", what, body, reason)
	}
	checkNamesNoSecret(t, what, string(body))
}

// checkNamesNoSecret fails when text names a key, a key's hash or a caller
// other than reader (a refusal may name the caller it refuses).
func checkNamesNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, k := range []string{keyApp, keyReader, keyOld, keyNew, keyWrong} {
		if strings.Contains(text, k) || strings.Contains(text, strings.TrimPrefix(auth.HashKey(k), "sha256:")) {
			t.Errorf("%s: the refusal %q names a key", what, text)
		}
	}
	for _, c := range []string{"esign-app", "rotor"} {
		if strings.Contains(text, c) {
			t.Errorf("%s: the refusal %q names the caller %s", what, text, c)
		}
	}
}

// TestAuthGRPC: over gRPC, a unary RPC, a client-streaming upload and a
// server-streaming download are refused without a key and with a wrong one
// (UNAUTHENTICATED), refused to a caller not allowed them
// (PERMISSION_DENIED), and work with the right key.
func TestAuthGRPC(t *testing.T) {
	t.Parallel()
	h, _ := startGuarded(t)
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	register := func(key string) error {
		_, err := c.RegisterAccount(withKey(ctx, key), &esignv1.RegisterAccountRequest{OpenId: "auth-grpc", AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON})
		return err
	}
	upload := func(key string) error {
		_, err := uploadContract(withKey(ctx, key), c, "AUTHG1", "t", fadadasim.PDF("auth"), 1024)
		return err
	}
	download := func(key string) error {
		_, _, _, err := download(withKey(ctx, key), c, "AUTHG1")
		return err
	}
	calls := []struct {
		name string
		call func(key string) error
	}{{"RegisterAccount", register}, {"UploadContract", upload}, {"DownloadContract", download}}
	for _, tt := range calls {
		checkRefusal(t, tt.name+" without a key", tt.call(""), codes.Unauthenticated, auth.ReasonMissing)
		checkRefusal(t, tt.name+" with a wrong key", tt.call(keyWrong), codes.Unauthenticated, auth.ReasonInvalid)
		checkRefusal(t, tt.name+" by reader", tt.call(keyReader), codes.PermissionDenied, auth.ReasonDenied)
		if err := tt.call(keyApp); err != nil {
			t.Fatalf("%s with esign-app's key: %v", tt.name, err)
		}
	}
	if got := h.sim.Calls(fadada.PathUploadDocs); got != 1 {
		t.Errorf("uploaddocs calls: got %d, want 1 (the refused uploads reach no vendor)", got)
	}
	// reader may call what it is allowed.
	if _, err := c.GetContractLinks(withKey(ctx, keyReader), &esignv1.GetContractLinksRequest{ContractId: "AUTHG1"}); err != nil {
		t.Errorf("GetContractLinks by reader: %v", err)
	}
	// Probes stay open.
	if code, body := restDo(t, "GET", "http://"+h.addr+"/healthz", "", "", nil); code != http.StatusOK {
		t.Errorf("/healthz without a key: got %d %s, want 200", code, body)
	}
}

// TestAuthREST: over REST, a gateway route, a multipart upload and the raw
// downloads (the service's own handlers around the gateway, which call its
// gRPC endpoint with the request's Authorization) are 401 without a key
// and with a wrong one, 403 to a caller not allowed them, and work with
// the right key.
func TestAuthREST(t *testing.T) {
	t.Parallel()
	h, _ := startGuarded(t)
	base := "http://" + h.addr + "/v1/esign"
	// A verification lookup makes the simulator keep the photo GetFile serves.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	certified(withKey(ctx, keyApp), t, dial(t, h.addr), "auth-rest-cert")
	if code, b := restDo(t, "GET", base+"/certifications/persons/SN-auth-rest-cert", keyApp, "", nil); code != http.StatusOK {
		t.Fatalf("GET /certifications/persons/…: got %d %s, want 200", code, b)
	}

	upload := func(id string) func() (io.Reader, string) {
		return func() (io.Reader, string) {
			return multipartBody(t, map[string]string{"contract_id": id, "doc_title": "t"}, fadadasim.PDF("rest auth"))
		}
	}
	routes := []struct {
		name, method, url string
		body              func() (io.Reader, string)
	}{
		{"POST /accounts", "POST", base + "/accounts", func() (io.Reader, string) {
			return jsonBody(map[string]string{"open_id": "auth-rest", "account_type": "ACCOUNT_TYPE_PERSON"}), "application/json"
		}},
		{"multipart POST /contracts", "POST", base + "/contracts", upload("AUTHR1")},
		{"GET /contracts/{id}/content", "GET", base + "/contracts/AUTHR1/content", nil},
		{"GET /files/{id}", "GET", base + "/files/" + fadadasim.PhotoUUID, nil},
	}
	send := func(method, url, key string, body func() (io.Reader, string)) (int, []byte) {
		var r io.Reader
		ct := ""
		if body != nil {
			r, ct = body()
		}
		return restDo(t, method, url, key, ct, r)
	}
	for _, tt := range routes {
		code, b := send(tt.method, tt.url, "", tt.body)
		checkRESTRefusal(t, tt.name+" without a key", code, b, http.StatusUnauthorized, auth.ReasonMissing)
		code, b = send(tt.method, tt.url, keyWrong, tt.body)
		checkRESTRefusal(t, tt.name+" with a wrong key", code, b, http.StatusUnauthorized, auth.ReasonInvalid)
		code, b = send(tt.method, tt.url, keyReader, tt.body)
		checkRESTRefusal(t, tt.name+" by reader", code, b, http.StatusForbidden, auth.ReasonDenied)
		if code, b := send(tt.method, tt.url, keyApp, tt.body); code != http.StatusOK {
			t.Fatalf("%s with esign-app's key: got %d %s, want 200", tt.name, code, b)
		}
	}
	code, pdf := restDo(t, "GET", base+"/contracts/AUTHR1/content", keyApp, "", nil)
	if code != http.StatusOK || !bytes.Equal(pdf, fadadasim.PDF("rest auth")) {
		t.Errorf("download with esign-app's key: got %d and %d bytes, want 200 and the uploaded PDF", code, len(pdf))
	}
	if got := h.sim.Calls(fadada.PathUploadDocs); got != 1 {
		t.Errorf("uploaddocs calls: got %d, want 1 (the refused uploads reach no vendor)", got)
	}
}

// TestAuthKeyRotation: with two keys for rotor in the file both work; once
// the file lists only the new one, the old one is refused and the new one
// still works, without a restart; over gRPC and REST.
func TestAuthKeyRotation(t *testing.T) {
	t.Parallel()
	h, keys := startGuarded(t)
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := uploadContract(withKey(ctx, keyNew), c, "ROT1", "t", fadadasim.PDF("rotation"), 1024); err != nil {
		t.Fatal(err)
	}
	grpcCall := func(key string) error {
		_, err := c.GetContractLinks(withKey(ctx, key), &esignv1.GetContractLinksRequest{ContractId: "ROT1"})
		return err
	}
	restCode := func(key string) int {
		code, _ := restDo(t, "GET", "http://"+h.addr+"/v1/esign/contracts/ROT1/links", key, "", nil)
		return code
	}
	for _, k := range []string{keyOld, keyNew} {
		if err := grpcCall(k); err != nil {
			t.Errorf("gRPC during the overlap: %v", err)
		}
		if code := restCode(k); code != http.StatusOK {
			t.Errorf("REST during the overlap: got %d, want 200", code)
		}
	}
	writeCallers(t, keys, keyNew)
	deadline := time.Now().Add(10 * time.Second)
	for status.Code(grpcCall(keyOld)) != codes.Unauthenticated {
		if time.Now().After(deadline) {
			t.Fatal("the old key still works 10 s after the file dropped it")
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkRefusal(t, "gRPC with the old key after the rotation", grpcCall(keyOld), codes.Unauthenticated, auth.ReasonInvalid)
	if code := restCode(keyOld); code != http.StatusUnauthorized {
		t.Errorf("REST with the old key after the rotation: got %d, want 401", code)
	}
	if err := grpcCall(keyNew); err != nil {
		t.Errorf("gRPC with the new key after the rotation: %v", err)
	}
	if code := restCode(keyNew); code != http.StatusOK {
		t.Errorf("REST with the new key after the rotation: got %d, want 200", code)
	}
}

// TestUsageMatchesSimulator makes Fadada calls of every kind (unary reads
// and mutations, streamed uploads and downloads, over gRPC and REST, one
// refused by the vendor), then asks GetUsage over gRPC and REST: its calls
// per endpoint equal the simulator's own counts, each row names the
// caller, and the cost is 0 (Fadada is prepaid: no unit price).
func TestUsageMatchesSimulator(t *testing.T) {
	t.Parallel()
	h, _ := startGuarded(t)
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now().Add(-time.Minute)
	app := withKey(ctx, keyApp)

	reg, err := c.RegisterAccount(app, &esignv1.RegisterAccountRequest{OpenId: "usage", AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyCertificate(app, &esignv1.ApplyCertificateRequest{CustomerId: reg.GetCustomerId(), VerifiedSerialno: "SNU"}); err != nil {
		t.Fatal(err)
	}
	// The vendor refuses a second certificate: a call all the same.
	if _, err := c.ApplyCertificate(app, &esignv1.ApplyCertificateRequest{CustomerId: reg.GetCustomerId(), VerifiedSerialno: "SNU"}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("ApplyCertificate again: got %v, want AlreadyExists", err)
	}
	// A verification lookup makes the simulator keep the photo GetFile serves.
	if _, err := c.GetPersonCertification(app, &esignv1.GetPersonCertificationRequest{VerifiedSerialno: "SNU"}); err != nil {
		t.Fatal(err)
	}
	if _, err := uploadContract(app, c, "USE1", "t", fadadasim.PDF("usage"), 4096); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := download(withKey(ctx, keyNew), c, "USE1"); err != nil {
		t.Fatal(err)
	}
	body, ct := multipartBody(t, map[string]string{"template_id": "USET1"}, fadadasim.PDF("{x}"))
	if code, b := restDo(t, "POST", "http://"+h.addr+"/v1/esign/templates", keyApp, ct, body); code != http.StatusOK {
		t.Fatalf("multipart template upload: got %d %s", code, b)
	}
	if code, b := restDo(t, "GET", "http://"+h.addr+"/v1/esign/contracts/USE1/content", keyApp, "", nil); code != http.StatusOK {
		t.Fatalf("REST download: got %d %s", code, b)
	}
	if code, b := restDo(t, "GET", "http://"+h.addr+"/v1/esign/files/"+fadadasim.PhotoUUID, keyApp, "", nil); code != http.StatusOK {
		t.Fatalf("REST file: got %d %s", code, b)
	}
	if _, err := c.ArchiveContract(app, &esignv1.ArchiveContractRequest{ContractId: "USE1"}); err != nil {
		t.Fatal(err)
	}
	// Refused before any vendor call: not in the ledger.
	if _, err := uploadContract(app, c, "USE2", "t", []byte("not a pdf"), 4096); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("upload of a non-PDF: got %v, want InvalidArgument", err)
	}

	want := map[string]int64{}
	for ep, n := range h.sim.CallCounts() {
		want[ep] = int64(n)
	}
	end := time.Now().Add(time.Minute)
	req := &esignv1.GetUsageRequest{StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)}
	restURL := "http://" + h.addr + "/v1/esign/usage?" + url.Values{
		"start_time": {start.UTC().Format(time.RFC3339Nano)}, "end_time": {end.UTC().Format(time.RFC3339Nano)},
	}.Encode()
	sources := map[string]func() (*esignv1.GetUsageResponse, error){
		"gRPC": func() (*esignv1.GetUsageResponse, error) { return c.GetUsage(app, req) },
		"REST": func() (*esignv1.GetUsageResponse, error) {
			code, b := restDo(t, "GET", restURL, keyApp, "", nil)
			if code != http.StatusOK {
				return nil, fmt.Errorf("got %d %s", code, b)
			}
			var resp esignv1.GetUsageResponse
			return &resp, protojson.Unmarshal(b, &resp)
		},
	}
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		// The ledger writes in batches, off the hot path: wait for them.
		var got map[string]int64
		var resp *esignv1.GetUsageResponse
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err = sources[name]()
			if err != nil {
				t.Fatalf("GetUsage over %s: %v", name, err)
			}
			got = map[string]int64{}
			for _, r := range resp.GetReport().GetRows() {
				got[r.GetEndpoint()] += r.GetCalls()
			}
			if cmp.Equal(want, got) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GetUsage over %s: calls per endpoint (-simulator +ledger):\n%s", name, diff)
		}
		var total int64
		for _, r := range resp.GetReport().GetRows() {
			total += r.GetCalls()
			if r.GetVendor() != fadada.Vendor || r.GetCostYuan() != "0.00" {
				t.Errorf("GetUsage over %s: row %v: want vendor %s, cost 0.00", name, r, fadada.Vendor)
			}
			wantCaller := "esign-app"
			if r.GetEndpoint() == fadada.PathDownloadContract && r.GetCaller() == "rotor" {
				wantCaller = "rotor"
			}
			if r.GetCaller() != wantCaller {
				t.Errorf("GetUsage over %s: row %v: got caller %q, want %s", name, r, r.GetCaller(), wantCaller)
			}
		}
		if rep := resp.GetReport(); rep.GetTotalCalls() != total || rep.GetTotalCostYuan() != "0.00" || rep.GetService() != "esign" {
			t.Errorf("GetUsage over %s: got total %d calls, ¥%s, service %q; want %d calls, ¥0.00, esign",
				name, rep.GetTotalCalls(), rep.GetTotalCostYuan(), rep.GetService(), total)
		}
	}
	// No esign RPC moves money or buys; only the operator's resolution
	// is granted by name.
	if !slices.Contains(auth.PaidOrMoneyRPCs(), "vendorgate.esign.v1.EsignService/ResolveOperation") {
		t.Errorf("auth.PaidOrMoneyRPCs() lacks esign's ResolveOperation")
	}
}

// TestAuthSandboxKey: in sandbox mode the service admits the development
// key SANDBOX_API_KEY (what scripts/sandbox passes) and nothing else.
func TestAuthSandboxKey(t *testing.T) {
	t.Parallel()
	const key = "vg_sandbox-dev_fixed-test-key-0006"
	addr := startService(t, "AUTH_MODE=api-key", "SANDBOX_API_KEY="+key)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := uploadContract(withKey(ctx, key), dial(t, addr), "SBX1", "t", fadadasim.PDF("sandbox"), 1024); err != nil {
		t.Fatal(err)
	}
	if code, b := restDo(t, "GET", "http://"+addr+"/v1/esign/contracts/SBX1/links", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("without a key: got %d %s, want 401", code, b)
	}
	if code, b := restDo(t, "GET", "http://"+addr+"/v1/esign/contracts/SBX1/links", key, "", nil); code != http.StatusOK {
		t.Errorf("with the sandbox key: got %d %s, want 200", code, b)
	}
}
