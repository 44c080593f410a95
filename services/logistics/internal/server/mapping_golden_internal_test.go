package server

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	"github.com/vendorgate/vendorgate/internal/golden"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/logistics/internal/billing"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
	"github.com/vendorgate/vendorgate/services/logistics/internal/parcels"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the mapping's output")

// Where the samples come from: the raw documents' own (damaijia's
// user_login, 30post's replies) and, where a document has none, the
// simulator's replies (testdata/*_sim.json). The *_distinct.json variants
// give every field of one type its own value, so that a mapping that swaps
// two of them changes the output.
const (
	damaijiaDocs = "../damaijia/testdata"
	post30Docs   = "../post30/testdata"
)

// vendorStub answers each path with one sample and records every request
// but the login, as the vendor received it.
type vendorStub struct {
	t       *testing.T
	replies map[string]string // path → sample file
	mu      sync.Mutex
	sent    []any
}

func (v *vendorStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	file, ok := v.replies[r.URL.Path]
	if r.URL.Path == damaijia.PathLogin {
		file, ok = damaijiaDocs+"/login_ok.json", true
	}
	if !ok {
		v.t.Errorf("unexpected call to %s", r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if r.URL.Path != damaijia.PathLogin {
		v.record(r)
	}
	body, err := os.ReadFile(file)
	if err != nil {
		v.t.Error(err)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// record keeps what one request carried: method, path, query, and its
// body as JSON (damaijia) or its form with data parsed as JSON (30post).
func (v *vendorStub) record(r *http.Request) {
	got := map[string]any{"method": r.Method, "path": r.URL.Path}
	if q := r.URL.Query(); len(q) > 0 {
		got["query"] = map[string][]string(q)
	}
	if r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			v.t.Error(err)
		}
		form := map[string]any{}
		for k, vs := range r.PostForm {
			form[k] = vs
		}
		var data any
		if err := json.Unmarshal([]byte(r.PostForm.Get("data")), &data); err != nil {
			v.t.Errorf("data is not JSON: %v", err)
		}
		form["data"] = data
		got["form"] = form
	} else {
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			var body any
			if err := json.Unmarshal(b, &body); err != nil {
				v.t.Errorf("body is not JSON: %v", err)
			}
			got["body"] = body
		}
	}
	v.mu.Lock()
	v.sent = append(v.sent, got)
	v.mu.Unlock()
}

// freeLedger books every order without a cap.
type freeLedger struct{}

func (freeLedger) Reserve(context.Context, int64) (func(bool), error) { return func(bool) {}, nil }
func (freeLedger) Report(context.Context, *timestamppb.Timestamp, *timestamppb.Timestamp) (*usagev1.UsageReport, error) {
	return nil, nil
}

// fixedNow is the clock of the 30post signatures and of movements.
func fixedNow() time.Time { return time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC) }

// handlers are the two services over one stub vendor server.
func handlers(t *testing.T, stub *vendorStub) (*Parcels, *Billing) {
	t.Helper()
	srv := httptest.NewServer(stub)
	t.Cleanup(srv.Close)
	dc, err := damaijia.New(srv.Client(), srv.URL, damaijia.Options{AppID: "f823239df5e1059396431415e7xxxxxx", AppSecret: "23ee22eaba297944c96afdbe5b1xxxxxx"})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := post30.New(srv.Client(), srv.URL, post30.Options{
		AccessKey: "c2e2e01c-6c95-4146-99d6-815811755603", SecretKey: "5fd68fbe-16a4-4851-bc56-3b1890a40a90", Now: fixedNow,
	})
	if err != nil {
		t.Fatal(err)
	}
	mover := billing.New(pc, nil, billing.Options{MaxAmountFen: 1_000_000_00, Now: fixedNow})
	return NewParcels(parcels.New(dc, freeLedger{}, parcels.Options{OrderPriceFen: 100}), nil, freeLedger{}), NewBilling(mover, nil, nil)
}

// TestMappingGolden runs each RPC against a vendor that answers with one
// sample, and checks field by field against testdata/<name>.golden.json
// both what reached the vendor and the RPC's answer.
func TestMappingGolden(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		replies map[string]string
		call    func(*Parcels, *Billing) (proto.Message, error)
	}{
		{"warehouses_sim", map[string]string{damaijia.PathWarehouses: "testdata/warehouses_sim.json"}, listWarehouses},
		{"warehouses_distinct", map[string]string{damaijia.PathWarehouses: "testdata/warehouses_distinct.json"}, listWarehouses},
		{"products_sim", map[string]string{damaijia.PathProducts: "testdata/products_sim.json"}, listProducts},
		{"products_distinct", map[string]string{damaijia.PathProducts: "testdata/products_distinct.json"}, listProducts},
		{"create_order", map[string]string{damaijia.PathCreate: "testdata/create_sim.json"}, func(p *Parcels, _ *Billing) (proto.Message, error) {
			return p.CreateParcelOrder(ctx, createParcelOrderRequest())
		}},
		{"cancel_order", map[string]string{damaijia.DefaultCancelPath: "testdata/cancel_sim.json"}, func(p *Parcels, _ *Billing) (proto.Message, error) {
			return p.CancelParcelOrder(ctx, &logisticsv1.CancelParcelOrderRequest{SiteOrderId: "site-order-id-cancel"})
		}},
		{"packages_sim", map[string]string{damaijia.PathPackages: "testdata/packages_sim.json"}, listPackages},
		{"packages_distinct", map[string]string{damaijia.PathPackages: "testdata/packages_distinct.json"}, listPackages},
		{"recharge_ok", map[string]string{post30.DefaultRechargePath: post30Docs + "/recharge_ok.json"}, func(_ *Parcels, b *Billing) (proto.Message, error) {
			return b.Recharge(ctx, &logisticsv1.RechargeRequest{Phone: "13800000011", Email: "email-12@example.com", Amount: "100.5"})
		}},
		{"deduction_ok", map[string]string{post30.DefaultDeductPath: post30Docs + "/deduction_ok.json"}, func(_ *Parcels, b *Billing) (proto.Message, error) {
			return b.Deduct(ctx, &logisticsv1.DeductRequest{Phone: "13800000021", Email: "email-22@example.com", Amount: "20.25", ExpressNo: "A123456789AU"})
		}},
		{"closebatch_ok", map[string]string{post30.DefaultCloseBatchPath: post30Docs + "/closebatch_ok.json"}, func(_ *Parcels, b *Billing) (proto.Message, error) {
			return b.CloseBatch(ctx, &logisticsv1.CloseBatchRequest{BatchName: "AAAAAA"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stub := &vendorStub{t: t, replies: tt.replies}
			p, b := handlers(t, stub)
			resp, err := tt.call(p, b)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			stub.mu.Lock()
			sent := stub.sent
			stub.mu.Unlock()
			checkGolden(t, tt.name, sent, resp)
		})
	}
}

// TestOperationMappingGolden maps the engine's records of a Recharge and a
// Deduct (their kept requests, every string distinct) as the operator
// sees them.
func TestOperationMappingGolden(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 6, 8, 1, 2, 3_000_000, time.UTC)
	kept := func(m proto.Message) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		op   idempotency.Operation
	}{
		{"operation_recharge", idempotency.Operation{
			RequestID: "request-id-1", Method: billing.MethodRecharge, State: "UNKNOWN", Note: "note-1", CreatedAt: at,
			Request: kept(&logisticsv1.RechargeRequest{RequestId: "request-id-1", Phone: "13800000031", Email: "email-32@example.com", Amount: "33.00"}),
		}},
		{"operation_deduct", idempotency.Operation{
			RequestID: "request-id-2", Method: billing.MethodDeduct, State: "APPLIED", Note: "note-2", CreatedAt: at,
			Request: kept(&logisticsv1.DeductRequest{RequestId: "request-id-2", Phone: "13800000041", Email: "email-42@example.com",
				Amount: "43.00", ExpressNo: "express-no-44"}),
			Resolutions: []idempotency.Resolution{{Outcome: idempotency.Applied, Note: "resolution-note-45", By: "resolved-by-46",
				At: at.Add(time.Hour)}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, tt.name, nil, operationProto(tt.op))
		})
	}
}

func listWarehouses(p *Parcels, _ *Billing) (proto.Message, error) {
	return p.ListWarehouses(context.Background(), &logisticsv1.ListWarehousesRequest{})
}

func listProducts(p *Parcels, _ *Billing) (proto.Message, error) {
	return p.ListProducts(context.Background(), &logisticsv1.ListProductsRequest{WarehouseId: "W-17", PageSize: 7})
}

func listPackages(p *Parcels, _ *Billing) (proto.Message, error) {
	return p.ListPackages(context.Background(), &logisticsv1.ListPackagesRequest{
		Status: logisticsv1.PackageStatus_PACKAGE_STATUS_SHIPPED, Mobile: "13800000051", Order: "order-sn-52",
		SiteOrderId:  "site-order-id-53",
		CreatedAfter: timestamppb.New(time.Unix(1796000054, 0)), CreatedBefore: timestamppb.New(time.Unix(1796000055, 0)),
		PageSize: 5,
	})
}

// createParcelOrderRequest has a distinct value in every field of one type.
func createParcelOrderRequest() *logisticsv1.CreateParcelOrderRequest {
	return &logisticsv1.CreateParcelOrderRequest{
		SiteOrderId: "site-order-id-61", ProductId: "P017", ProductNumber: 3, Remark: "remark-62",
		Source: logisticsv1.SalesPlatform_SALES_PLATFORM_JD,
		Consignees: []*logisticsv1.Consignee{{
			SiteOrderConsigneeId: "site-order-consignee-id-63", Consignee: "consignee-64", Mobile: "13800000065",
			Province: "province-浙江", City: "city-杭州", District: "district-西湖", Address: "address-66", PlatformOrderSn: "platform-order-sn-67",
		}},
		Consigners: []*logisticsv1.Consigner{{
			Consigner: "consigner-68", Mobile: "13800000069", Province: "province-广东", City: "city-深圳", District: "district-南山",
			Address: "address-70",
		}},
	}
}

// checkGolden is golden.Check under this package's -update flag.
func checkGolden(t *testing.T, name string, sent []any, resp proto.Message) {
	t.Helper()
	golden.Check(t, name, sent, resp, *update)
}
