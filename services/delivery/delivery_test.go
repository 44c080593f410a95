package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/vendorcall/vendorcalltest"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
)

const (
	testSecretID  = "test-secret-id"
	testSecretKey = "test-secret-key-7f3a9c"
)

// harness is a delivery service started by run() on a loopback port, in
// front of a Dingdang simulator on a real HTTP server.
type harness struct {
	sim    *dingdangsim.Simulator
	client deliveryv1.DeliveryServiceClient
	rest   string
	logs   *logtest.Buffer
	stop   context.CancelFunc
	done   chan error
}

func start(t testing.TB, env ...string) *harness {
	t.Helper()
	return startLogging(t, &logtest.Buffer{}, env...)
}

// startLogging is start with the service's logs going to logs.
func startLogging(t testing.TB, logs *logtest.Buffer, env ...string) *harness {
	t.Helper()
	return startBehind(t, logs, func(h http.Handler) *httptest.Server {
		vendor := httptest.NewServer(h)
		t.Cleanup(vendor.Close)
		return vendor
	}, env...)
}

// startBehind is startLogging with the simulator served by serve.
func startBehind(t testing.TB, logs *logtest.Buffer, serve func(http.Handler) *httptest.Server, env ...string) *harness {
	t.Helper()
	sim := dingdangsim.New(dingdangsim.Options{Keys: map[string]string{testSecretID: testSecretKey}})
	return startSim(t, logs, sim, serve(sim.Handler()).URL, env...)
}

// startSim starts the service in front of sim, served at vendorURL.
func startSim(t testing.TB, logs *logtest.Buffer, sim *dingdangsim.Simulator, vendorURL string, env ...string) *harness {
	t.Helper()
	environ := append([]string{
		// Callers are beside the point of most tests (auth_test.go checks
		// them); a test that wants them sets AUTH_MODE itself.
		"AUTH_MODE=none",
		"DELIVERY_ADDR=127.0.0.1:0",
		// The tests read /metrics on the API port.
		"METRICS_ADDR=api",
		"DELIVERY_DATABASE_URL=" + sqlstoretest.SQLiteURL(t),
		"DINGDANG_BASE_URL=" + vendorURL,
		"DINGDANG_SECRET_ID=" + testSecretID,
		"DINGDANG_SECRET_KEY=" + testSecretKey,
		"LOG_LEVEL=debug",
	}, env...)
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{sim: sim, logs: logs, stop: cancel, done: make(chan error, 1)}
	addrs := make(chan net.Addr, 1)
	go func() { h.done <- run(ctx, environ, h.logs, func(a net.Addr) { addrs <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-h.done:
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("service did not start")
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h.client = deliveryv1.NewDeliveryServiceClient(conn)
	h.rest = "http://" + addr.String()
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		select {
		case <-h.done:
		case <-time.After(15 * time.Second):
			t.Error("service did not stop")
		}
	})
	return h
}

// callREST sends body (a proto message or nil) and decodes a 200 answer
// into out; otherwise it returns the HTTP status and the error body.
func (h *harness) callREST(t testing.TB, method, path string, body proto.Message, out proto.Message) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := protojson.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.rest+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := protojson.Unmarshal(b, out); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
	}
	return resp.StatusCode, string(b)
}

func validOrder(originID string) *deliveryv1.CreateOrderRequest {
	return &deliveryv1.CreateOrderRequest{
		OriginId: originID, ShopNo: "S1", City: "上海", CargoPrice: "58.00", WeightKg: 1.5,
		ReceiverName: "林冲", ReceiverAddress: "上海市嘉定区江桥万达9号楼1106", ReceiverPhone: "18942249050",
		ReceiverLocation: &deliveryv1.LatLng{Latitude: 31.238808, Longitude: 121.323932},
		Mode:             deliveryv1.DeliveryMode_DELIVERY_MODE_FASTEST, Remark: "放门口,谢谢",
		Goods: []*deliveryv1.Goods{{Name: "咖啡", Quantity: 2, Price: "29.00"}},
	}
}

func validShop(perUserID string) *deliveryv1.UpsertShopRequest {
	return &deliveryv1.UpsertShopRequest{
		Create: true, PerUserid: perUserID, Username: "shop_" + perUserID, Password: "hunter2-merchant",
		Mobile: "13895666331", Phone: "13895666331", ContactName: "王宏雁", ShopName: "新百联超市朔方北街店",
		ShopAddress: "银川市贺兰县朔方北街与兴贸路交叉口", CityName: "银川市", AreaName: "贺兰县",
		Location: &deliveryv1.LatLng{Latitude: 38.55, Longitude: 106.35}, CargoTypeCode: "1",
		Mode: deliveryv1.ShopDeliveryMode_SHOP_DELIVERY_MODE_CHEAPEST,
	}
}

// transport runs one RPC over gRPC or REST so that a flow can be checked on both.
type transport struct {
	name string
	call func(t *testing.T, h *harness, rpc string, req, resp proto.Message) error
}

// restRoutes maps each RPC to its REST method and path.
func restRoute(rpc string, req proto.Message) (string, string, proto.Message) {
	switch r := req.(type) {
	case *deliveryv1.CreateOrderRequest:
		return http.MethodPost, "/v1/delivery/orders", r
	case *deliveryv1.GetOrderRequest:
		return http.MethodGet, "/v1/delivery/orders/" + r.GetOriginId(), nil
	case *deliveryv1.ListOrdersRequest:
		return http.MethodGet, "/v1/delivery/orders?filter=" + r.GetFilter().String(), nil
	case *deliveryv1.CancelOrderRequest:
		return http.MethodPost, "/v1/delivery/orders/" + r.GetOriginId() + ":cancel", r
	case *deliveryv1.ListCancelReasonsRequest:
		return http.MethodGet, "/v1/delivery/orders/" + r.GetOriginId() + "/cancel-reasons", nil
	case *deliveryv1.UpsertShopRequest:
		return http.MethodPost, "/v1/delivery/shops", r
	case *deliveryv1.GetShopRequest:
		return http.MethodGet, "/v1/delivery/shops/" + r.GetPerUserid() + "?username=" + r.GetUsername(), nil
	case *deliveryv1.IssueMerchantTokenRequest:
		return http.MethodPost, "/v1/delivery/merchant-tokens", r
	}
	panic("unknown rpc " + rpc)
}

var transports = []transport{
	{"grpc", func(t *testing.T, h *harness, rpc string, req, resp proto.Message) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var got proto.Message
		var err error
		switch r := req.(type) {
		case *deliveryv1.CreateOrderRequest:
			got, err = h.client.CreateOrder(ctx, r)
		case *deliveryv1.GetOrderRequest:
			got, err = h.client.GetOrder(ctx, r)
		case *deliveryv1.ListOrdersRequest:
			got, err = h.client.ListOrders(ctx, r)
		case *deliveryv1.CancelOrderRequest:
			got, err = h.client.CancelOrder(ctx, r)
		case *deliveryv1.ListCancelReasonsRequest:
			got, err = h.client.ListCancelReasons(ctx, r)
		case *deliveryv1.UpsertShopRequest:
			got, err = h.client.UpsertShop(ctx, r)
		case *deliveryv1.GetShopRequest:
			got, err = h.client.GetShop(ctx, r)
		case *deliveryv1.IssueMerchantTokenRequest:
			got, err = h.client.IssueMerchantToken(ctx, r)
		}
		if err != nil {
			return err
		}
		proto.Merge(resp, got)
		return nil
	}},
	{"rest", func(t *testing.T, h *harness, rpc string, req, resp proto.Message) error {
		method, path, body := restRoute(rpc, req)
		code, text := h.callREST(t, method, path, body, resp)
		if code != http.StatusOK {
			return errors.New(text)
		}
		return nil
	}},
}

func TestEveryRPCOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			h := start(t)
			do := func(rpc string, req, resp proto.Message) {
				t.Helper()
				if err := tr.call(t, h, rpc, req, resp); err != nil {
					t.Fatalf("%s: %v", rpc, err)
				}
			}
			id := "ord-" + tr.name

			shop := &deliveryv1.UpsertShopResponse{}
			do("UpsertShop", validShop("u-"+tr.name), shop)
			if shop.GetVendorMessage() == "" || shop.GetPerUserid() != "u-"+tr.name {
				t.Errorf("UpsertShop: got %v", shop)
			}
			gotShop := &deliveryv1.GetShopResponse{}
			do("GetShop", &deliveryv1.GetShopRequest{PerUserid: "u-" + tr.name, Username: "shop_u-" + tr.name}, gotShop)
			if s := gotShop.GetShop(); s.GetShopName() != "新百联超市朔方北街店" || s.GetPerUserid() != "u-"+tr.name || s.GetBalance() == "" {
				t.Errorf("GetShop: got %v", s)
			}
			token := &deliveryv1.IssueMerchantTokenResponse{}
			do("IssueMerchantToken", &deliveryv1.IssueMerchantTokenRequest{
				PerUserid: "u-" + tr.name, Username: "shop_u-" + tr.name, Mobile: "13895666331", Password: "hunter2-merchant",
			}, token)
			if token.GetToken() == "" {
				t.Error("IssueMerchantToken: got an empty token")
			}

			created := &deliveryv1.CreateOrderResponse{}
			do("CreateOrder", validOrder(id), created)
			if created.GetOriginId() != id {
				t.Errorf("CreateOrder: got %v", created)
			}
			got := &deliveryv1.GetOrderResponse{}
			do("GetOrder", &deliveryv1.GetOrderRequest{OriginId: id}, got)
			o := got.GetOrder()
			if o.GetOriginId() != id || o.GetStatus() != deliveryv1.OrderStatus_ORDER_STATUS_WAITING || o.GetRawStatus() != "0" ||
				o.GetRemark() != "放门口,谢谢" || o.GetReceiverName() != "林冲" || o.GetAcceptTime() != nil || o.GetCreateTime() == nil {
				t.Errorf("GetOrder: got %v", o)
			}
			list := &deliveryv1.ListOrdersResponse{}
			do("ListOrders", &deliveryv1.ListOrdersRequest{Filter: deliveryv1.OrderFilter_ORDER_FILTER_WAITING}, list)
			if len(list.GetOrders()) != 1 || list.GetOrders()[0].GetOriginId() != id {
				t.Errorf("ListOrders: got %v", list)
			}
			reasons := &deliveryv1.ListCancelReasonsResponse{}
			do("ListCancelReasons", &deliveryv1.ListCancelReasonsRequest{OriginId: id}, reasons)
			if len(reasons.GetReasons()) != 10 || reasons.GetReasons()[9].GetId() != 10000 {
				t.Errorf("ListCancelReasons: got %v", reasons)
			}
			cancelled := &deliveryv1.CancelOrderResponse{}
			do("CancelOrder", &deliveryv1.CancelOrderRequest{OriginId: id, ReasonId: 10000, Reason: "顾客改主意了"}, cancelled)
			if cancelled.GetVendorMessage() != "取消成功" {
				t.Errorf("CancelOrder: got %v", cancelled)
			}
			got.Reset()
			do("GetOrder", &deliveryv1.GetOrderRequest{OriginId: id}, got)
			if got.GetOrder().GetStatus() != deliveryv1.OrderStatus_ORDER_STATUS_CANCELLED {
				t.Errorf("GetOrder after cancel: got status %v, want CANCELLED", got.GetOrder().GetStatus())
			}
		})
	}
}

func errorInfo(t *testing.T, err error) *errdetails.ErrorInfo {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("got %v without google.rpc.ErrorInfo", err)
	return nil
}

func TestBadInputNamesFieldAndCallsNoVendor(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()
	soon := timestamppb.New(time.Now().Add(10 * time.Minute).Truncate(10 * time.Minute))
	offStep := timestamppb.New(time.Now().Add(2 * time.Hour).Truncate(10 * time.Minute).Add(3 * time.Minute))
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"origin_id not ascii", func() error {
			r := validOrder("订单1")
			_, err := h.client.CreateOrder(ctx, r)
			return err
		}, "origin_id"},
		{"latitude out of range", func() error {
			r := validOrder("bad-lat")
			r.ReceiverLocation.Latitude = 91
			_, err := h.client.CreateOrder(ctx, r)
			return err
		}, "receiver_location.latitude"},
		{"phone format", func() error {
			r := validOrder("bad-phone")
			r.ReceiverPhone = "12345"
			_, err := h.client.CreateOrder(ctx, r)
			return err
		}, "receiver_phone"},
		{"door_time too soon", func() error {
			r := validOrder("soon")
			r.DoorTime = soon
			_, err := h.client.CreateOrder(ctx, r)
			return err
		}, "door_time"},
		{"door_time off the 10-minute step", func() error {
			r := validOrder("offstep")
			r.DoorTime = offStep
			_, err := h.client.CreateOrder(ctx, r)
			return err
		}, "door_time"},
		{"mode unspecified", func() error {
			r := validOrder("nomode")
			r.Mode = deliveryv1.DeliveryMode_DELIVERY_MODE_UNSPECIFIED
			_, err := h.client.CreateOrder(ctx, r)
			return err
		}, "mode"},
		{"no goods", func() error {
			r := validOrder("nogoods")
			r.Goods = nil
			_, err := h.client.CreateOrder(ctx, r)
			return err
		}, "goods"},
		{"cancel other without text", func() error {
			_, err := h.client.CancelOrder(ctx, &deliveryv1.CancelOrderRequest{OriginId: "x", ReasonId: 10000})
			return err
		}, "reason"},
		{"get order without id", func() error {
			_, err := h.client.GetOrder(ctx, &deliveryv1.GetOrderRequest{})
			return err
		}, "origin_id"},
		{"shop mobile", func() error {
			r := validShop("m")
			r.Mobile = "1389566633"
			_, err := h.client.UpsertShop(ctx, r)
			return err
		}, "mobile"},
		{"get shop without username", func() error {
			_, err := h.client.GetShop(ctx, &deliveryv1.GetShopRequest{PerUserid: "u"})
			return err
		}, "username"},
		{"token without password", func() error {
			_, err := h.client.IssueMerchantToken(ctx, &deliveryv1.IssueMerchantTokenRequest{PerUserid: "u", Username: "n", Mobile: "13895666331"})
			return err
		}, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := status.Code(err); got != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
			var fields []string
			for _, d := range status.Convert(err).Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if len(fields) == 0 || fields[0] != tt.field {
				t.Errorf("got violations on %v, want %s", fields, tt.field)
			}
			if info := errorInfo(t, err); info.GetReason() != "INVALID_ARGUMENT" {
				t.Errorf("got ErrorInfo %v", info)
			}
		})
	}
	for _, path := range []string{"/open/order/createOrder", "/open/order/orderCancel", "/open/order/orderRecord",
		"/open/shop/createUpdateN", "/open/shop/getShopInfo", "/open/token/getToken"} {
		if n := h.sim.Calls(path); n != 0 {
			t.Errorf("got %d vendor calls to %s, want 0", n, path)
		}
	}
	code, body := h.callREST(t, http.MethodPost, "/v1/delivery/orders", validOrder("订单"), nil)
	if code != http.StatusBadRequest || !strings.Contains(body, `"field":"origin_id"`) {
		t.Errorf("REST: got %d %s, want 400 naming origin_id", code, body)
	}
}

// listOrders and listOrdersREST list all orders, the call most failure
// cases go through.
func listOrders(h *harness) error {
	_, err := h.client.ListOrders(context.Background(), &deliveryv1.ListOrdersRequest{})
	return err
}

func listOrdersREST(t *testing.T, h *harness) int {
	c, _ := h.callREST(t, http.MethodGet, "/v1/delivery/orders", nil, nil)
	return c
}

func TestVendorFailuresMapToStatuses(t *testing.T) {
	t.Parallel()
	const list = "/open/order/list"
	tests := []struct {
		name      string
		env       []string
		setup     func(h *harness)
		call      func(h *harness) error
		rest      func(t *testing.T, h *harness) int
		code      codes.Code
		http      int
		reason    string
		vendorMsg string
	}{
		{
			name: "caller's duplicate origin_id",
			setup: func(h *harness) {
				if _, err := h.client.CreateOrder(context.Background(), validOrder("dup-1")); err != nil {
					panic(err)
				}
			},
			call: func(h *harness) error {
				_, err := h.client.CreateOrder(context.Background(), validOrder("dup-1"))
				return err
			},
			rest: func(t *testing.T, h *harness) int {
				c, _ := h.callREST(t, http.MethodPost, "/v1/delivery/orders", validOrder("dup-1"), nil)
				return c
			},
			code: codes.AlreadyExists, http: http.StatusConflict, reason: "VENDOR_ALREADY_EXISTS", vendorMsg: "订单号重复",
		},
		{
			name: "cancel of an unknown order",
			call: func(h *harness) error {
				_, err := h.client.CancelOrder(context.Background(), &deliveryv1.CancelOrderRequest{OriginId: "nope", ReasonId: 1})
				return err
			},
			rest: func(t *testing.T, h *harness) int {
				c, _ := h.callREST(t, http.MethodPost, "/v1/delivery/orders/nope:cancel", &deliveryv1.CancelOrderRequest{ReasonId: 1}, nil)
				return c
			},
			code: codes.NotFound, http: http.StatusNotFound, reason: "VENDOR_NOT_FOUND", vendorMsg: "参数无效: no order with this origin_id",
		},
		{
			name: "unknown order",
			call: func(h *harness) error {
				_, err := h.client.GetOrder(context.Background(), &deliveryv1.GetOrderRequest{OriginId: "never-created"})
				return err
			},
			rest: func(t *testing.T, h *harness) int {
				c, _ := h.callREST(t, http.MethodGet, "/v1/delivery/orders/never-created", nil, nil)
				return c
			},
			code: codes.NotFound, http: http.StatusNotFound, reason: "VENDOR_NOT_FOUND", vendorMsg: "参数无效",
		},
		{
			name: "signature rejected",
			env:  []string{"DINGDANG_SECRET_KEY=wrong-key"},
			call: listOrders,
			rest: listOrdersREST,
			code: codes.Internal, http: http.StatusInternalServerError, reason: "VENDOR_AUTH_REJECTED",
		},
		{
			name: "throttled",
			// A breaker threshold above the 6 injected throttles, so that
			// both faces see the throttle itself, not the open breaker.
			env: []string{"DINGDANG_BREAKER_FAILURES=10"},
			setup: func(h *harness) {
				for range 6 {
					h.sim.Inject(list, dingdangsim.Fault{Status: 429, Body: `{"message":"API rate limit exceeded"}`, ContentType: "application/json"})
				}
			},
			call: listOrders,
			rest: listOrdersREST,
			code: codes.ResourceExhausted, http: http.StatusTooManyRequests, reason: "VENDOR_THROTTLED",
		},
		{
			name: "vendor 5xx",
			setup: func(h *harness) {
				for range 6 {
					h.sim.Inject(list, dingdangsim.Fault{Status: 502, Body: "<html>502 Bad Gateway</html>"})
				}
			},
			call: listOrders,
			rest: listOrdersREST,
			code: codes.Unavailable, http: http.StatusServiceUnavailable, reason: "VENDOR_UNAVAILABLE",
		},
		{
			name: "unparseable body",
			setup: func(h *harness) {
				for range 6 {
					h.sim.Inject(list, dingdangsim.Fault{Status: 200, Body: "<html>maintenance</html>"})
				}
			},
			call: listOrders,
			rest: listOrdersREST,
			// The vendor answered; we cannot read the answer: not an
			// outage, not retried, and the breaker stays shut.
			code: codes.Internal, http: http.StatusInternalServerError, reason: "VENDOR_RESPONSE_UNREADABLE",
		},
		{
			name: "mutation timed out: outcome unknown",
			env:  []string{"DINGDANG_TIMEOUT=100ms"},
			setup: func(h *harness) {
				h.sim.Inject("/open/order/orderCancel", dingdangsim.Fault{Delay: time.Second})
				h.sim.Inject("/open/order/orderCancel", dingdangsim.Fault{Delay: time.Second})
			},
			call: func(h *harness) error {
				_, err := h.client.CancelOrder(context.Background(), &deliveryv1.CancelOrderRequest{OriginId: "slow", ReasonId: 1})
				return err
			},
			rest: func(t *testing.T, h *harness) int {
				c, _ := h.callREST(t, http.MethodPost, "/v1/delivery/orders/slow:cancel", &deliveryv1.CancelOrderRequest{ReasonId: 1}, nil)
				return c
			},
			code: codes.Unknown, http: http.StatusInternalServerError, reason: "OUTCOME_UNKNOWN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, tt.env...)
			if tt.setup != nil {
				tt.setup(h)
			}
			err := tt.call(h)
			if got := status.Code(err); got != tt.code {
				t.Fatalf("got %v, want %v", err, tt.code)
			}
			info := errorInfo(t, err)
			want := map[string]string{"vendor": "dingdang"}
			if info.GetReason() != tt.reason || info.GetDomain() != "delivery.vendorgate.dev" || info.GetMetadata()["vendor"] != want["vendor"] {
				t.Errorf("got ErrorInfo %v, want reason %s", info, tt.reason)
			}
			if tt.vendorMsg != "" && info.GetMetadata()["vendor_message"] != tt.vendorMsg {
				t.Errorf("got vendor_message %q, want %q", info.GetMetadata()["vendor_message"], tt.vendorMsg)
			}
			if got := tt.rest(t, h); got != tt.http {
				t.Errorf("REST: got HTTP %d, want %d", got, tt.http)
			}
		})
	}
}

// TestCreateOrderIsSentOnce: a createOrder whose answer is a 502 is never
// re-sent by the service, whether the vendor acted before the gateway
// failed or not: the caller is told the outcome is unknown, and the order
// exists at the vendor at most once.
func TestCreateOrderIsSentOnce(t *testing.T) {
	t.Parallel()
	const create = "/open/order/createOrder"
	tests := []struct {
		name       string
		fault      dingdangsim.Fault
		wantOrders int
	}{
		{"vendor acted, response lost", dingdangsim.Fault{Status: 502, Body: "bad gateway", AfterHandling: true}, 1},
		{"vendor never saw it", dingdangsim.Fault{Status: 502, Body: "bad gateway"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := start(t)
			h.sim.Inject(create, tt.fault)
			_, err := h.client.CreateOrder(context.Background(), validOrder("once-1"))
			if status.Code(err) != codes.Unknown || errorInfo(t, err).GetReason() != "OUTCOME_UNKNOWN" {
				t.Fatalf("got %v, want UNKNOWN OUTCOME_UNKNOWN", err)
			}
			if n := h.sim.Calls(create); n != 1 {
				t.Errorf("got %d createOrder calls, want 1 (no re-send)", n)
			}
			list, err := h.client.ListOrders(context.Background(), &deliveryv1.ListOrdersRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(list.GetOrders()); n != tt.wantOrders {
				t.Errorf("got %d orders at the vendor, want %d", n, tt.wantOrders)
			}
		})
	}
}

// TestCreateOrderLostReplyOnReusedConnection: the vendor applies a
// createOrder and closes the reused keep-alive connection unanswered. The
// transport must add no send of its own, and neither may the client: the
// vendor counts one send, our call layer one attempt, counted as
// OUTCOME_UNKNOWN, and the caller is told so.
func TestCreateOrderLostReplyOnReusedConnection(t *testing.T) {
	t.Parallel()
	const create = "/open/order/createOrder"
	var lost atomic.Bool
	h := startBehind(t, &logtest.Buffer{}, func(sim http.Handler) *httptest.Server {
		return vendorcalltest.NewLostReplyServer(t, sim, func(r *http.Request) bool {
			return r.URL.Path == create && lost.CompareAndSwap(false, true)
		})
	})
	ctx := context.Background()
	// Warm the pool: this call opens the connection the create reuses.
	if _, err := h.client.ListOrders(ctx, &deliveryv1.ListOrdersRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := h.client.CreateOrder(ctx, validOrder("lost-1"))
	if status.Code(err) != codes.Unknown || errorInfo(t, err).GetReason() != "OUTCOME_UNKNOWN" || !lost.Load() {
		t.Fatalf("got %v with reply lost %v, want UNKNOWN OUTCOME_UNKNOWN after a lost reply", err, lost.Load())
	}
	attempts := vendorAttempts(t, h, create)
	if n := h.sim.Calls(create); n != 1 || attempts != 1 {
		t.Errorf("got %d createOrder sends at the vendor for %d attempts of ours, want 1 and 1 (no re-send, no transport replay)", n, attempts)
	}
	if got := vendorOutcomes(t, h, create); !strings.Contains(got, `outcome="OUTCOME_UNKNOWN"`) {
		t.Errorf("got createOrder outcomes %s, want the lost reply counted as OUTCOME_UNKNOWN", got)
	}
	got, err := h.client.GetOrder(ctx, &deliveryv1.GetOrderRequest{OriginId: "lost-1"})
	if err != nil || got.GetOrder().GetOriginId() != "lost-1" {
		t.Errorf("GetOrder: got %v, %v, want the order the vendor applied", got, err)
	}
}

// TestUnknownIDsAreNotFoundInStatusAndMetric: an id the vendor does not
// know is NOT_FOUND, and the call layer's metric counts the same reason.
func TestUnknownIDsAreNotFoundInStatusAndMetric(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		endpoint string
		call     func(h *harness) error
	}{
		{"order", "/open/order/orderRecord", func(h *harness) error {
			_, err := h.client.GetOrder(context.Background(), &deliveryv1.GetOrderRequest{OriginId: "never-created"})
			return err
		}},
		{"cancel", "/open/order/orderCancel", func(h *harness) error {
			_, err := h.client.CancelOrder(context.Background(), &deliveryv1.CancelOrderRequest{OriginId: "never-created", ReasonId: 1})
			return err
		}},
		{"merchant", "/open/shop/getShopInfo", func(h *harness) error {
			_, err := h.client.GetShop(context.Background(), &deliveryv1.GetShopRequest{PerUserid: "nobody", Username: "nobody"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := start(t)
			err := tt.call(h)
			if got := status.Code(err); got != codes.NotFound || errorInfo(t, err).GetReason() != "VENDOR_NOT_FOUND" {
				t.Fatalf("got %v, want NotFound with VENDOR_NOT_FOUND", err)
			}
			if got, want := vendorOutcomes(t, h, tt.endpoint), `outcome="VENDOR_NOT_FOUND"`; !strings.Contains(got, want) || strings.Contains(got, "VENDOR_REFUSED") {
				t.Errorf("got metric %s, want %s only", got, want)
			}
		})
	}
}

// TestCancelRefusalsAreToldApart: the vendor answers 参数无效 for an
// unknown order and for an unknown reason id alike; the service tells them
// apart, and a refusal of a known order (already cancelled) stays
// FAILED_PRECONDITION.
func TestCancelRefusalsAreToldApart(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()
	if _, err := h.client.CreateOrder(ctx, validOrder("cancel-1")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		req    *deliveryv1.CancelOrderRequest
		code   codes.Code
		reason string
	}{
		{"unknown reason id", &deliveryv1.CancelOrderRequest{OriginId: "cancel-1", ReasonId: 999}, codes.InvalidArgument, "VENDOR_INVALID_ARGUMENT"},
		{"unknown order", &deliveryv1.CancelOrderRequest{OriginId: "cancel-none", ReasonId: 1}, codes.NotFound, "VENDOR_NOT_FOUND"},
		{"cancelled", &deliveryv1.CancelOrderRequest{OriginId: "cancel-1", ReasonId: 1}, codes.OK, ""},
		{"cancelled again", &deliveryv1.CancelOrderRequest{OriginId: "cancel-1", ReasonId: 1}, codes.FailedPrecondition, "VENDOR_REFUSED"},
	}
	for _, tt := range tests { // in order: the last two depend on each other
		_, err := h.client.CancelOrder(ctx, tt.req)
		if got := status.Code(err); got != tt.code {
			t.Fatalf("%s: got %v, want %v", tt.name, err, tt.code)
		}
		if err != nil && errorInfo(t, err).GetReason() != tt.reason {
			t.Errorf("%s: got reason %s, want %s", tt.name, errorInfo(t, err).GetReason(), tt.reason)
		}
	}
}

// vendorOutcomes returns the service's vendorgate_vendor_requests_total
// lines for endpoint, from its /metrics.
func vendorOutcomes(t *testing.T, h *harness, endpoint string) string {
	t.Helper()
	resp, err := http.Get(h.rest + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "vendorgate_vendor_requests_total{") && strings.Contains(l, `endpoint="`+endpoint+`"`) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// vendorAttempts is how many calls to endpoint the call layer counted.
func vendorAttempts(t *testing.T, h *harness, endpoint string) int {
	t.Helper()
	total := 0
	for _, l := range strings.Split(vendorOutcomes(t, h, endpoint), "\n") {
		if i := strings.LastIndexByte(l, ' '); i > 0 {
			n, err := strconv.Atoi(l[i+1:])
			if err != nil {
				t.Fatalf("metric line %q: %v", l, err)
			}
			total += n
		}
	}
	return total
}

func TestNoSecretReachesTheLogs(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()
	if _, err := h.client.UpsertShop(ctx, validShop("logged")); err != nil {
		t.Fatal(err)
	}
	tok, err := h.client.IssueMerchantToken(ctx, &deliveryv1.IssueMerchantTokenRequest{
		PerUserid: "logged", Username: "shop_logged", Mobile: "13895666331", Password: "hunter2-merchant"})
	if err != nil {
		t.Fatal(err)
	}
	bad := start(t, "DINGDANG_SECRET_KEY=another-wrong-secret")
	if _, err := bad.client.GetOrder(ctx, &deliveryv1.GetOrderRequest{OriginId: "x"}); status.Code(err) != codes.Internal {
		t.Fatalf("got %v, want Internal", err)
	}
	logs := h.logs.String() + bad.logs.String()
	if !strings.Contains(bad.logs.String(), "rejected our signature") {
		t.Errorf("got logs %s, want the signature rejection logged loudly", bad.logs.String())
	}
	for _, secret := range []string{testSecretKey, "another-wrong-secret", "hunter2-merchant", tok.GetToken(), "hmac id", "signature=\""} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

func TestGracefulShutdownFinishesInFlightCall(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := context.Background()
	if _, err := h.client.CreateOrder(ctx, validOrder("inflight")); err != nil {
		t.Fatal(err)
	}
	h.sim.Inject("/open/order/orderRecord", dingdangsim.Fault{Delay: 700 * time.Millisecond})
	result := make(chan error, 1)
	go func() {
		_, err := h.client.GetOrder(ctx, &deliveryv1.GetOrderRequest{OriginId: "inflight"})
		result <- err
	}()
	time.Sleep(200 * time.Millisecond)
	h.stop()
	if err := <-result; err != nil {
		t.Errorf("in-flight call: got %v, want success", err)
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("run: got %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
	h.done <- nil // for the cleanup
}

func TestStartupNamesMissingConfiguration(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"DELIVERY_ADDR=127.0.0.1:0"}, io.Discard, nil)
	for _, name := range []string{"DINGDANG_BASE_URL", "DINGDANG_SECRET_ID", "DINGDANG_SECRET_KEY"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("got %v, want it to name %s", err, name)
		}
	}
}

func TestSandboxServesWithoutCredentials(t *testing.T) {
	t.Parallel()
	logs := &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"SANDBOX=1", "SANDBOX_API_KEY=" + sandboxKey, "DELIVERY_ADDR=127.0.0.1:0", "DELIVERY_DATABASE_URL=" + sqlstoretest.SQLiteURL(t)}, logs, func(a net.Addr) { addrs <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := deliveryv1.NewDeliveryServiceClient(conn)
	if _, err := c.CreateOrder(ctx, validOrder("sandbox-0")); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without the sandbox key: got %v, want UNAUTHENTICATED", err)
	}
	ctx = bearer(ctx, sandboxKey)
	if _, err := c.CreateOrder(ctx, validOrder("sandbox-1")); err != nil {
		t.Fatalf("got %v, want success", err)
	}
	got, err := c.GetOrder(ctx, &deliveryv1.GetOrderRequest{OriginId: "sandbox-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := &deliveryv1.LatLng{Latitude: 31.238808, Longitude: 121.323932}
	if d := cmp.Diff(want, got.GetOrder().GetReceiverLocation(), protocmp.Transform()); d != "" {
		t.Errorf("receiver location (-want +got):\n%s", d)
	}
	if !strings.Contains(logs.String(), "SANDBOX: using the in-process Dingdang simulator") {
		t.Errorf("got logs %s, want the sandbox announced", logs.String())
	}
	if !strings.Contains(logs.String(), "export VENDORGATE_KEY="+sandboxKey) {
		t.Errorf("got logs %s, want the sandbox key printed", logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: got %v, want nil", err)
	}
}
