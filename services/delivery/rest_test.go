package main

import (
	"testing"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/internal/serve/resttest"
	"github.com/vendorgate/vendorgate/services/delivery/internal/server"
)

// TestMalformedRESTRequests sends every kind of malformed request the
// gateway itself refuses and checks the status, ErrorInfo, BadRequest,
// access-log line and metric of each.
func TestMalformedRESTRequests(t *testing.T) {
	t.Parallel()
	h := start(t)
	cases := append(resttest.Common("/v1/delivery/orders", "GET, POST", `{"origin_id":"A1","weightKg":"heavy"}`, "weight_kg"),
		resttest.Case{Name: "unknown enum value", Method: "POST", Path: "/v1/delivery/orders", ContentType: "application/json",
			Body: `{"origin_id":"A1","mode":"DELIVERY_MODE_TELEPORT"}`, Status: 400, Reason: "INVALID_ARGUMENT",
			Field: "mode", FieldReason: "UNKNOWN_ENUM_VALUE", Route: "POST /v1/delivery/orders"},
		resttest.Case{Name: "nested wrong type", Method: "POST", Path: "/v1/delivery/orders", ContentType: "application/json",
			Body: `{"receiverLocation":{"latitude":"north"}}`, Status: 400, Reason: "INVALID_ARGUMENT",
			Field: "receiver_location.latitude", FieldReason: "INVALID_VALUE", Route: "POST /v1/delivery/orders"},
		resttest.Case{Name: "unknown enum in query", Method: "GET", Path: "/v1/delivery/orders?filter=ORDER_FILTER_NOPE",
			Status: 400, Reason: "INVALID_ARGUMENT", Field: "filter", FieldReason: "INVALID_VALUE", Route: "GET /v1/delivery/orders"},
	)
	// The REST access line is written only for requests that never reached
	// gRPC, so the check also proves no handler, and no vendor, saw them.
	resttest.Check(t, resttest.Target{Base: h.rest, Domain: server.Domain, Logs: h.logs.String}, cases)
}

// TestOpenAPIMatchesTheWire checks the served document against the routes
// and real responses.
func TestOpenAPIMatchesTheWire(t *testing.T) {
	t.Parallel()
	h := start(t)
	shop := `{"create":true,"per_userid":"m-1001","username":"shop1001","password":"s3cret-pw","mobile":"13895666331","phone":"13895666331","contact_name":"王宏雁","shop_name":"新百联超市","shop_address":"银川市贺兰县","city_name":"银川市","area_name":"贺兰县","location":{"latitude":38.55,"longitude":106.35},"cargo_type_code":"1","mode":"SHOP_DELIVERY_MODE_CHEAPEST"}`
	order := `{"origin_id":"OA1","shop_no":"S1","city":"上海","cargo_price":"58.00","weight_kg":1.5,"receiver_name":"林冲","receiver_address":"上海市嘉定区","receiver_phone":"18942249050","receiver_location":{"latitude":31.23,"longitude":121.32},"mode":"DELIVERY_MODE_FASTEST","goods":[{"name":"咖啡","quantity":2,"price":"29.00"}]}`
	resttest.CheckOpenAPI(t, h.rest, deliveryv1.File_vendorgate_delivery_v1_delivery_service_proto.Services().Get(0), []resttest.Call{
		{Method: "POST", Path: "/v1/delivery/shops", Body: shop},
		{Method: "GET", Path: "/v1/delivery/shops/m-1001?username=shop1001"},
		{Method: "POST", Path: "/v1/delivery/merchant-tokens", Body: `{"per_userid":"m-1001","username":"shop1001","mobile":"13895666331","password":"s3cret-pw"}`},
		{Method: "POST", Path: "/v1/delivery/orders", Body: order},
		{Method: "GET", Path: "/v1/delivery/orders/OA1"},
		{Method: "GET", Path: "/v1/delivery/orders"},
		{Method: "GET", Path: "/v1/delivery/orders/OA1/cancel-reasons"},
		{Method: "POST", Path: "/v1/delivery/orders/OA1:cancel", Body: `{"reason_id":10000,"reason":"顾客改主意了"}`},
		{Method: "GET", Path: "/v1/delivery/operations?state=UNKNOWN&page_size=10"},
	})
}

// TestDocsPageInChromium loads /docs in headless Chromium; it takes a
// caller's API key under Authorize for its "try it out".
func TestDocsPageInChromium(t *testing.T) {
	t.Parallel()
	h, _ := startAuth(t)
	resttest.CheckDocsPage(t, h.rest, deliveryv1.File_vendorgate_delivery_v1_delivery_service_proto.Services().Get(0),
		resttest.TryIt{OperationID: "DeliveryService_ListOrders", APIKey: shopKey})
}
