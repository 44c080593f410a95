package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/idempotency/contracttest"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
)

// The keys of the operations tests' callers.
const (
	operatorKey = "vg_operator_operatorKeyABCDEFGHJKLMNP"
	lookerKey   = "vg_looker_lookerKeyABCDEFGHJKLMNPQRST"
)

// startOperators starts the service with AUTH_MODE=api-key and three
// callers: shop may call every delivery RPC but ResolveOperation (the paid
// CreateOrder named in full), operator every one (ResolveOperation named
// in full), looker only GetShop and GetOrder.
func startOperators(t *testing.T, env ...string) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, "callers:\n"+
		"  - name: shop\n    keys: [\""+auth.HashKey(shopKey)+"\"]\n    allow: [\""+deliveryService+"*\", \""+deliveryService+"CreateOrder\"]\n"+
		"  - name: operator\n    keys: [\""+auth.HashKey(operatorKey)+"\"]\n    allow: [\""+deliveryService+"*\", \""+deliveryService+"ResolveOperation\"]\n"+
		"  - name: looker\n    keys: [\""+auth.HashKey(lookerKey)+"\"]\n    allow: [\""+deliveryService+"GetShop\", \""+deliveryService+"GetOrder\"]\n")
	return start(t, append([]string{"AUTH_MODE=api-key", "AUTH_KEYS_FILE=" + path}, env...)...)
}

// originFor is an origin_id made from a request_id, so that every request_id
// of a test dispatches its own order.
func originFor(requestID string) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(requestID)
}

// TestRequestIDContract runs the one wire-contract table of request_id over
// gRPC against CreateOrder, with the simulator holding or losing createOrder.
func TestRequestIDContract(t *testing.T) {
	t.Parallel()
	h := start(t)
	contracttest.Run(t, contracttest.Service{
		Call: func(ctx context.Context, requestID string, variant int) error {
			o := validOrder(originFor(requestID))
			o.RequestId = requestID
			if variant == 1 {
				o.ReceiverName, o.ReceiverPhone = "宋江", "13812345678"
			}
			_, err := h.client.CreateOrder(ctx, o)
			return err
		},
		Hold: func(t *testing.T) (<-chan struct{}, func()) {
			entered, release := h.sim.Hold(dingdangsim.PathCreateOrder)
			t.Cleanup(release)
			return entered, release
		},
		LoseNextReply: func(*testing.T) {
			h.sim.Inject(dingdangsim.PathCreateOrder, dingdangsim.Fault{Status: 502, Body: "bad gateway", AfterHandling: true})
		},
		ReadsBack: true,
		Resolve: func(ctx context.Context, requestID string, applied bool) error {
			outcome := deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED
			if applied {
				outcome = deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED
			}
			_, err := h.client.ResolveOperation(ctx, &deliveryv1.ResolveOperationRequest{RequestId: requestID, Outcome: outcome,
				Note: "checked the Dingdang console"})
			return err
		},
	})
}

// unresolved lists every unresolved operation.
func unresolved(t *testing.T, h *harness, ctx context.Context) []*deliveryv1.Operation {
	t.Helper()
	resp, err := h.client.ListUnresolvedOperations(ctx, &deliveryv1.ListUnresolvedOperationsRequest{PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetOperations()
}

// TestReconcilerResolvesWithoutAnOperator: the reconciler reads the vendor
// back within one DELIVERY_RECONCILE_INTERVAL: a dispatch the vendor applied
// and whose reply was lost ends APPLIED, and its repeat returns the order
// without a vendor call; one the vendor never saw ends NOT_APPLIED; a
// cancel whose reply was lost ends APPLIED from the order's status.
func TestReconcilerResolvesWithoutAnOperator(t *testing.T) {
	t.Parallel()
	const interval = 300 * time.Millisecond
	logs := &logtest.Buffer{}
	h := startLogging(t, logs, "DELIVERY_RECONCILE_INTERVAL="+interval.String())
	ctx := context.Background()

	applied := validOrder("REC-1")
	applied.RequestId = "rec-applied"
	h.sim.Inject(dingdangsim.PathCreateOrder, dingdangsim.Fault{Status: 502, Body: "bad gateway", AfterHandling: true})
	if _, err := h.client.CreateOrder(ctx, applied); status.Code(err) != codes.Unknown {
		t.Fatalf("lost reply: got %v, want UNKNOWN", err)
	}
	notApplied := validOrder("REC-2")
	notApplied.RequestId = "rec-not-applied"
	h.sim.Inject(dingdangsim.PathCreateOrder, dingdangsim.Fault{Status: 502, Body: "bad gateway"})
	if _, err := h.client.CreateOrder(ctx, notApplied); status.Code(err) != codes.Unknown {
		t.Fatalf("502 before the vendor: got %v, want UNKNOWN", err)
	}
	if _, err := h.client.CreateOrder(ctx, validOrder("REC-3")); err != nil {
		t.Fatal(err)
	}
	cancel := &deliveryv1.CancelOrderRequest{OriginId: "REC-3", ReasonId: 1, RequestId: "rec-cancel"}
	h.sim.Inject(dingdangsim.PathOrderCancel, dingdangsim.Fault{Status: 502, Body: "bad gateway", AfterHandling: true})
	if _, err := h.client.CancelOrder(ctx, cancel); status.Code(err) != codes.Unknown {
		t.Fatalf("lost cancel reply: got %v, want UNKNOWN", err)
	}
	lost := time.Now()

	waitFor(t, 10*time.Second, "the reconciler resolved all three", func() bool { return len(unresolved(t, h, ctx)) == 0 })
	if took := time.Since(lost); took > 2*interval+2*time.Second {
		t.Errorf("the reconciler took %s, want about one interval (%s)", took, interval)
	}
	for _, id := range []string{"rec-applied", "rec-not-applied", "rec-cancel"} {
		var err error
		// The reconciler holds the request_id while it passes its finding
		// on to the usage ledger: ABORTED meanwhile, as for any repeat.
		waitFor(t, 5*time.Second, id+" no longer held", func() bool {
			_, err = h.client.ResolveOperation(ctx, &deliveryv1.ResolveOperationRequest{RequestId: id,
				Outcome: deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, Note: "late"})
			return status.Code(err) != codes.Aborted
		})
		if status.Code(err) != codes.FailedPrecondition || errorInfo(t, err).GetReason() != idempotency.ReasonOutcomeKnown {
			t.Errorf("resolving %s after the reconciler: got %v, want FAILED_PRECONDITION %s", id, err, idempotency.ReasonOutcomeKnown)
		}
	}
	if got := logs.String(); strings.Count(got, `"resolved_by":"reconciler"`) != 3 {
		t.Errorf("got logs %s, want three resolutions by the reconciler", got)
	}

	sends, reads := h.sim.Calls(dingdangsim.PathCreateOrder), h.sim.Calls(dingdangsim.PathOrderRecord)
	got, err := h.client.CreateOrder(ctx, applied)
	if err != nil {
		t.Fatalf("repeat of the applied dispatch: %v", err)
	}
	want := &deliveryv1.CreateOrderResponse{OriginId: "REC-1", VendorMessage: "成功"}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("repeat (-want +got):\n%s", d)
	}
	_, err = h.client.CreateOrder(ctx, notApplied)
	if status.Code(err) != codes.FailedPrecondition || errorInfo(t, err).GetReason() != idempotency.ReasonNotApplied {
		t.Errorf("repeat of the dispatch never applied: got %v, want FAILED_PRECONDITION %s", err, idempotency.ReasonNotApplied)
	}
	if c, err := h.client.CancelOrder(ctx, cancel); err != nil || c.GetOriginId() != "REC-3" {
		t.Errorf("repeat of the applied cancel: got %v, %v", c, err)
	}
	if s, r := h.sim.Calls(dingdangsim.PathCreateOrder), h.sim.Calls(dingdangsim.PathOrderRecord); s != sends || r != reads {
		t.Errorf("the repeats called the vendor: createOrder %d → %d, orderRecord %d → %d", sends, s, reads, r)
	}
}

// TestOperatorResolvesWhatTheVendorCannotTell: a token whose reply was lost
// (the vendor keeps nothing to read back) and a dispatch are listed, over
// gRPC and REST, in pages, with their method, origin_id and why; the
// operator's resolution is kept with their caller name, and the repeat
// answers from it without a vendor call. Only a caller granted
// ResolveOperation by name may resolve.
func TestOperatorResolvesWhatTheVendorCannotTell(t *testing.T) {
	t.Parallel()
	h := startOperators(t)
	shop := bearer(context.Background(), shopKey)
	operator := bearer(context.Background(), operatorKey)

	if _, err := h.client.UpsertShop(shop, validShop("op-m1")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"op-token-1", "op-token-2"} {
		h.sim.Inject(dingdangsim.PathGetToken, dingdangsim.Fault{Status: 502, Body: "bad gateway", AfterHandling: true})
		_, err := h.client.IssueMerchantToken(shop, &deliveryv1.IssueMerchantTokenRequest{PerUserid: "op-m1", Username: "shop_op-m1",
			Mobile: "13895666331", Password: "hunter2-merchant", RequestId: id})
		if status.Code(err) != codes.Unknown || errorInfo(t, err).GetMetadata()["request_id"] != id {
			t.Fatalf("lost token reply: got %v, want UNKNOWN naming %s", err, id)
		}
	}
	order := validOrder("OP-1")
	order.RequestId = "op-create"
	h.sim.Inject(dingdangsim.PathCreateOrder, dingdangsim.Fault{Status: 502, Body: "bad gateway", AfterHandling: true})
	if _, err := h.client.CreateOrder(shop, order); status.Code(err) != codes.Unknown {
		t.Fatalf("lost dispatch reply: got %v, want UNKNOWN", err)
	}

	// Two pages of two over gRPC, oldest first.
	first, err := h.client.ListUnresolvedOperations(shop, &deliveryv1.ListUnresolvedOperationsRequest{State: "UNKNOWN", PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.client.ListUnresolvedOperations(shop, &deliveryv1.ListUnresolvedOperationsRequest{PageSize: 2, PageToken: first.GetNextPageToken()})
	if err != nil {
		t.Fatal(err)
	}
	ops := append(first.GetOperations(), second.GetOperations()...)
	if len(first.GetOperations()) != 2 || first.GetNextPageToken() == "" || len(ops) != 3 || second.GetNextPageToken() != "" {
		t.Fatalf("pages: got %v then %v, want 2 with a token, then 1 without", first, second)
	}
	created := ops[2]
	if created.GetRequestId() != "op-create" || created.GetMethod() != "CreateOrder" || created.GetOriginId() != "OP-1" ||
		created.GetState() != deliveryv1.OperationState_OPERATION_STATE_UNKNOWN || created.GetCreateTime() == nil ||
		!strings.Contains(created.GetNote(), "dingdang") || len(created.GetResolutions()) != 0 {
		t.Errorf("got operation %v, want op-create, CreateOrder of OP-1, UNKNOWN, with a note naming the vendor failure", created)
	}
	if tok := ops[0]; tok.GetRequestId() != "op-token-1" || tok.GetMethod() != "IssueMerchantToken" || tok.GetOriginId() != "" {
		t.Errorf("got operation %v, want op-token-1 of IssueMerchantToken without origin_id", tok)
	}
	_, err = h.client.ListUnresolvedOperations(shop, &deliveryv1.ListUnresolvedOperationsRequest{PageSize: 3, PageToken: first.GetNextPageToken()})
	if v := violation(err); status.Code(err) != codes.InvalidArgument || v.GetField() != "page_token" {
		t.Errorf("a token with another page_size: got %v, want INVALID_ARGUMENT naming page_token", err)
	}
	listed := &deliveryv1.ListUnresolvedOperationsResponse{}
	if code, body := h.restAs(t, shopKey, http.MethodGet, "/v1/delivery/operations?state=UNKNOWN", nil, listed); code != http.StatusOK ||
		len(listed.GetOperations()) != 3 || listed.GetOperations()[2].GetOriginId() != "OP-1" {
		t.Errorf("REST list: got %d %s", code, body)
	}

	// Resolving wants the grant by name.
	resolve := &deliveryv1.ResolveOperationRequest{RequestId: "op-create", Outcome: deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED,
		Note: "order OP-1 found in the Dingdang console"}
	if _, err := h.client.ResolveOperation(shop, resolve); status.Code(err) != codes.PermissionDenied {
		t.Errorf("resolve by shop: got %v, want PERMISSION_DENIED", err)
	}
	sends, reads := h.sim.Calls(dingdangsim.PathCreateOrder), h.sim.Calls(dingdangsim.PathOrderRecord)
	res, err := h.client.ResolveOperation(operator, resolve)
	if err != nil {
		t.Fatal(err)
	}
	op := res.GetOperation()
	if r := op.GetResolutions(); op.GetState() != deliveryv1.OperationState_OPERATION_STATE_APPLIED || len(r) != 1 ||
		r[0].GetResolvedBy() != "operator" || r[0].GetNote() != resolve.GetNote() ||
		r[0].GetOutcome() != deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED || r[0].GetResolveTime() == nil {
		t.Errorf("got resolved operation %v, want APPLIED by operator with the note", op)
	}
	got, err := h.client.CreateOrder(shop, order)
	if err != nil || got.GetOriginId() != "OP-1" {
		t.Fatalf("repeat after APPLIED: got %v, %v, want the order", got, err)
	}
	if s, r := h.sim.Calls(dingdangsim.PathCreateOrder), h.sim.Calls(dingdangsim.PathOrderRecord); s != sends || r != reads {
		t.Errorf("the resolution or the repeat called the vendor: createOrder %d → %d, orderRecord %d → %d", sends, s, reads, r)
	}

	// NOT_APPLIED over REST: the repeat is FAILED_PRECONDITION and sends nothing.
	tokens := h.sim.Calls(dingdangsim.PathGetToken)
	code, body := h.restAs(t, operatorKey, http.MethodPost, "/v1/delivery/operations/op-token-1:resolve",
		&deliveryv1.ResolveOperationRequest{Outcome: deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED, Note: "no token issued"}, nil)
	if code != http.StatusOK || !strings.Contains(body, `"resolved_by":"operator"`) || !strings.Contains(body, "OPERATION_STATE_NOT_APPLIED") {
		t.Errorf("REST resolve: got %d %s", code, body)
	}
	_, err = h.client.IssueMerchantToken(shop, &deliveryv1.IssueMerchantTokenRequest{PerUserid: "op-m1", Username: "shop_op-m1",
		Mobile: "13895666331", Password: "hunter2-merchant", RequestId: "op-token-1"})
	if status.Code(err) != codes.FailedPrecondition || errorInfo(t, err).GetReason() != idempotency.ReasonNotApplied {
		t.Errorf("repeat after NOT_APPLIED: got %v, want FAILED_PRECONDITION %s", err, idempotency.ReasonNotApplied)
	}
	if n := h.sim.Calls(dingdangsim.PathGetToken); n != tokens {
		t.Errorf("getToken calls: %d → %d, want none", tokens, n)
	}
	if left := unresolved(t, h, operator); len(left) != 1 || left[0].GetRequestId() != "op-token-2" {
		t.Errorf("still unresolved: got %v, want op-token-2 only", left)
	}
	_, err = h.client.ResolveOperation(operator, &deliveryv1.ResolveOperationRequest{RequestId: "op-none",
		Outcome: deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, Note: "x"})
	if status.Code(err) != codes.NotFound || errorInfo(t, err).GetReason() != idempotency.ReasonOperationNotFound {
		t.Errorf("resolve of an unknown request_id: got %v, want NOT_FOUND %s", err, idempotency.ReasonOperationNotFound)
	}
	_, err = h.client.ResolveOperation(operator, &deliveryv1.ResolveOperationRequest{RequestId: "op-token-2",
		Outcome: deliveryv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, Note: "two\nlines"})
	if v := violation(err); status.Code(err) != codes.InvalidArgument || v.GetField() != "note" {
		t.Errorf("a note with a line break: got %v, want INVALID_ARGUMENT naming note", err)
	}
}

// TestControlCharactersInHeaderFieldsAreRefused: a caller allowed only
// reads sends 20 requests, over gRPC and REST, with a NUL, CR or LF in a
// field Dingdang takes in an HTTP header: each is INVALID_ARGUMENT / 400
// naming the field, none reaches the vendor, and the breaker stays shut:
// another caller's call succeeds right after.
func TestControlCharactersInHeaderFieldsAreRefused(t *testing.T) {
	t.Parallel()
	h := startOperators(t, "DINGDANG_BREAKER_FAILURES=2")
	shop := bearer(context.Background(), shopKey)
	looker := bearer(context.Background(), lookerKey)
	if _, err := h.client.UpsertShop(shop, validShop("cc-m1")); err != nil {
		t.Fatal(err)
	}
	sent := h.sim.Calls(dingdangsim.PathGetShopInfo)
	bad := []string{"\x00", "\r", "\n", "\r\nX-Injected: 1"}
	for i := range 20 {
		v := "shop_cc-m1" + bad[i%len(bad)]
		field, req := "username", &deliveryv1.GetShopRequest{PerUserid: "cc-m1", Username: v}
		if i%3 == 2 {
			field, req = "headquarters_id", &deliveryv1.GetShopRequest{PerUserid: "cc-m1", Username: "shop_cc-m1", HeadquartersId: v}
		}
		if i%2 == 0 {
			_, err := h.client.GetShop(looker, req)
			if got := violation(err); status.Code(err) != codes.InvalidArgument || got.GetField() != field {
				t.Errorf("gRPC %d (%q in %s): got %v, want INVALID_ARGUMENT naming %s", i, bad[i%len(bad)], field, err, field)
			}
			continue
		}
		q := url.Values{"username": {req.GetUsername()}, "headquarters_id": {req.GetHeadquartersId()}}
		code, body := h.restAs(t, lookerKey, http.MethodGet, "/v1/delivery/shops/cc-m1?"+q.Encode(), nil, nil)
		if code != http.StatusBadRequest || !strings.Contains(body, `"field":"`+field+`"`) {
			t.Errorf("REST %d (%q in %s): got %d %s, want 400 naming %s", i, bad[i%len(bad)], field, code, body, field)
		}
	}
	if n := h.sim.Calls(dingdangsim.PathGetShopInfo); n != sent {
		t.Errorf("getShopInfo calls: %d → %d, want none of the refused requests sent", sent, n)
	}
	if got, err := h.client.GetShop(shop, &deliveryv1.GetShopRequest{PerUserid: "cc-m1", Username: "shop_cc-m1"}); err != nil ||
		got.GetShop().GetPerUserid() != "cc-m1" {
		t.Errorf("another caller's read right after: got %v, %v, want the shop (the breaker shut)", got, err)
	}
}

// TestUnknownDispatchCostSettles: a dispatch whose reply was lost is booked
// in the usage ledger at its price as unknown; the reconciler's finding
// settles it (applied: a known cost; not applied: nothing).
func TestUnknownDispatchCostSettles(t *testing.T) {
	t.Parallel()
	h := start(t, "DINGDANG_DISPATCH_PRICE_YUAN=6.50", "DELIVERY_RECONCILE_INTERVAL=200ms")
	ctx := context.Background()
	report := func() *deliveryv1.GetUsageResponse {
		r, err := h.client.GetUsage(ctx, &deliveryv1.GetUsageRequest{StartTime: timestamppb.New(time.Now().Add(-time.Hour)),
			EndTime: timestamppb.New(time.Now().Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	order := validOrder("COST-1")
	order.RequestId = "cost-1"
	h.sim.Inject(dingdangsim.PathCreateOrder, dingdangsim.Fault{Status: 502, Body: "bad gateway", AfterHandling: true})
	// The reconciler must not get there first: hold its read back.
	entered, release := h.sim.Hold(dingdangsim.PathOrderRecord)
	defer release()
	if _, err := h.client.CreateOrder(ctx, order); status.Code(err) != codes.Unknown {
		t.Fatalf("lost reply: got %v, want UNKNOWN", err)
	}
	waitFor(t, 5*time.Second, "the unknown dispatch booked", func() bool {
		return report().GetReport().GetTotalUnknownCostYuan() == "6.50"
	})
	<-entered
	release()
	waitFor(t, 5*time.Second, "the reconciler resolved it", func() bool {
		return report().GetReport().GetTotalUnknownCostYuan() == "0.00"
	})
	if got := report().GetReport(); got.GetTotalCostYuan() != "6.50" {
		t.Errorf("after the reconciler found it applied: got cost ¥%s, want ¥6.50", got.GetTotalCostYuan())
	}

	never := validOrder("COST-2")
	never.RequestId = "cost-2"
	h.sim.Inject(dingdangsim.PathCreateOrder, dingdangsim.Fault{Status: 502, Body: "bad gateway"})
	if _, err := h.client.CreateOrder(ctx, never); status.Code(err) != codes.Unknown {
		t.Fatalf("502 before the vendor: got %v, want UNKNOWN", err)
	}
	waitFor(t, 5*time.Second, "the dispatch never applied resolved", func() bool { return len(unresolved(t, h, ctx)) == 0 })
	// The ledger learns of a resolution after it is recorded (OnResolve
	// runs once the request_id's lock is released): it settles shortly.
	var got *usagev1.UsageReport
	settled := func() bool {
		got = report().GetReport()
		return got.GetTotalCostYuan() == "6.50" && got.GetTotalUnknownCostYuan() == "0.00"
	}
	for deadline := time.Now().Add(5 * time.Second); !settled() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !settled() {
		t.Errorf("after the reconciler found it not applied: got cost ¥%s (unknown ¥%s), want ¥6.50 (unknown ¥0.00)",
			got.GetTotalCostYuan(), got.GetTotalUnknownCostYuan())
	}
}

// TestInterruptedDispatchUnderAnotherOrdersID: a dispatch the vendor never
// saw, under an origin_id that another order holds, is settled on its
// repeat: the caller gets ALREADY_EXISTS once, the record is NOT_APPLIED by
// the service, and later repeats get OPERATION_NOT_APPLIED, with no
// createOrder sent.
func TestInterruptedDispatchUnderAnotherOrdersID(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()
	if _, err := h.client.CreateOrder(ctx, validOrder("TAKEN-1")); err != nil {
		t.Fatal(err)
	}
	mine := validOrder("TAKEN-1")
	mine.ReceiverName, mine.ReceiverPhone, mine.RequestId = "宋江", "13812345678", "taken-1"
	h.sim.Inject(dingdangsim.PathCreateOrder, dingdangsim.Fault{Status: 502, Body: "bad gateway"})
	if _, err := h.client.CreateOrder(ctx, mine); status.Code(err) != codes.Unknown {
		t.Fatalf("502: got %v, want UNKNOWN", err)
	}
	sends := h.sim.Calls(dingdangsim.PathCreateOrder)
	if _, err := h.client.CreateOrder(ctx, mine); status.Code(err) != codes.AlreadyExists {
		t.Errorf("repeat: got %v, want ALREADY_EXISTS (the origin_id is another order's)", err)
	}
	_, err := h.client.CreateOrder(ctx, mine)
	if status.Code(err) != codes.FailedPrecondition || errorInfo(t, err).GetReason() != idempotency.ReasonNotApplied {
		t.Errorf("second repeat: got %v, want FAILED_PRECONDITION %s", err, idempotency.ReasonNotApplied)
	}
	if n := h.sim.Calls(dingdangsim.PathCreateOrder); n != sends {
		t.Errorf("createOrder calls: %d → %d, want none", sends, n)
	}
}

// TestSandboxLosesTheReplyOfLostOrders: in sandbox mode a dispatch whose
// origin_id starts with LOST- is applied and its reply lost, so that the
// README can show an unknown outcome, its listing and its read-back.
func TestSandboxLosesTheReplyOfLostOrders(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"SANDBOX=1", "AUTH_MODE=none", "DELIVERY_ADDR=127.0.0.1:0",
			"DELIVERY_DATABASE_URL=" + sqlstoretest.SQLiteURL(t)}, &logtest.Buffer{}, func(a net.Addr) { addrs <- a.String() })
	}()
	var c deliveryv1.DeliveryServiceClient
	select {
	case a := <-addrs:
		c = dial(t, a)
	case err := <-done:
		t.Fatal(err)
	}
	o := validOrder("LOST-1")
	o.RequestId = "sandbox-lost-1"
	_, err := c.CreateOrder(ctx, o)
	if status.Code(err) != codes.Unknown || errorInfo(t, err).GetMetadata()["request_id"] != "sandbox-lost-1" {
		t.Fatalf("got %v, want UNKNOWN OUTCOME_UNKNOWN naming sandbox-lost-1", err)
	}
	ops, err := c.ListUnresolvedOperations(ctx, &deliveryv1.ListUnresolvedOperationsRequest{State: "UNKNOWN"})
	if err != nil || len(ops.GetOperations()) != 1 || ops.GetOperations()[0].GetOriginId() != "LOST-1" {
		t.Fatalf("listed: got %v, %v, want LOST-1", ops, err)
	}
	if got, err := c.CreateOrder(ctx, o); err != nil || got.GetOriginId() != "LOST-1" {
		t.Errorf("repeat: got %v, %v, want the order read back", got, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
