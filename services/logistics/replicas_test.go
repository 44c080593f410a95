package main

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/proctest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30sim"
)

// TestMain lets proctest re-execute this test binary as the service.
func TestMain(m *testing.M) {
	proctest.Main(m, func(ctx context.Context, environ []string, logw io.Writer, onListen func(net.Addr)) error {
		return run(ctx, environ, logw, onListen)
	})
}

const (
	testAppID, testAppSecret = "dmj-app", "dmj-secret-never-logged"
	testAK, testSK           = "c2e2e01c-6c95-4146-99d6-815811755603", "5fd68fbe-16a4-4851-bc56-3b1890a40a90"
)

// vendors are the simulators, served by the test process so that they
// outlive the service processes and count every call.
type vendors struct {
	dmj *damaijiasim.Simulator
	p30 *post30sim.Simulator
	env []string
}

// startVendors serves both simulators and returns them with the service
// environment that points at them and at a Postgres schema of its own.
func startVendors(t *testing.T, dmj damaijiasim.Options) *vendors {
	t.Helper()
	dmj.AppID, dmj.AppSecret = testAppID, testAppSecret
	v := &vendors{dmj: damaijiasim.New(dmj)}
	dsrv := httptest.NewServer(v.dmj.Handler())
	t.Cleanup(dsrv.Close)
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	v.p30 = post30sim.New(post30sim.Options{Keys: map[string]string{testAK: testSK}, Location: shanghai})
	psrv := httptest.NewServer(v.p30.Handler())
	t.Cleanup(psrv.Close)
	v.env = []string{
		"SANDBOX=", "LOGISTICS_ADDR=127.0.0.1:0", "LOG_LEVEL=debug",
		// Authentication is beside these tests (access_test.go covers it).
		"AUTH_MODE=none",
		"LOGISTICS_DATABASE_URL=" + sqlstoretest.PostgresURL(t, "logistics_proc"),
		"DAMAIJIA_BASE_URL=" + dsrv.URL, "DAMAIJIA_APP_ID=" + testAppID, "DAMAIJIA_APP_SECRET=" + testAppSecret,
		// Two hundred calls refused for an expired token at once must not
		// open the breaker on a loaded machine.
		"DAMAIJIA_BREAKER_FAILURES=10000", "DAMAIJIA_TIMEOUT=30s",
		"POST30_BASE_URL=" + psrv.URL, "POST30_ACCESS_KEY=" + testAK, "POST30_SECRET_KEY=" + testSK,
	}
	return v
}

// dial returns a gRPC connection to p, closed when the test ends.
func dial(t *testing.T, p *proctest.Proc) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// afterInFlight repeats call while it is ABORTED REQUEST_ID_IN_FLIGHT, as
// a caller is told to: after a restart the service's first count of the
// unresolved operations holds each orphaned request_id for a moment.
func afterInFlight[T any](call func() (T, error)) (T, error) {
	// A moment on a loaded machine may be seconds.
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := call()
		if reason(err) != "REQUEST_ID_IN_FLIGHT" || time.Now().After(deadline) {
			return resp, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestCrashAfterOrderCreated: the service dies after damaijia created the
// order and before the request_id's answer was recorded. After a restart
// the same request_id is read back by site_order_id: the caller gets the
// order, and damaijia saw one order_create.
func TestCrashAfterOrderCreated(t *testing.T) {
	t.Parallel()
	v := startVendors(t, damaijiasim.Options{ShipAfter: time.Hour})
	ctx := callCtx(t)
	req := &logisticsv1.CreateParcelOrderRequest{
		RequestId: "crash-create-1", SiteOrderId: "CRASH-1", ProductId: "P001", ProductNumber: 1,
		Source: logisticsv1.SalesPlatform_SALES_PLATFORM_JD,
		Consignees: []*logisticsv1.Consignee{{Consignee: "张三", Mobile: "13800138000", Province: "浙江省",
			City: "杭州市", District: "西湖区", Address: "文三路 1 号"}},
	}

	first := proctest.Start(t, v.env, proctest.Options{CrashAt: "idempotency.before-commit:CreateParcelOrder"})
	if _, err := logisticsv1.NewParcelServiceClient(dial(t, first)).CreateParcelOrder(ctx, req); err == nil {
		t.Fatal("CreateParcelOrder answered; want the process to die before it could")
	}
	if code := first.Wait(30 * time.Second); code != proctest.CrashExitCode {
		t.Fatalf("got exit code %d, want %d (killed at the crashpoint)", code, proctest.CrashExitCode)
	}
	if got := v.dmj.Creates(); got != 1 {
		t.Fatalf("got %d order_create calls before the crash, want 1", got)
	}

	second := proctest.Start(t, v.env, proctest.Options{})
	parcels := logisticsv1.NewParcelServiceClient(dial(t, second))
	resp, err := afterInFlight(func() (*logisticsv1.CreateParcelOrderResponse, error) { return parcels.CreateParcelOrder(ctx, req) })
	if err != nil {
		t.Fatalf("the same request_id after the restart: got %v, want the order read back", err)
	}
	pkgs, err := parcels.ListPackages(ctx, &logisticsv1.ListPackagesRequest{SiteOrderId: "CRASH-1"})
	if err != nil || len(pkgs.GetPackages()) != 1 || pkgs.GetPackages()[0].GetOrderSn() != resp.GetOrderSn() {
		t.Errorf("got order %q and packages %v (%v), want one package of that order", resp.GetOrderSn(), pkgs.GetPackages(), err)
	}
	again, err := parcels.CreateParcelOrder(ctx, req)
	if err != nil || again.GetOrderSn() != resp.GetOrderSn() {
		t.Errorf("a further repeat: got %v, %v; want the recorded %q", again, err, resp.GetOrderSn())
	}
	if got := v.dmj.Creates(); got != 1 {
		t.Errorf("got %d order_create calls in all, want 1", got)
	}
}

// TestCrashAfterCancel: the service dies after damaijia cancelled the
// order and before the request_id's answer was recorded. After a restart
// the same request_id finds the packages cancelled and answers without a
// second cancel call.
func TestCrashAfterCancel(t *testing.T) {
	t.Parallel()
	v := startVendors(t, damaijiasim.Options{ShipAfter: time.Hour})
	ctx := callCtx(t)
	first := proctest.Start(t, v.env, proctest.Options{CrashAt: "idempotency.before-commit:CancelParcelOrder"})
	parcels := logisticsv1.NewParcelServiceClient(dial(t, first))
	if _, err := parcels.CreateParcelOrder(ctx, &logisticsv1.CreateParcelOrderRequest{
		SiteOrderId: "CRASH-2", ProductId: "P001", ProductNumber: 1, Source: logisticsv1.SalesPlatform_SALES_PLATFORM_JD,
		Consignees: []*logisticsv1.Consignee{{Consignee: "张三", Mobile: "13800138000", Province: "浙江省",
			City: "杭州市", District: "西湖区", Address: "文三路 1 号"}},
	}); err != nil {
		t.Fatal(err)
	}
	req := &logisticsv1.CancelParcelOrderRequest{SiteOrderId: "CRASH-2", RequestId: "crash-cancel-1"}
	if _, err := parcels.CancelParcelOrder(ctx, req); err == nil {
		t.Fatal("CancelParcelOrder answered; want the process to die before it could")
	}
	if code := first.Wait(30 * time.Second); code != proctest.CrashExitCode {
		t.Fatalf("got exit code %d, want %d (killed at the crashpoint)", code, proctest.CrashExitCode)
	}
	second := proctest.Start(t, v.env, proctest.Options{})
	resp, err := afterInFlight(func() (*logisticsv1.CancelParcelOrderResponse, error) {
		return logisticsv1.NewParcelServiceClient(dial(t, second)).CancelParcelOrder(ctx, req)
	})
	if err != nil || resp.GetSiteOrderId() != "CRASH-2" {
		t.Errorf("the same request_id after the restart: got %v, %v; want the cancel read back", resp, err)
	}
	if got := v.dmj.Cancels(); got != 1 {
		t.Errorf("got %d cancel calls in all, want 1", got)
	}
}

// TestCrashAfterRecharge: the service dies after 30post applied a
// recharge and before its outcome was recorded. After a restart the same
// request_id is UNKNOWN (30post cannot be asked), is never re-sent, and
// is listed for the operator, who resolves it.
func TestCrashAfterRecharge(t *testing.T) {
	t.Parallel()
	v := startVendors(t, damaijiasim.Options{})
	ctx := callCtx(t)
	req := &logisticsv1.RechargeRequest{RequestId: "crash-recharge-1", Phone: "+61412345678", Amount: "20.00"}

	first := proctest.Start(t, v.env, proctest.Options{CrashAt: "billing.after-vendor:RECHARGE"})
	if _, err := logisticsv1.NewBillingServiceClient(dial(t, first)).Recharge(ctx, req); err == nil {
		t.Fatal("Recharge answered; want the process to die before it could")
	}
	if code := first.Wait(30 * time.Second); code != proctest.CrashExitCode {
		t.Fatalf("got exit code %d, want %d (killed at the crashpoint)", code, proctest.CrashExitCode)
	}
	if got := v.p30.Calls(); got != 1 {
		t.Fatalf("got %d 30post calls before the crash, want 1", got)
	}

	second := proctest.Start(t, v.env, proctest.Options{})
	bill := logisticsv1.NewBillingServiceClient(dial(t, second))
	_, err := afterInFlight(func() (*logisticsv1.RechargeResponse, error) { return bill.Recharge(ctx, req) })
	if status.Code(err) != codes.Unknown || reason(err) != "OUTCOME_UNKNOWN" {
		t.Errorf("the same request_id after the restart: got %v, want UNKNOWN OUTCOME_UNKNOWN", err)
	}
	if got, bal := v.p30.Calls(), v.p30.Balance("+61412345678", ""); got != 1 || bal != 2000 {
		t.Errorf("got %d 30post calls and balance %d, want 1 and 2000 (never re-sent)", got, bal)
	}
	list, err := bill.ListUnresolvedOperations(ctx, &logisticsv1.ListUnresolvedOperationsRequest{State: "UNKNOWN"})
	if err != nil {
		t.Fatal(err)
	}
	if ops := list.GetOperations(); len(ops) != 1 || ops[0].GetRequestId() != req.GetRequestId() ||
		ops[0].GetState() != logisticsv1.OperationState_OPERATION_STATE_UNKNOWN {
		t.Fatalf("got unresolved %v, want %s UNKNOWN", ops, req.GetRequestId())
	}
	if _, err := bill.ResolveOperation(ctx, &logisticsv1.ResolveOperationRequest{RequestId: req.GetRequestId(),
		Outcome: logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, Note: "seen on the 30post console"}); err != nil {
		t.Fatal(err)
	}
	resp, err := bill.Recharge(ctx, req)
	if err != nil || resp.GetOperation().GetState() != logisticsv1.OperationState_OPERATION_STATE_APPLIED {
		t.Errorf("repeat after the resolution: got %v, %v; want APPLIED", resp, err)
	}
	if got := v.p30.Calls(); got != 1 {
		t.Errorf("got %d 30post calls in all, want 1", got)
	}
}

// TestTwoReplicasShareTheToken: two processes of the service share one
// Postgres and a damaijia whose every login revokes the older tokens. 200
// concurrent calls split between them, in three waves with the tokens
// expired between waves, make three logins: the first one, then one per
// expiry (2 renewals). Without the shared token, every replica would log
// in on its own and each login would revoke the other's token.
func TestTwoReplicasShareTheToken(t *testing.T) {
	t.Parallel()
	v := startVendors(t, damaijiasim.Options{RevokeOnLogin: true})
	ctx := callCtx(t)
	procs := []*proctest.Proc{proctest.Start(t, v.env, proctest.Options{}), proctest.Start(t, v.env, proctest.Options{})}
	replicas := []logisticsv1.ParcelServiceClient{
		logisticsv1.NewParcelServiceClient(dial(t, procs[0])), logisticsv1.NewParcelServiceClient(dial(t, procs[1])),
	}
	wave := func(n int) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := replicas[i%2].ListWarehouses(ctx, &logisticsv1.ListWarehousesRequest{})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("got %v, want every call to succeed", err)
			}
		}
	}
	wave(67)
	if got := v.dmj.Logins(); got != 1 {
		t.Errorf("after the first wave: got %d logins, want 1", got)
	}
	v.dmj.ExpireTokens()
	wave(67)
	v.dmj.ExpireTokens()
	wave(66)
	if got := v.dmj.Logins(); got != 3 {
		t.Errorf("got %d logins in all, want 3: the first, then one per expiry (2 renewals)", got)
	}
	for i, p := range procs {
		logs := p.Logs()
		if !strings.Contains(logs, "vendor login succeeded") && !strings.Contains(logs, "logistics listening") {
			t.Errorf("replica %d: its log is empty; the check below proves nothing", i)
		}
		for _, secret := range append(v.dmj.Issued(), testAppSecret) {
			if strings.Contains(logs, secret) {
				t.Errorf("replica %d logged a token or the app secret", i)
			}
		}
	}
}
