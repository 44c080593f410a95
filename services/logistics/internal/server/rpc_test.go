package server_test

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30sim"
)

// call is one RPC, sent over gRPC or over REST.
type call struct {
	grpc         func(ctx context.Context, svc *service) (proto.Message, error)
	method, path string
	body         proto.Message
	resp         func() proto.Message
}

// send sends c over transport ("grpc" or "rest").
func (c call) send(ctx context.Context, svc *service, transport string) (proto.Message, *status.Status) {
	if transport == "grpc" {
		resp, err := c.grpc(ctx, svc)
		return resp, status.Convert(err)
	}
	resp := c.resp()
	return resp, rest(ctx, svc, c.method, c.path, c.body, resp)
}

var transports = []string{"grpc", "rest"}

func listWarehouses() call {
	return call{
		grpc: func(ctx context.Context, svc *service) (proto.Message, error) {
			return svc.parcels.ListWarehouses(ctx, &logisticsv1.ListWarehousesRequest{})
		},
		method: "GET", path: "/v1/logistics/warehouses",
		resp: func() proto.Message { return &logisticsv1.ListWarehousesResponse{} },
	}
}

func listProducts(warehouse string, size int32, token string) call {
	req := &logisticsv1.ListProductsRequest{WarehouseId: warehouse, PageSize: size, PageToken: token}
	q := url.Values{}
	if size != 0 {
		q.Set("page_size", fmtInt(int(size)))
	}
	if token != "" {
		q.Set("page_token", token)
	}
	return call{
		grpc: func(ctx context.Context, svc *service) (proto.Message, error) {
			return svc.parcels.ListProducts(ctx, req)
		},
		method: "GET", path: "/v1/logistics/warehouses/" + url.PathEscape(warehouse) + "/products?" + q.Encode(),
		resp: func() proto.Message { return &logisticsv1.ListProductsResponse{} },
	}
}

func createOrder(req *logisticsv1.CreateParcelOrderRequest) call {
	return call{
		grpc: func(ctx context.Context, svc *service) (proto.Message, error) {
			return svc.parcels.CreateParcelOrder(ctx, req)
		},
		method: "POST", path: "/v1/logistics/parcel-orders", body: req,
		resp: func() proto.Message { return &logisticsv1.CreateParcelOrderResponse{} },
	}
}

func cancelOrder(id string) call { return cancelOrderOnce(id, "") }

func cancelOrderOnce(id, requestID string) call {
	return call{
		grpc: func(ctx context.Context, svc *service) (proto.Message, error) {
			return svc.parcels.CancelParcelOrder(ctx, &logisticsv1.CancelParcelOrderRequest{SiteOrderId: id, RequestId: requestID})
		},
		method: "POST", path: "/v1/logistics/parcel-orders/" + url.PathEscape(id) + ":cancel", body: &logisticsv1.CancelParcelOrderRequest{RequestId: requestID},
		resp: func() proto.Message { return &logisticsv1.CancelParcelOrderResponse{} },
	}
}

// listPackages lists an order's packages by the caller's site_order_id.
func listPackages(siteOrderID string) call {
	return listPackagesBy(&logisticsv1.ListPackagesRequest{SiteOrderId: siteOrderID}, "site_order_id="+url.QueryEscape(siteOrderID))
}

// listPackagesOfOrder lists an order's packages by damaijia's order_sn.
func listPackagesOfOrder(orderSN string) call {
	return listPackagesBy(&logisticsv1.ListPackagesRequest{Order: orderSN}, "order="+url.QueryEscape(orderSN))
}

func listPackagesBy(req *logisticsv1.ListPackagesRequest, query string) call {
	return call{
		grpc: func(ctx context.Context, svc *service) (proto.Message, error) {
			return svc.parcels.ListPackages(ctx, req)
		},
		method: "GET", path: "/v1/logistics/packages?" + query,
		resp: func() proto.Message { return &logisticsv1.ListPackagesResponse{} },
	}
}

func recharge(req *logisticsv1.RechargeRequest) call {
	return call{
		grpc: func(ctx context.Context, svc *service) (proto.Message, error) {
			return svc.billing.Recharge(ctx, req)
		},
		method: "POST", path: "/v1/logistics/billing/recharges", body: req,
		resp: func() proto.Message { return &logisticsv1.RechargeResponse{} },
	}
}

func deduct(req *logisticsv1.DeductRequest) call {
	return call{
		grpc: func(ctx context.Context, svc *service) (proto.Message, error) {
			return svc.billing.Deduct(ctx, req)
		},
		method: "POST", path: "/v1/logistics/billing/deductions", body: req,
		resp: func() proto.Message { return &logisticsv1.DeductResponse{} },
	}
}

func closeBatch(name string) call {
	return call{
		grpc: func(ctx context.Context, svc *service) (proto.Message, error) {
			return svc.billing.CloseBatch(ctx, &logisticsv1.CloseBatchRequest{BatchName: name})
		},
		method: "POST", path: "/v1/logistics/billing/batches/" + url.PathEscape(name) + ":close", body: &logisticsv1.CloseBatchRequest{},
		resp: func() proto.Message { return &logisticsv1.CloseBatchResponse{} },
	}
}

func listUnresolved() call {
	return call{
		grpc: func(ctx context.Context, svc *service) (proto.Message, error) {
			return svc.billing.ListUnresolvedOperations(ctx, &logisticsv1.ListUnresolvedOperationsRequest{State: "UNKNOWN"})
		},
		method: "GET", path: "/v1/logistics/billing/operations?state=UNKNOWN",
		resp: func() proto.Message { return &logisticsv1.ListUnresolvedOperationsResponse{} },
	}
}

func resolve(id string, outcome logisticsv1.ResolutionOutcome, note string) call {
	return call{
		grpc: func(ctx context.Context, svc *service) (proto.Message, error) {
			return svc.billing.ResolveOperation(ctx, &logisticsv1.ResolveOperationRequest{RequestId: id, Outcome: outcome, Note: note})
		},
		method: "POST", path: "/v1/logistics/billing/operations/" + url.PathEscape(id) + ":resolve",
		body: &logisticsv1.ResolveOperationRequest{Outcome: outcome, Note: note},
		resp: func() proto.Message { return &logisticsv1.ResolveOperationResponse{} },
	}
}

func fmtInt(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return fmtInt(n/10) + digits[n%10:n%10+1]
}

func order(id, product string) *logisticsv1.CreateParcelOrderRequest {
	return &logisticsv1.CreateParcelOrderRequest{
		SiteOrderId: id, ProductId: product, ProductNumber: 1, Source: logisticsv1.SalesPlatform_SALES_PLATFORM_TAOBAO,
		Consignees: []*logisticsv1.Consignee{{Consignee: "张三", Mobile: "13800138000", Province: "浙江省", City: "杭州市", District: "西湖区", Address: "文三路 1 号"}},
	}
}

// expect checks a status's code and reason.
func expect(t *testing.T, st *status.Status, code codes.Code, reason string) {
	t.Helper()
	if st.Code() != code {
		t.Fatalf("got %v %q, want %v", st.Code(), st.Message(), code)
	}
	if reason != "" {
		if got := reasonOf(st); got != reason {
			t.Errorf("reason: got %q, want %q (status %v)", got, reason, st.Proto())
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestParcelRPCs(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			svc := start(t, setup{dmj: damaijiasim.Options{ShipAfter: time.Hour}})

			resp, st := listWarehouses().send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			ws := resp.(*logisticsv1.ListWarehousesResponse).GetWarehouses()
			if len(ws) != 2 || ws[0].GetId() != "1" || ws[0].GetExpressName() != "圆通快递" || len(ws[0].GetBlockedRegions()) != 2 {
				t.Errorf("got warehouses %v, want the simulator's two", ws)
			}

			var ids []string
			token := ""
			for page := 0; page < 5; page++ {
				resp, st := listProducts("1", 10, token).send(ctx, svc, tr)
				expect(t, st, codes.OK, "")
				r := resp.(*logisticsv1.ListProductsResponse)
				for _, p := range r.GetProducts() {
					ids = append(ids, p.GetId())
				}
				token = r.GetNextPageToken()
				if token == "" {
					break
				}
			}
			if len(ids) != 25 || ids[0] != "P001" || ids[24] != "P025" {
				t.Errorf("got %d products %v, want P001..P025", len(ids), ids)
			}
			_, st = listProducts("1", 5, "not-a-token").send(ctx, svc, tr)
			expect(t, st, codes.InvalidArgument, "PAGE_TOKEN_INVALID")
			_, st = listProducts("1", 101, "").send(ctx, svc, tr)
			expect(t, st, codes.InvalidArgument, "")
			_, st = listProducts("99", 0, "").send(ctx, svc, tr)
			expect(t, st, codes.FailedPrecondition, "WAREHOUSE_DELISTED")

			resp, st = createOrder(order("S-1", "P001")).send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			sn := resp.(*logisticsv1.CreateParcelOrderResponse).GetOrderSn()
			if sn == "" {
				t.Fatal("got no order_sn")
			}
			_, st = createOrder(order("S-1", "P001")).send(ctx, svc, tr)
			expect(t, st, codes.AlreadyExists, "VENDOR_ALREADY_EXISTS")
			_, st = createOrder(order("S-2", "NOPE")).send(ctx, svc, tr)
			expect(t, st, codes.FailedPrecondition, "PRODUCT_DELISTED")
			bad := order("", "P001")
			_, st = createOrder(bad).send(ctx, svc, tr)
			expect(t, st, codes.InvalidArgument, "")

			resp, st = listPackages("S-1").send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			pkgs := resp.(*logisticsv1.ListPackagesResponse).GetPackages()
			if len(pkgs) != 1 || pkgs[0].GetOrderSn() != sn || pkgs[0].GetStatus() != logisticsv1.PackageStatus_PACKAGE_STATUS_NOT_SHIPPED || pkgs[0].GetMobile() != "13800138000" {
				t.Errorf("got packages %v, want one NOT_SHIPPED package of %s", pkgs, sn)
			}

			_, st = cancelOrder("S-1").send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			resp, _ = listPackagesOfOrder(sn).send(ctx, svc, tr)
			if p := resp.(*logisticsv1.ListPackagesResponse).GetPackages(); len(p) != 1 || p[0].GetStatus() != logisticsv1.PackageStatus_PACKAGE_STATUS_CANCELLED {
				t.Errorf("after cancel: got %v, want one CANCELLED package", p)
			}
		})
	}
}

func TestParcelRefusals(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)

			shipped := start(t, setup{dmj: damaijiasim.Options{ShipAfter: time.Nanosecond}})
			_, st := createOrder(order("S-1", "P001")).send(ctx, shipped, tr)
			expect(t, st, codes.OK, "")
			_, st = cancelOrder("S-1").send(ctx, shipped, tr)
			expect(t, st, codes.FailedPrecondition, "ALREADY_SHIPPED")

			poor := start(t, setup{dmj: damaijiasim.Options{Balance: 50}})
			_, st = createOrder(order("S-1", "P001")).send(ctx, poor, tr)
			expect(t, st, codes.FailedPrecondition, "BALANCE_TOO_LOW")

			fast := start(t, setup{dmj: damaijiasim.Options{MinInterval: time.Hour}})
			_, st = listWarehouses().send(ctx, fast, tr)
			expect(t, st, codes.OK, "")
			_, st = createOrder(order("S-1", "P001")).send(ctx, fast, tr)
			expect(t, st, codes.ResourceExhausted, "VENDOR_THROTTLED")
			var retry *errdetails.RetryInfo
			for _, d := range st.Details() {
				if r, ok := d.(*errdetails.RetryInfo); ok {
					retry = r
				}
			}
			if retry.GetRetryDelay().AsDuration() <= 0 {
				t.Errorf("got details %v, want a RetryInfo", st.Details())
			}
		})
	}
}

// TestParcelRequestID: a repeat of CreateParcelOrder or CancelParcelOrder
// with the same request_id returns the first answer without calling
// damaijia again; the same request_id with another request is
// REQUEST_ID_REUSED.
func TestParcelRequestID(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			svc := start(t, setup{dmj: damaijiasim.Options{ShipAfter: time.Hour}})
			req := order("S-RID", "P001")
			req.RequestId = "rid-create-1"
			first, st := createOrder(req).send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			again, st := createOrder(req).send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			if diff := cmp.Diff(first, again, protocmp.Transform()); diff != "" {
				t.Errorf("repeat (-first +repeat):\n%s", diff)
			}
			if got := svc.dmj.Creates(); got != 1 {
				t.Errorf("got %d order_create calls, want 1", got)
			}
			other := order("S-RID-2", "P001")
			other.RequestId = req.RequestId
			_, st = createOrder(other).send(ctx, svc, tr)
			expect(t, st, codes.InvalidArgument, "REQUEST_ID_REUSED")

			for range 2 {
				_, st = cancelOrderOnce("S-RID", "rid-cancel-1").send(ctx, svc, tr)
				expect(t, st, codes.OK, "")
			}
			if got := svc.dmj.Cancels(); got != 1 {
				t.Errorf("got %d cancel calls, want 1", got)
			}
		})
	}
}

// TestLostOrderReplyIsReadBack loses order_create's reply after the order
// was made: the caller is told the outcome is unknown (the client never
// re-sends), and the repeat of its request_id reads the order back by
// site_order_id without ordering again.
func TestLostOrderReplyIsReadBack(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			var lose atomic.Bool
			svc := start(t, setup{loseOrder: &lose})
			_, st := listWarehouses().send(ctx, svc, tr) // warms the keep-alive connection
			expect(t, st, codes.OK, "")
			lose.Store(true)
			req := order("S-LOST", "P002")
			req.RequestId = "rid-lost-order"
			_, st = createOrder(req).send(ctx, svc, tr)
			expect(t, st, codes.Unknown, "OUTCOME_UNKNOWN")
			if lose.Load() {
				t.Fatal("the reply was not lost: the test proves nothing")
			}
			if got := metadataOf(st)["request_id"]; got != req.RequestId {
				t.Errorf("got metadata request_id %q, want %q", got, req.RequestId)
			}
			resp, st := createOrder(req).send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			pk, _ := listPackages("S-LOST").send(ctx, svc, tr)
			pkgs := pk.(*logisticsv1.ListPackagesResponse).GetPackages()
			if len(pkgs) != 1 || pkgs[0].GetOrderSn() != resp.(*logisticsv1.CreateParcelOrderResponse).GetOrderSn() {
				t.Errorf("got packages %v and order %v, want one package of that order", pkgs, resp)
			}
			if got := svc.dmj.Creates(); got != 1 {
				t.Errorf("got %d order_create calls, want 1", got)
			}
			if got, want := svc.dmj.Balance(), int64(1_000_000-200); got != want {
				t.Errorf("balance: got %d, want %d (one order)", got, want)
			}
		})
	}
}

// TestConcurrentCallsOverAnExpiringToken: 200 calls at once log in once;
// after the token expires, 200 more log in once more; none fails.
func TestConcurrentCallsOverAnExpiringToken(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	svc := start(t, setup{dmj: damaijiasim.Options{TokenTTL: time.Hour, Now: func() time.Time { return time.Unix(0, now.Load()) }}})
	ctx := ctxT(t)
	burst := func() {
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := svc.parcels.ListWarehouses(ctx, &logisticsv1.ListWarehousesRequest{}); err != nil {
					t.Errorf("call %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
	}
	burst()
	if got := svc.dmj.Logins(); got != 1 {
		t.Errorf("first burst: got %d logins, want 1", got)
	}
	now.Add(int64(2 * time.Hour))
	burst()
	if got := svc.dmj.Logins(); got != 2 {
		t.Errorf("after expiry: got %d logins, want 2", got)
	}
}

func TestBillingRPCs(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			svc := start(t, setup{})
			const phone = "+61412345678"

			resp, st := recharge(&logisticsv1.RechargeRequest{RequestId: "r-1", Phone: phone, Amount: "100.5"}).send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			op := resp.(*logisticsv1.RechargeResponse).GetOperation()
			if op.GetState() != logisticsv1.OperationState_OPERATION_STATE_SUCCEEDED || op.GetAmount() != "100.50" {
				t.Errorf("got %v, want SUCCEEDED 100.50", op)
			}
			if got := svc.p30.Balance(phone, ""); got != 10050 {
				t.Errorf("balance: got %d, want 10050", got)
			}
			_, st = recharge(&logisticsv1.RechargeRequest{RequestId: "r-1", Phone: phone, Amount: "100.50"}).send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			if got := svc.p30.Balance(phone, ""); got != 10050 {
				t.Errorf("balance after a repeat: got %d, want 10050", got)
			}
			_, st = recharge(&logisticsv1.RechargeRequest{RequestId: "r-1", Phone: phone, Amount: "1"}).send(ctx, svc, tr)
			expect(t, st, codes.InvalidArgument, "REQUEST_ID_REUSED")
			_, st = recharge(&logisticsv1.RechargeRequest{RequestId: "r-2", Phone: phone, Amount: "1000.01"}).send(ctx, svc, tr)
			expect(t, st, codes.InvalidArgument, "AMOUNT_TOO_LARGE")
			_, st = recharge(&logisticsv1.RechargeRequest{RequestId: "r-3", Amount: "1"}).send(ctx, svc, tr)
			expect(t, st, codes.InvalidArgument, "")
			_, st = recharge(&logisticsv1.RechargeRequest{RequestId: "r-4", Phone: phone, Amount: "1.001"}).send(ctx, svc, tr)
			expect(t, st, codes.InvalidArgument, "")

			resp, st = deduct(&logisticsv1.DeductRequest{RequestId: "d-1", Phone: phone, Amount: "0.50", ExpressNo: "A1"}).send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			if got := svc.p30.Balance(phone, ""); got != 10000 {
				t.Errorf("balance after a deduction: got %d, want 10000", got)
			}
			// A refusal did not apply: its request_id stays free, and the
			// same request is sent again once the balance allows it.
			refused := &logisticsv1.DeductRequest{RequestId: "d-2", Phone: phone, Amount: "999", ExpressNo: "A2"}
			_, st = deduct(refused).send(ctx, svc, tr)
			expect(t, st, codes.FailedPrecondition, "VENDOR_REFUSED")
			if got := metadataOf(st)["vendor_message"]; got != "余额不足" {
				t.Errorf("got vendor_message %q, want 余额不足", got)
			}
			calls := svc.p30.Calls()
			svc.p30.SetBalance(phone, "", 100_000)
			resp, st = deduct(refused).send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			if svc.p30.Calls() != calls+1 || svc.p30.Balance(phone, "") != 100_000-99_900 {
				t.Errorf("the refused request_id again: got %d calls (want %d) and balance %d", svc.p30.Calls(), calls+1, svc.p30.Balance(phone, ""))
			}
			if op := resp.(*logisticsv1.DeductResponse).GetOperation(); op.GetExpressNo() != "A2" || op.GetMethod() != "Deduct" ||
				op.GetKind() != logisticsv1.OperationKind_OPERATION_KIND_DEDUCTION {
				t.Errorf("got %v, want the deduction of A2", op)
			}

			_, st = closeBatch("AAAAAA").send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			_, st = closeBatch("AAAAAA").send(ctx, svc, tr)
			expect(t, st, codes.FailedPrecondition, "VENDOR_REFUSED")

			_, st = resolve("r-1", logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, "x").send(ctx, svc, tr)
			expect(t, st, codes.FailedPrecondition, "OPERATION_OUTCOME_KNOWN")
			_, st = resolve("nope", logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, "x").send(ctx, svc, tr)
			expect(t, st, codes.NotFound, "OPERATION_NOT_FOUND")
		})
	}
}

// TestDroppedRechargeReply: 30post applies the recharge and the reply is
// lost. The caller gets OUTCOME_UNKNOWN, the balance changed once, a
// repeat never reaches 30post, and after ResolveOperation the repeat gets
// the resolved outcome.
func TestDroppedRechargeReply(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			svc := start(t, setup{})
			req := &logisticsv1.RechargeRequest{RequestId: "lost-1", Phone: post30sim.DropPhone, Amount: "25.00"}

			_, st := recharge(req).send(ctx, svc, tr)
			expect(t, st, codes.Unknown, "OUTCOME_UNKNOWN")
			if got := metadataOf(st)["request_id"]; got != "lost-1" {
				t.Errorf("got metadata request_id %q, want lost-1", got)
			}
			if got := svc.p30.Balance(post30sim.DropPhone, ""); got != 2500 {
				t.Errorf("balance: got %d, want 2500 (applied once)", got)
			}
			calls := svc.p30.Calls()
			_, st = recharge(req).send(ctx, svc, tr)
			expect(t, st, codes.Unknown, "OUTCOME_UNKNOWN")
			if svc.p30.Calls() != calls || svc.p30.Balance(post30sim.DropPhone, "") != 2500 {
				t.Errorf("a repeat reached 30post: calls %d → %d", calls, svc.p30.Calls())
			}

			resp, st := listUnresolved().send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			ops := resp.(*logisticsv1.ListUnresolvedOperationsResponse).GetOperations()
			if len(ops) != 1 || ops[0].GetRequestId() != "lost-1" || ops[0].GetState() != logisticsv1.OperationState_OPERATION_STATE_UNKNOWN {
				t.Fatalf("got %v, want lost-1 UNKNOWN", ops)
			}
			if op := ops[0]; op.GetMethod() != "Recharge" || op.GetKind() != logisticsv1.OperationKind_OPERATION_KIND_RECHARGE ||
				op.GetPhone() != post30sim.DropPhone || op.GetAmount() != "25.00" || op.GetNote() == "" || op.GetCreateTime() == nil {
				t.Errorf("got %v, want the recharge of 25.00 with why its outcome is unknown", op)
			}
			if got := gauge(t, svc); got != 1 {
				t.Errorf("unresolved gauge: got %v, want 1", got)
			}

			resp, st = resolve("lost-1", logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, "seen on the 30post console").send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			op := resp.(*logisticsv1.ResolveOperationResponse).GetOperation()
			if op.GetState() != logisticsv1.OperationState_OPERATION_STATE_APPLIED || len(op.GetResolutions()) != 1 ||
				op.GetResolutions()[0].GetNote() != "seen on the 30post console" || op.GetResolutions()[0].GetResolvedBy() != "operator" ||
				op.GetAmount() != "25.00" {
				t.Errorf("got %v, want APPLIED with the note, by the operator", op)
			}
			resp, st = recharge(req).send(ctx, svc, tr)
			expect(t, st, codes.OK, "")
			if got := resp.(*logisticsv1.RechargeResponse).GetOperation(); got.GetState() != logisticsv1.OperationState_OPERATION_STATE_APPLIED ||
				got.GetAmount() != "25.00" || got.GetPhone() != post30sim.DropPhone || len(got.GetResolutions()) != 1 {
				t.Errorf("repeat after resolution: got %v, want the recharge APPLIED", got)
			}
			if svc.p30.Calls() != calls {
				t.Error("a repeat after resolution reached 30post")
			}
			if got := gauge(t, svc); got != 0 {
				t.Errorf("unresolved gauge after resolution: got %v, want 0", got)
			}

			// The outcome is known now: it is not resolved again.
			_, st = resolve("lost-1", logisticsv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED, "wrong account after all").send(ctx, svc, tr)
			expect(t, st, codes.FailedPrecondition, "OPERATION_OUTCOME_KNOWN")
		})
	}
}

// TestSlowDeductionIsUnknown: 30post answers after the client's timeout.
func TestSlowDeductionIsUnknown(t *testing.T) {
	t.Parallel()
	// 30post's reply comes 2 s after it took the request, past the 1 s
	// timeout however slowly the request reached it.
	svc := start(t, setup{p30Delay: 2 * time.Second, p30Call: vendorcall.Config{Timeout: time.Second}})
	ctx := ctxT(t)
	svc.p30.SetBalance("+8613800138000", "", 10000)
	_, err := svc.billing.Deduct(ctx, &logisticsv1.DeductRequest{RequestId: "slow", Phone: "+8613800138000", Amount: "1", ExpressNo: "B1"})
	expect(t, status.Convert(err), codes.Unknown, "OUTCOME_UNKNOWN")
	// 30post applies what it received, maybe after our timeout.
	got := svc.p30.Balance("+8613800138000", "")
	for deadline := time.Now().Add(10 * time.Second); got != 9900 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		got = svc.p30.Balance("+8613800138000", "")
	}
	if got != 9900 {
		t.Errorf("balance: got %d, want 9900", got)
	}
}

func gauge(t *testing.T, svc *service) float64 {
	t.Helper()
	mfs, err := svc.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "vendorgate_billing_unresolved_operations" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no unresolved gauge")
	return 0
}
