package server_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/idempotency/contracttest"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30sim"
)

// TestBillingContract runs the one request_id wire contract against
// Recharge over gRPC, with the 30post simulator: 30post cannot be asked,
// so a lost reply stays unknown until ResolveOperation.
func TestBillingContract(t *testing.T) {
	t.Parallel()
	svc := start(t, setup{})
	amounts := []string{"1.00", "2.00"}
	contracttest.Run(t, contracttest.Service{
		Call: func(ctx context.Context, requestID string, variant int) error {
			_, err := svc.billing.Recharge(ctx, &logisticsv1.RechargeRequest{RequestId: requestID, Phone: "+61412345678", Amount: amounts[variant]})
			return err
		},
		Hold: func(*testing.T) (<-chan struct{}, func()) { return svc.p30.HoldNext() },
		LoseNextReply: func(*testing.T) {
			svc.p30.DropNext()
		},
		ReadsBack: false,
		Resolve: func(ctx context.Context, requestID string, applied bool) error {
			outcome := logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED
			if applied {
				outcome = logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED
			}
			_, err := svc.billing.ResolveOperation(ctx, &logisticsv1.ResolveOperationRequest{RequestId: requestID, Outcome: outcome, Note: "contract"})
			return err
		},
	})
}

// TestBreakerRefusalFreesRequestID: 30post refuses connections until the
// breaker opens; the recharges it refused were never sent, so once 30post
// is back (after the breaker's open window) the same request_id is sent
// and succeeds. The old bookkeeping answered VENDOR_REFUSED for it forever.
func TestBreakerRefusalFreesRequestID(t *testing.T) {
	t.Parallel()
	// The breaker's window is wide enough for the call made while it is
	// open on a loaded machine; the test then waits out only what is left
	// of it (gobreaker reads the wall clock).
	const openFor = 2 * time.Second
	svc := start(t, setup{p30Call: vendorcall.Config{BreakerFailures: 2, BreakerOpenFor: openFor}})
	ctx := ctxT(t)
	const phone = "+61412345670"
	req := &logisticsv1.RechargeRequest{RequestId: "breaker-1", Phone: phone, Amount: "3.00"}
	svc.p30srv.down()
	var opened time.Time // after the breaker opened
	for i, reason := range []string{"VENDOR_UNAVAILABLE", "VENDOR_UNAVAILABLE", "VENDOR_CIRCUIT_OPEN"} {
		_, err := svc.billing.Recharge(ctx, req)
		if i == 1 {
			opened = time.Now()
		}
		if st := status.Convert(err); st.Code() != codes.Unavailable || reasonOf(st) != reason {
			t.Fatalf("recharge %d while 30post is down: got %v (reason %q), want UNAVAILABLE %s", i, err, reasonOf(st), reason)
		}
	}
	svc.p30srv.up()
	time.Sleep(time.Until(opened.Add(openFor + 10*time.Millisecond)))
	resp, err := svc.billing.Recharge(ctx, req)
	if err != nil || resp.GetOperation().GetState() != logisticsv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("the same request_id once 30post is back: got %v, %v; want SUCCEEDED", resp, err)
	}
	if got := svc.p30.Balance(phone, ""); got != 300 {
		t.Errorf("balance: got %d, want 300", got)
	}
	if got := svc.p30.Received(post30.DefaultRechargePath); got != 1 {
		t.Errorf("got %d recharges at 30post, want 1", got)
	}
}

// TestStoreFailureAfterRecharge: the store fails after 30post applied a
// recharge and before its answer is recorded. The caller is told the
// outcome is unknown (never INTERNAL, which would invite a new request_id
// and a second recharge), and the movement is listed for the operator
// once the store is back.
func TestStoreFailureAfterRecharge(t *testing.T) {
	t.Parallel()
	var broke atomic.Bool
	svc := start(t, setup{p30Applied: func(svc *service, path string) {
		if path == post30.DefaultRechargePath && broke.CompareAndSwap(false, true) {
			rename(t, svc.db, "idempotency_records", "idempotency_records_gone")
		}
	}})
	ctx := ctxT(t)
	req := &logisticsv1.RechargeRequest{RequestId: "store-down-1", Phone: "+61412345671", Amount: "7.00"}
	_, err := svc.billing.Recharge(ctx, req)
	st := status.Convert(err)
	expect(t, st, codes.Unknown, idempotency.ReasonOutcomeUnknown)
	if got := metadataOf(st)["request_id"]; got != req.RequestId {
		t.Errorf("got metadata request_id %q, want %q", got, req.RequestId)
	}
	rename(t, svc.db, "idempotency_records_gone", "idempotency_records")
	deadline := time.Now().Add(15 * time.Second)
	for {
		list, err := svc.billing.ListUnresolvedOperations(ctx, &logisticsv1.ListUnresolvedOperationsRequest{})
		if err == nil && len(list.GetOperations()) == 1 && list.GetOperations()[0].GetRequestId() == req.RequestId &&
			list.GetOperations()[0].GetAmount() == "7.00" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %v, %v; want the recharge listed once the store is back", list, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err = svc.billing.Recharge(ctx, req)
	expect(t, status.Convert(err), codes.Unknown, idempotency.ReasonOutcomeUnknown)
	if got := svc.p30.Balance("+61412345671", ""); got != 700 {
		t.Errorf("balance: got %d, want 700 (applied once)", got)
	}
}

func rename(t *testing.T, db *sqlstore.DB, from, to string) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), `ALTER TABLE `+from+` RENAME TO `+to); err != nil {
		t.Error(err)
	}
}

// TestReconciler: a damaijia order whose reply was lost is resolved
// applied by the reconciler, without an operator, and
// its repeat returns the order without a second order_create; a 30post
// movement whose reply was lost stays for the operator.
func TestReconciler(t *testing.T) {
	t.Parallel()
	const interval = 300 * time.Millisecond
	var lose atomic.Bool
	svc := start(t, setup{loseOrder: &lose, reconcile: interval})
	ctx := ctxT(t)
	if _, err := svc.parcels.ListWarehouses(ctx, &logisticsv1.ListWarehousesRequest{}); err != nil {
		t.Fatal(err)
	}
	lose.Store(true)
	req := order("S-RECON", "P001")
	req.RequestId = "recon-order-1"
	_, err := svc.parcels.CreateParcelOrder(ctx, req)
	expect(t, status.Convert(err), codes.Unknown, idempotency.ReasonOutcomeUnknown)
	unknownAt := time.Now()
	_, err = svc.billing.Recharge(ctx, &logisticsv1.RechargeRequest{RequestId: "recon-recharge-1", Phone: post30sim.DropPhone, Amount: "4.00"})
	expect(t, status.Convert(err), codes.Unknown, idempotency.ReasonOutcomeUnknown)

	for {
		op, err := svc.ids.Get(ctx, req.RequestId)
		if err == nil && op.Outcome() == idempotency.Applied {
			if len(op.Resolutions) != 1 || op.Resolutions[0].By != idempotency.ResolvedByReconciler {
				t.Errorf("got resolutions %+v, want one by the reconciler", op.Resolutions)
			}
			break
		}
		// One interval is the design; the bound is generous, as a loaded
		// CI machine under -race stretches the reconciler's round: what
		// this test holds is that no operator is needed.
		if time.Since(unknownAt) > interval+15*time.Second {
			t.Fatalf("got %+v, %v; want the order resolved applied by the reconciler", op, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The reconciler may still hold the request_id for a moment after it
	// recorded the outcome: a repeat then gets ABORTED (in flight, retry),
	// as any caller would, and retries.
	resp, err := svc.parcels.CreateParcelOrder(ctx, req)
	for deadline := time.Now().Add(10 * time.Second); status.Code(err) == codes.Aborted && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		resp, err = svc.parcels.CreateParcelOrder(ctx, req)
	}
	if err != nil || resp.GetOrderSn() == "" || resp.GetSiteOrderId() != "S-RECON" {
		t.Fatalf("repeat after the reconciler: got %v, %v; want the order", resp, err)
	}
	if got := svc.dmj.Creates(); got != 1 {
		t.Errorf("got %d order_create calls, want 1", got)
	}
	time.Sleep(2 * interval)
	list, err := svc.billing.ListUnresolvedOperations(ctx, &logisticsv1.ListUnresolvedOperationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ops := list.GetOperations(); len(ops) != 1 || ops[0].GetRequestId() != "recon-recharge-1" || ops[0].GetMethod() != "Recharge" {
		t.Errorf("got unresolved %v, want only the recharge, for the operator", ops)
	}
	if got := gauge(t, svc); got != 1 {
		t.Errorf("unresolved gauge: got %v, want 1", got)
	}
}

// TestLegacyMovementsImported: what the billing package recorded on its
// own before the one engine is imported at start: an unresolved movement
// stays unknown (listed, never re-sent), an applied one's repeat returns
// its answer without a vendor call.
func TestLegacyMovementsImported(t *testing.T) {
	t.Parallel()
	created := time.Now().Add(-time.Minute).UnixMilli()
	svc := start(t, setup{before: func(db *sqlstore.DB) {
		for _, row := range [][]any{
			{"legacy-unknown", "RECHARGE", "+61412345672", "", "5.00", "", "UNKNOWN", "30post's answer never came"},
			{"legacy-ok", "DEDUCTION", "+61412345672", "", "1.50", "A9", "SUCCEEDED", ""},
			{"legacy-refused", "RECHARGE", "+61412345672", "", "2.00", "", "FAILED", "余额不足"},
		} {
			if _, err := db.ExecContext(context.Background(), `INSERT INTO logistics_legacy_operations
				(request_id, kind, phone, email, amount, express_no, state, vendor_message, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, append(row, created)...); err != nil {
				t.Fatal(err)
			}
		}
	}})
	ctx := ctxT(t)
	list, err := svc.billing.ListUnresolvedOperations(ctx, &logisticsv1.ListUnresolvedOperationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ops := list.GetOperations(); len(ops) != 1 || ops[0].GetRequestId() != "legacy-unknown" || ops[0].GetAmount() != "5.00" {
		t.Fatalf("got unresolved %v, want legacy-unknown", ops)
	}
	_, err = svc.billing.Recharge(ctx, &logisticsv1.RechargeRequest{RequestId: "legacy-unknown", Phone: "+61412345672", Amount: "5"})
	expect(t, status.Convert(err), codes.Unknown, idempotency.ReasonOutcomeUnknown)
	resp, err := svc.billing.Deduct(ctx, &logisticsv1.DeductRequest{RequestId: "legacy-ok", Phone: "+61412345672", Amount: "1.5", ExpressNo: "A9"})
	if err != nil || resp.GetOperation().GetState() != logisticsv1.OperationState_OPERATION_STATE_SUCCEEDED ||
		resp.GetOperation().GetCreateTime().AsTime().UnixMilli() != created {
		t.Errorf("repeat of the applied legacy deduction: got %v, %v; want its recorded answer", resp, err)
	}
	if got := svc.p30.Calls(); got != 0 {
		t.Errorf("got %d 30post calls, want 0", got)
	}
}
