package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/idempotency/contracttest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
)

// TestContractTable runs the request_id wire contract every service shares
// over gRPC, with UploadContract against the simulator: a lost reply is
// resolved on its repeat by reading the contract back from Fadada and
// comparing its SHA-256.
func TestContractTable(t *testing.T) {
	t.Parallel()
	h := startWithVendor(t, sqlstoretest.SQLiteURL(t))
	c := dial(t, h.addr)
	contracttest.Run(t, contracttest.Service{
		Call: func(ctx context.Context, requestID string, variant int) error {
			// One contract per request_id: Fadada refuses a second one.
			sum := sha1.Sum([]byte(requestID))
			_, err := uploadWithID(ctx, c, "CT"+hex.EncodeToString(sum[:10]), requestID, fadadasim.PDF([]string{"variant 0", "variant 1"}[variant]))
			return err
		},
		Hold: func(*testing.T) (<-chan struct{}, func()) {
			release := h.gate.holdCalls(fadada.PathUploadDocs)
			entered := make(chan struct{})
			go func() {
				<-h.gate.held
				close(entered)
			}()
			return entered, release
		},
		LoseNextReply: func(*testing.T) { h.gate.loseReplies(fadada.PathUploadDocs, 1) },
		ReadsBack:     true,
		Resolve: func(ctx context.Context, requestID string, applied bool) error {
			outcome := esignv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED
			if applied {
				outcome = esignv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED
			}
			_, err := c.ResolveOperation(ctx, &esignv1.ResolveOperationRequest{RequestId: requestID, Outcome: outcome, Note: "contract table"})
			return err
		},
	})
}

// randomPDF is n bytes that start as a PDF and go on at random, so that a
// copy with one byte wrong or missing differs.
func randomPDF(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	copy(b, "%PDF-1.4\n")
	return b
}

// TestLargeContractSlowVendor: a 20 MiB contract goes up over gRPC and over
// REST to a Fadada that reads uploads at 4 MiB/s (five seconds and more,
// longer than FADADA_TIMEOUT's default), with the default settings: an
// upload is bounded by its progress (FADADA_IDLE_TIMEOUT), not by a total.
// Both come back down byte for byte.
func TestLargeContractSlowVendor(t *testing.T) {
	t.Parallel()
	h := startWithVendor(t, sqlstoretest.SQLiteURL(t))
	h.sim.SetReadRate(4 << 20)
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := randomPDF(20 << 20)

	start := time.Now()
	if _, err := uploadContract(ctx, c, "BIG1", "big", data, 64<<10); err != nil {
		t.Fatalf("gRPC upload: %v", err)
	}
	if took := time.Since(start); took < 5*time.Second {
		t.Errorf("gRPC upload took %s, want at least 5s at 4 MiB/s (the read rate is not applied)", took)
	}
	got, ct, _, err := download(ctx, c, "BIG1")
	if err != nil {
		t.Fatalf("gRPC download: %v", err)
	}
	if ct != "application/pdf" || !bytes.Equal(got, data) {
		t.Errorf("gRPC download: got %d bytes of %s, want the %d bytes uploaded", len(got), ct, len(data))
	}

	base := "http://" + h.addr + "/v1/esign"
	body, bodyType := multipartBody(t, map[string]string{"contract_id": "BIG2", "doc_title": "big"}, data)
	restCall(t, "POST", base+"/contracts", bodyType, body, http.StatusOK, nil)
	resp, err := http.Get(base + "/contracts/BIG2/content")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err = io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Errorf("REST download: got %d, %d bytes, %v; want 200 and the %d bytes uploaded", resp.StatusCode, len(got), err, len(data))
	}
}

// wantStatus fails unless err has code and reason.
func wantStatus(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code || errorReason(err) != reason {
		t.Fatalf("%s: got %s %q (%v), want %s %s", what, status.Code(err), errorReason(err), err, code, reason)
	}
}

// unresolved lists the service's unresolved operations.
func unresolved(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) []*esignv1.Operation {
	t.Helper()
	resp, err := c.ListUnresolvedOperations(ctx, &esignv1.ListUnresolvedOperationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetOperations()
}

// waitResolved waits until no operation is unresolved, for at most d, and
// returns how long it took.
func waitResolved(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if len(unresolved(ctx, t, c)) == 0 {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("operations still unresolved after %s: %v", d, unresolved(ctx, t, c))
	return 0
}

// TestTruncatedCopy: Fadada keeps a cut copy of an upload and its reply is
// lost. The repeat and the reconciler both find the copy's SHA-256 wrong:
// FAILED_PRECONDITION CONTRACT_CONTENT_MISMATCH naming the contract, the
// operation resolved NOT_APPLIED, the upload never sent twice, and the
// contract_id never taken for the file under a new request_id.
func TestTruncatedCopy(t *testing.T) {
	t.Parallel()
	data := fadadasim.PDF("the whole contract, every clause of it")
	t.Run("on the repeat", func(t *testing.T) {
		t.Parallel()
		h := startWithVendor(t, sqlstoretest.SQLiteURL(t), "ESIGN_RECONCILE_INTERVAL=1h")
		c := dial(t, h.addr)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h.sim.TruncateNextUpload(int64(len(data) / 2))
		_, err := uploadWithID(ctx, c, "TRC1", "rid-trunc", data)
		wantStatus(t, "upload with a cut copy and a lost reply", err, codes.Unknown, idempotency.ReasonOutcomeUnknown)
		_, err = uploadWithID(ctx, c, "TRC1", "rid-trunc", data)
		wantStatus(t, "repeat", err, codes.FailedPrecondition, contracts.ReasonContentMismatch)
		if got := info(err).GetMetadata()["contract_id"]; got != "TRC1" || !strings.Contains(status.Convert(err).Message(), "TRC1") {
			t.Errorf("repeat: got metadata contract_id %q, message %q; want TRC1 in both", got, status.Convert(err).Message())
		}
		_, err = uploadWithID(ctx, c, "TRC1", "rid-trunc", data)
		wantStatus(t, "second repeat", err, codes.FailedPrecondition, idempotency.ReasonNotApplied)
		if ops := unresolved(ctx, t, c); len(ops) != 0 {
			t.Errorf("got unresolved %v, want none", ops)
		}
		_, err = uploadWithID(ctx, c, "TRC1", "rid-trunc-2", data)
		wantStatus(t, "the same file and contract_id under a new request_id", err, codes.AlreadyExists, "VENDOR_ALREADY_EXISTS")
		if got := h.sim.Calls(fadada.PathUploadDocs); got != 2 {
			t.Errorf("got %d uploaddocs calls, want 2 (the cut one, and the new request_id's refused one)", got)
		}
	})
	t.Run("by the reconciler", func(t *testing.T) {
		t.Parallel()
		h := startWithVendor(t, sqlstoretest.SQLiteURL(t), "ESIGN_RECONCILE_INTERVAL=300ms")
		c := dial(t, h.addr)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h.sim.TruncateNextUpload(10)
		_, err := uploadWithID(ctx, c, "TRC2", "rid-trunc-rec", data)
		wantStatus(t, "upload with a cut copy and a lost reply", err, codes.Unknown, idempotency.ReasonOutcomeUnknown)
		waitResolved(ctx, t, c, 10*time.Second)
		_, err = uploadWithID(ctx, c, "TRC2", "rid-trunc-rec", data)
		wantStatus(t, "repeat after the reconciler", err, codes.FailedPrecondition, idempotency.ReasonNotApplied)
		if got := h.sim.Calls(fadada.PathUploadDocs); got != 1 {
			t.Errorf("got %d uploaddocs calls, want 1", got)
		}
	})
}

// TestReconcilerResolvesLostUpload: an upload whose reply was lost is
// listed as unresolved (method, contract_id, note), and the reconciler
// resolves it APPLIED within one ESIGN_RECONCILE_INTERVAL, without an
// operator: the repeat answers from the record, with no call to Fadada's
// uploaddocs.
func TestReconcilerResolvesLostUpload(t *testing.T) {
	t.Parallel()
	const interval = time.Second
	h := startWithVendor(t, sqlstoretest.SQLiteURL(t), "ESIGN_RECONCILE_INTERVAL="+interval.String())
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.gate.loseReplies(fadada.PathUploadDocs, 1)
	_, err := uploadWithID(ctx, c, "REC1", "rid-rec", fadadasim.PDF("reconciled"))
	wantStatus(t, "upload with a lost reply", err, codes.Unknown, idempotency.ReasonOutcomeUnknown)
	ops := unresolved(ctx, t, c)
	if len(ops) != 1 || ops[0].GetRequestId() != "rid-rec" || ops[0].GetMethod() != "UploadContract" || ops[0].GetContractId() != "REC1" ||
		ops[0].GetState() != esignv1.OperationState_OPERATION_STATE_UNKNOWN || ops[0].GetNote() == "" || ops[0].GetCreateTime() == nil {
		t.Errorf("got unresolved %v, want rid-rec, UploadContract, REC1, UNKNOWN, with a note", ops)
	}
	// A pass runs at most one interval from now; give the pass itself a
	// second.
	if took := waitResolved(ctx, t, c, interval+time.Second); took > interval+time.Second {
		t.Errorf("resolved after %s, want within one interval (%s)", took, interval)
	}
	got, err := uploadWithID(ctx, c, "REC1", "rid-rec", fadadasim.PDF("reconciled"))
	if err != nil || got.GetContractId() != "REC1" {
		t.Fatalf("repeat: got %v, %v, want contract REC1", got, err)
	}
	if n := h.sim.Calls(fadada.PathUploadDocs); n != 1 {
		t.Errorf("got %d uploaddocs calls, want 1", n)
	}
	_, err = c.ResolveOperation(ctx, &esignv1.ResolveOperationRequest{RequestId: "rid-rec",
		Outcome: esignv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED, Note: "too late"})
	wantStatus(t, "resolving it again", err, codes.FailedPrecondition, idempotency.ReasonOutcomeKnown)
}

// TestOperatorResolves: an AddSignature whose reply was lost (Fadada
// cannot tell) stays UNKNOWN until an operator resolves it over REST; the
// resolution names the operator, and the repeat then returns its outcome.
func TestOperatorResolves(t *testing.T) {
	t.Parallel()
	h := startWithVendor(t, sqlstoretest.SQLiteURL(t))
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seal := &esignv1.AddSignatureRequest{CustomerId: certified(ctx, t, c, "operator"), File: pngHeader, RequestId: "rid-op-seal"}
	h.gate.loseReplies(fadada.PathAddSignature, 1)
	_, err := c.AddSignature(ctx, seal)
	wantStatus(t, "AddSignature with a lost reply", err, codes.Unknown, idempotency.ReasonOutcomeUnknown)
	_, err = c.AddSignature(ctx, seal)
	wantStatus(t, "repeat", err, codes.Unknown, idempotency.ReasonOutcomeUnknown)

	base := "http://" + h.addr + "/v1/esign"
	var list struct {
		Operations []struct {
			RequestID string `json:"request_id"`
			Method    string `json:"method"`
			State     string `json:"state"`
		} `json:"operations"`
	}
	restCall(t, "GET", base+"/operations?page_size=10", "", nil, http.StatusOK, &list)
	if len(list.Operations) != 1 || list.Operations[0].RequestID != "rid-op-seal" || list.Operations[0].Method != "AddSignature" ||
		list.Operations[0].State != "OPERATION_STATE_UNKNOWN" {
		t.Errorf("GET /v1/esign/operations: got %+v, want rid-op-seal, AddSignature, OPERATION_STATE_UNKNOWN", list.Operations)
	}
	var resolved struct {
		Operation struct {
			State       string `json:"state"`
			Resolutions []struct {
				Outcome    string `json:"outcome"`
				Note       string `json:"note"`
				ResolvedBy string `json:"resolved_by"`
			} `json:"resolutions"`
		} `json:"operation"`
	}
	restCall(t, "POST", base+"/operations/rid-op-seal:resolve", "application/json",
		jsonBody(map[string]any{"outcome": "RESOLUTION_OUTCOME_NOT_APPLIED", "note": "no new seal in the console"}), http.StatusOK, &resolved)
	r := resolved.Operation.Resolutions
	if resolved.Operation.State != "OPERATION_STATE_NOT_APPLIED" || len(r) != 1 || r[0].Outcome != "RESOLUTION_OUTCOME_NOT_APPLIED" ||
		r[0].Note != "no new seal in the console" || r[0].ResolvedBy != "anonymous" {
		t.Errorf("resolve: got %+v, want NOT_APPLIED by anonymous (AUTH_MODE=none) with the note", resolved.Operation)
	}
	_, err = c.AddSignature(ctx, seal)
	wantStatus(t, "repeat after the resolution", err, codes.FailedPrecondition, idempotency.ReasonNotApplied)
	if n := h.sim.Calls(fadada.PathAddSignature); n != 1 {
		t.Errorf("got %d add_signature calls, want 1", n)
	}
}

// info is err's ErrorInfo, or nil.
func info(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			return i
		}
	}
	return nil
}

// TestReconcilerResolvesLostGeneration: a generated contract whose reply
// was lost is found at Fadada by the reconciler and resolved APPLIED with
// no recorded answer; the repeat builds its answer (the signed links)
// without generating again.
func TestReconcilerResolvesLostGeneration(t *testing.T) {
	t.Parallel()
	h := startWithVendor(t, sqlstoretest.SQLiteURL(t), "ESIGN_RECONCILE_INTERVAL=300ms")
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := uploadTemplateWithID(ctx, c, "RECT", "", fadadasim.PDF("{x}")); err != nil {
		t.Fatal(err)
	}
	req := &esignv1.GenerateContractRequest{TemplateId: "RECT", ContractId: "RECG1", DocTitle: "t", RequestId: "rid-rec-gen"}
	h.gate.loseReplies(fadada.PathGenerateContract, 1)
	_, err := c.GenerateContract(ctx, req)
	wantStatus(t, "generate with a lost reply", err, codes.Unknown, idempotency.ReasonOutcomeUnknown)
	waitResolved(ctx, t, c, 10*time.Second)
	got, err := c.GenerateContract(ctx, req)
	if err != nil || got.GetContractId() != "RECG1" || !strings.HasPrefix(got.GetViewUrl(), linkOrigin+"/v1/esign/links/") {
		t.Fatalf("repeat: got %v, %v, want RECG1 with the service's links", got, err)
	}
	if resp, body := openLink(t, openable(got.GetDownloadUrl(), h.addr)); resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte("%PDF-")) {
		t.Errorf("the repeat's download link: got %d %.40q, want the generated PDF", resp.StatusCode, body)
	}
	if n := h.sim.Calls(fadada.PathGenerateContract); n != 1 {
		t.Errorf("got %d generate_contract calls, want 1", n)
	}
}
