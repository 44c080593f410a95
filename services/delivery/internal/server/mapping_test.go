package server_test

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdang"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
	"github.com/vendorgate/vendorgate/services/delivery/internal/server"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the mapping's output")

// vendorDocs holds the raw vendor document's samples; testdata holds
// variants whose fields of one type all differ, so that a mapping that
// swaps two of them changes the output.
const vendorDocs = "../dingdang/testdata"

// recorder answers every call with one sample, as text/html like the
// vendor, and keeps the parameters of the last request.
type recorder struct {
	mu   sync.Mutex
	sent map[string][]string
}

func serveSample(t *testing.T, path string) (*dingdang.Client, *recorder) {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		sent := map[string][]string{}
		for k, v := range r.PostForm {
			sent["form "+k] = v
		}
		for k, v := range r.Header {
			switch k {
			case "Accept-Encoding", "Content-Length", "Content-Type", "User-Agent":
			default:
				sent["header "+k] = v
			}
		}
		rec.mu.Lock()
		rec.sent = sent
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	// A fixed clock, so that getToken's timestamp is the same every run.
	clock := func() time.Time { return time.Unix(1700000000, 0) }
	client, err := dingdang.New(srv.Client(), srv.URL, dingdang.Options{Now: clock})
	if err != nil {
		t.Fatalf("dingdang.New: %v", err)
	}
	return client, rec
}

// golden is what one sample maps to: the parameters sent (for calls that
// map a request) and the response as protojson.
type golden struct {
	Sent     map[string][]string `json:"sent,omitempty"`
	Response json.RawMessage     `json:"response"`
}

func TestMappingGolden(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	statuses, err := server.ParseStatusMap(server.DefaultStatusMap)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		sample string
		call   func(*server.Server) (proto.Message, error)
	}{
		{vendorDocs + "/record_ok.json", getOrder},
		{"testdata/record_distinct.json", getOrder},
		{vendorDocs + "/list_ok.json", listOrders},
		{"testdata/list_distinct.json", listOrders},
		{vendorDocs + "/shopinfo_ok.json", getShop},
		{"testdata/shopinfo_distinct.json", getShop},
		{vendorDocs + "/reason_ok.json", func(s *server.Server) (proto.Message, error) {
			return s.ListCancelReasons(ctx, &deliveryv1.ListCancelReasonsRequest{OriginId: "variant-origin-id"})
		}},
		{vendorDocs + "/create_ok.json", func(s *server.Server) (proto.Message, error) {
			return s.CreateOrder(ctx, createRequest())
		}},
		{vendorDocs + "/shopupsert_ok.json", func(s *server.Server) (proto.Message, error) {
			return s.UpsertShop(ctx, upsertRequest())
		}},
		{vendorDocs + "/cancel_ok.json", func(s *server.Server) (proto.Message, error) {
			return s.CancelOrder(ctx, &deliveryv1.CancelOrderRequest{OriginId: "variant-origin-id", ReasonId: 10000, Reason: "variant-reason"})
		}},
		{vendorDocs + "/token_ok.json", func(s *server.Server) (proto.Message, error) {
			return s.IssueMerchantToken(ctx, &deliveryv1.IssueMerchantTokenRequest{
				PerUserid: "variant-per-userid", Username: "variant-username", Mobile: "13800000001", Password: "variant-password",
			})
		}},
	}
	for _, tt := range tests {
		name := strings.TrimSuffix(filepath.Base(tt.sample), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client, rec := serveSample(t, tt.sample)
			resp, err := tt.call(server.New(dispatch.New(client, statuses, dispatch.Options{}), statuses, server.Options{}))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			respJSON, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			got := golden{Response: respJSON}
			if !strings.HasPrefix(name, "record") && !strings.HasPrefix(name, "list") && !strings.HasPrefix(name, "shopinfo") {
				rec.mu.Lock()
				got.Sent = rec.sent
				rec.mu.Unlock()
			}
			checkGolden(t, filepath.Join("testdata", name+".golden.json"), got)
		})
	}
}

// checkGolden compares got with the golden file, or rewrites the file
// under -update.
func checkGolden(t *testing.T, path string, got golden) {
	t.Helper()
	// Indented through a generic value, so that the file is stable
	// whatever whitespace protojson chose.
	var resp any
	if err := json.Unmarshal(got.Response, &resp); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{"response": resp}
	if got.Sent != nil {
		out["sent"] = got.Sent
	}
	gotJSON, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	gotJSON = append(gotJSON, '\n')
	if *update {
		if err := os.WriteFile(path, gotJSON, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(gotJSON)); d != "" {
		t.Errorf("%s: got a different mapping (-want +got):\n%s", path, d)
	}
}

func getOrder(s *server.Server) (proto.Message, error) {
	return s.GetOrder(context.Background(), &deliveryv1.GetOrderRequest{OriginId: "variant-origin-id"})
}

func listOrders(s *server.Server) (proto.Message, error) {
	return s.ListOrders(context.Background(), &deliveryv1.ListOrdersRequest{Filter: deliveryv1.OrderFilter(2)})
}

func getShop(s *server.Server) (proto.Message, error) {
	return s.GetShop(context.Background(), &deliveryv1.GetShopRequest{
		PerUserid: "variant-per-userid", Username: "variant-username", HeadquartersId: "variant-headquarters-id",
	})
}

// createRequest has a distinct value in every field of one type.
func createRequest() *deliveryv1.CreateOrderRequest {
	return &deliveryv1.CreateOrderRequest{
		OriginId: "variant-origin-id", ShopNo: "variant-shop-no", City: "variant-city", DailySerial: "variant-daily-serial",
		CargoPrice: "12.34", WeightKg: 2.5, DoorTime: timestamppb.New(time.Unix(1700000009, 0)),
		ReceiverName: "variant-receiver-name", ReceiverAddress: "variant-receiver-address", ReceiverPhone: "13800000002",
		ReceiverPhoneExtension: "1234", ReceiverLocation: &deliveryv1.LatLng{Latitude: 31.000001, Longitude: 121.000002},
		Mode: deliveryv1.DeliveryMode(3), Remark: "variant-remark",
		Goods: []*deliveryv1.Goods{{Name: "variant-goods-name", Quantity: 3, Price: "5.67"}},
	}
}

// upsertRequest has a distinct value in every field of one type.
func upsertRequest() *deliveryv1.UpsertShopRequest {
	return &deliveryv1.UpsertShopRequest{
		Create: true, PerUserid: "variant-per-userid", Username: "variant-username", Password: "variant-password",
		Mobile: "13800000003", Phone: "13800000004", ContactName: "variant-contact-name", ShopName: "variant-shop-name",
		ShopAddress: "variant-shop-address", CityName: "variant-city-name", AreaName: "variant-area-name",
		Location: &deliveryv1.LatLng{Latitude: 31.000005, Longitude: 121.000006}, CargoTypeCode: "variant-cargo-type-code",
		Mode: deliveryv1.ShopDeliveryMode(1), FranchiseAppId: "variant-franchise-app-id", HeadquartersMobile: "13800000005",
	}
}
