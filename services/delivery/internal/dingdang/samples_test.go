package dingdang

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
)

// sampleServer answers every request with testdata/<file>, verbatim from the
// raw vendor document, as text/html like the vendor does.
func sampleServer(t *testing.T, file string) *Client {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.Client(), srv.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func unix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func TestDocumentSuccessSamples(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		file string
		call func(*Client) (any, error)
		want any
	}{
		{"list_ok.json", func(c *Client) (any, error) { return c.ListOrders(ctx, 0) }, []dispatch.OrderSummary{
			{OriginID: "124632328463092732", VendorOrderNumber: "OID15262779918877", Carrier: "闪送", ReceiverName: "杨文斌",
				City: "上海", RawStatus: "5", AcceptTime: unix(1526278009), CancelTime: unix(1526279093)},
			{OriginID: "124632328463092734", VendorOrderNumber: "OID15262784019764", Carrier: "闪送", ReceiverName: "杨文斌",
				City: "上海", RawStatus: "0"},
		}},
		{"reason_ok.json", func(c *Client) (any, error) { return c.ListCancelReasons(ctx, "x") }, []dispatch.CancelReason{
			{ID: 1, Text: "没有配送员接单"}, {ID: 2, Text: "配送员没来取货"}, {ID: 3, Text: "配送员态度太差"}, {ID: 4, Text: "顾客取消订单"}, {ID: 5, Text: "订单填写错误"},
			{ID: 34, Text: "配送员让我取消此单"}, {ID: 35, Text: "配送员不愿上门取货"}, {ID: 36, Text: "我不需要配送了"}, {ID: 37, Text: "配送员以各种理由表示无法完成订单"}, {ID: 10000, Text: "其他"},
		}},
		{"record_ok.json", func(c *Client) (any, error) { return c.GetOrder(ctx, "1530697644255") }, &dispatch.Order{
			OriginID: "1530697644255", VendorOrderNumber: "OID15306976452268", Carrier: "点我达",
			CarrierIcon: "http://localhost/logistics/public/../upload/153017103534.png", RawStatus: "4", Remark: "1号",
			DistanceMeters: 661, DeliveryFee: "8.00", ClientID: "320368412553386496", RiderName: "外卖小哥",
			RiderPhone: "18758303002", ShopAddress: "上海嘉定上海嘉定上海嘉定区江桥万达9号写字楼", ShopContact: "宋江",
			ShopPhone: "18942212346", ShopLocation: &dispatch.LatLng{Lat: 31.240639, Lng: 121.323422}, Goods: "测绘师",
			ReceiverName: "林冲", ReceiverAddress: "上海市嘉定区江桥万达9号楼1106", ReceiverPhone: "18942249050",
			ReceiverLocation: &dispatch.LatLng{Lat: 31.238808, Lng: 121.323932}, WeightKg: 1, Mode: 3, Scheduled: "1",
		}},
		{"cancel_ok.json", func(c *Client) (any, error) { return c.CancelOrder(ctx, "x", 1, "") }, "取消成功"},
		{"create_ok.json", func(c *Client) (any, error) { return c.CreateOrder(ctx, dispatch.NewOrder{OriginID: "x"}) }, "成功"},
		{"token_ok.json", func(c *Client) (any, error) { return c.IssueToken(ctx, dispatch.TokenRequest{Mobile: "1"}) }, "token值"},
		{"shopinfo_ok.json", func(c *Client) (any, error) { return c.GetShop(ctx, "multi_toozan_729", "test", "") }, &dispatch.Shop{
			ID: 1771, PerUserID: "multi_toozan_729", Username: "test", Balance: "95.8", AdminBalance: "10.70", Fee: "85.10",
			ShopName: "新百联超市朔方北街店", ShopCode: "MD1545130259123", CargoTypeCode: "1", CityName: "银川市",
			AreaName: "贺兰县", ShopAddress: "银川市贺兰县贺兰县朔方北街与兴贸路交叉口", ContactName: "王宏雁",
			Mobile: "13895666331", Phone: "13895666331", Status: 1, Mode: 1, HasShop: true, UpdateTime: unix(1550282890),
		}},
		{"shopupsert_ok.json", func(c *Client) (any, error) { return c.UpsertShop(ctx, dispatch.ShopUpsert{}) }, "更新成功"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := tt.call(sampleServer(t, tt.file))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("decoded sample differs (-want +got):\n%s", d)
			}
		})
	}
}

func TestDocumentFailureSamples(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		file    string
		call    func(*Client) error
		kind    vendorerr.Kind
		message string
	}{
		{"list_fail.json", func(c *Client) error { _, err := c.ListOrders(ctx, 1); return err }, vendorerr.KindAlreadyExists, "订单号重复"},
		{"reason_fail.json", func(c *Client) error { _, err := c.ListCancelReasons(ctx, "x"); return err }, vendorerr.KindNotFound, "参数无效"},
		{"record_fail.json", func(c *Client) error { _, err := c.GetOrder(ctx, "x"); return err }, vendorerr.KindNotFound, "参数无效"},
		{"cancel_fail.json", func(c *Client) error { _, err := c.CancelOrder(ctx, "x", 1, ""); return err }, vendorerr.KindNotFound, "参数无效: no order with this origin_id"},
		{"create_fail.json", func(c *Client) error { _, err := c.CreateOrder(ctx, dispatch.NewOrder{OriginID: "x"}); return err }, vendorerr.KindAlreadyExists, "订单号重复"},
		{"token_fail.json", func(c *Client) error { _, err := c.IssueToken(ctx, dispatch.TokenRequest{}); return err }, vendorerr.KindRefused, "失败: 手机号不能为空"},
		{"shopinfo_fail.json", func(c *Client) error { _, err := c.GetShop(ctx, "x", "y", ""); return err }, vendorerr.KindNotFound, "失败: 格式错误"},
		{"shopupsert_fail.json", func(c *Client) error { _, err := c.UpsertShop(ctx, dispatch.ShopUpsert{}); return err }, vendorerr.KindRefused, "手机号码填写错误!"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			err := tt.call(sampleServer(t, tt.file))
			ve, ok := vendorerr.As(err)
			if !ok {
				t.Fatalf("got %v, want a *vendorerr.Error", err)
			}
			if ve.Kind != tt.kind || ve.Message != tt.message || ve.Code != "0" || ve.Vendor != Vendor {
				t.Errorf("got kind %v code %q message %q, want %v \"0\" %q", ve.Kind, ve.Code, ve.Message, tt.kind, tt.message)
			}
		})
	}
}

func TestSuccessWithoutObjectIsNotFound(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"msg":"成功","code":"1","result":[]}`))
	}))
	defer srv.Close()
	c, err := New(srv.Client(), srv.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetOrder(context.Background(), "x")
	if !vendorerr.IsKind(err, vendorerr.KindNotFound) {
		t.Errorf("got %v, want KindNotFound", err)
	}
	_, err = c.GetShop(context.Background(), "x", "y", "")
	if !vendorerr.IsKind(err, vendorerr.KindNotFound) {
		t.Errorf("got %v, want KindNotFound", err)
	}
}
