package maintenance_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

// wantErr is the classification a decoder failure must have; Kind -1 means
// an unclassified error (the call layer makes it VENDOR_UNAVAILABLE).
type wantErr struct {
	Kind    vendorerr.Kind
	Code    string
	Message string
}

func errOf(t *testing.T, err error) *wantErr {
	t.Helper()
	if err == nil {
		return nil
	}
	ve, ok := vendorerr.As(err)
	if !ok {
		return &wantErr{Kind: -1}
	}
	if ve.Vendor != maintenance.Vendor || ve.Endpoint == "" {
		t.Errorf("got vendor %q endpoint %q, want %q and an endpoint", ve.Vendor, ve.Endpoint, maintenance.Vendor)
	}
	return &wantErr{Kind: ve.Kind, Code: ve.Code, Message: ve.Message}
}

func TestDecodeOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    []byte
		want    maintenance.Order
		wantErr *wantErr
	}{
		{
			name: "document success sample (resultCode a number)",
			body: maintenancesim.Sample(maintenancesim.SampleOrderBought),
			want: maintenance.Order{ID: "e192e8de8e6660****46f41b", Message: "购买成功"},
		},
		{
			name:    "document failure sample 20704",
			body:    maintenancesim.Sample(maintenancesim.SampleOrderMissingVIN),
			wantErr: &wantErr{Kind: vendorerr.KindInvalidArgument, Code: "20704", Message: "车架号不能为空"},
		},
		{
			name:    "code table -1 as a number",
			body:    []byte(`{"code":-1,"message":"服务或其它异常"}`),
			wantErr: &wantErr{Kind: vendorerr.KindUnavailable, Code: "-1", Message: "服务或其它异常"},
		},
		{
			name:    "unknown code is a refusal",
			body:    []byte(`{"code":"10010","message":"余额不足","result":{}}`),
			wantErr: &wantErr{Kind: vendorerr.KindRefused, Code: "10010", Message: "余额不足"},
		},
		{
			name:    "purchase not confirmed",
			body:    []byte(`{"code":"0","message":"成功","data":{"result":"0","description":"购买失败","detail":{"resultCode":1201,"resultMsg":"购买失败"}}}`),
			wantErr: &wantErr{Kind: vendorerr.KindRefused, Code: "1201", Message: "购买失败"},
		},
		{
			name: "resultCode a string, detail without resultMsg",
			body: []byte(`{"code":"0","data":{"result":1,"detail":{"resultCode":"1200","orderId":"abc"}}}`),
			want: maintenance.Order{ID: "abc"},
		},
		{
			name:    "confirmed without an order id",
			body:    []byte(`{"code":"0","message":"成功","data":{"result":"1","detail":{"resultCode":1200}}}`),
			wantErr: &wantErr{Kind: -1},
		},
		{
			name:    "html",
			body:    []byte(`<html>502 Bad Gateway</html>`),
			wantErr: &wantErr{Kind: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := maintenance.DecodeOrder(tt.body)
			if diff := cmp.Diff(tt.wantErr, errOf(t, err)); diff != "" {
				t.Fatalf("error %v: mismatch (-want +got):\n%s", err, diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("order mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeResult(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		body        []byte
		wantState   maintenance.State
		wantCode    string
		wantMessage string
		wantReport  bool
		wantErr     *wantErr
	}{
		{
			name:      "document success sample (resultCode a string)",
			body:      maintenancesim.Sample(maintenancesim.SampleReportReady),
			wantState: maintenance.StateReady, wantCode: "1205", wantMessage: "已出报告", wantReport: true,
		},
		{
			name:      "document no-records sample",
			body:      maintenancesim.Sample(maintenancesim.SampleReportNoRecords),
			wantState: maintenance.StateNoRecords, wantCode: "1206", wantMessage: "无维修保养记录",
		},
		{
			name:    "code table 20804",
			body:    []byte(`{"code":"20804","message":"订单号不能为空","result":{}}`),
			wantErr: &wantErr{Kind: vendorerr.KindInvalidArgument, Code: "20804", Message: "订单号不能为空"},
		},
		{
			name:    "code table -1",
			body:    []byte(`{"code":"-1","message":"服务或其它异常","result":{}}`),
			wantErr: &wantErr{Kind: vendorerr.KindUnavailable, Code: "-1", Message: "服务或其它异常"},
		},
		{
			name:      "not ready yet",
			body:      []byte(`{"code":"0","message":"成功","data":{"result":"3","description":"查询成功,报告生成中","detail":{"resultCode":"1204","resultMsg":"报告生成中"}}}`),
			wantState: maintenance.StatePending, wantCode: "1204", wantMessage: "报告生成中",
		},
		{
			name:      "resultCode a number",
			body:      []byte(`{"code":0,"data":{"result":"2","detail":{"resultCode":1206}}}`),
			wantState: maintenance.StateNoRecords, wantCode: "1206",
		},
		{
			name:      "no detail: result decides",
			body:      []byte(`{"code":"0","message":"成功","data":{"result":"2","description":"查询成功,无记录"}}`),
			wantState: maintenance.StateNoRecords, wantCode: "2", wantMessage: "查询成功,无记录",
		},
		{
			name:      "ready without a report",
			body:      []byte(`{"code":"0","data":{"result":"1","detail":{"resultCode":"1205"}}}`),
			wantState: maintenance.StateReady, wantCode: "1205", wantReport: true,
		},
		{
			name:    "success without data",
			body:    []byte(`{"code":"0","message":"成功"}`),
			wantErr: &wantErr{Kind: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := maintenance.DecodeResult(tt.body)
			if diff := cmp.Diff(tt.wantErr, errOf(t, err)); diff != "" {
				t.Fatalf("error %v: mismatch (-want +got):\n%s", err, diff)
			}
			if err != nil {
				return
			}
			if got.State != tt.wantState || got.Code != tt.wantCode || got.Message != tt.wantMessage {
				t.Errorf("got %v %q %q, want %v %q %q", got.State, got.Code, got.Message, tt.wantState, tt.wantCode, tt.wantMessage)
			}
			if (got.Report != nil) != tt.wantReport {
				t.Errorf("got report %v, want one: %v", got.Report != nil, tt.wantReport)
			}
			if string(got.Body) != string(tt.body) {
				t.Errorf("got body %q, want the answer as sent", got.Body)
			}
		})
	}
}

// TestDecodeReportSample checks every typed field of the document's report
// sample, including its drift: numbers as strings, missing content,
// materal and type.
func TestDecodeReportSample(t *testing.T) {
	t.Parallel()
	res, err := maintenance.DecodeResult(maintenancesim.Sample(maintenancesim.SampleReportReady))
	if err != nil {
		t.Fatal(err)
	}
	got := res.Report
	ms := func(n int64) time.Time { return time.UnixMilli(n).UTC() }
	want := &maintenance.Report{
		Brand:               "路虎",
		ModelName:           "2014款 路虎 揽胜RANGE ROVER  3.0T 手自一体 HSE (RANGE ROVER SPORT 3.0L)",
		SeriesName:          "揽胜运动版(13/06-)",
		MaskedVIN:           "SA******02383",
		Manufacturer:        "进口路虎",
		MakeYear:            2014,
		Transmission:        "手自一体",
		Displacement:        "3.0T",
		EmissionStandard:    "欧五",
		ComponentRepairs:    true,
		ExteriorRepairs:     true,
		MileageNormal:       true,
		EstimatedMileage:    117369,
		YearlyMileage:       26394,
		MaintenancePerYear:  1.9,
		LastMaintenanceDate: "2016-06-23",
		LastRepairDate:      "2016-12-28",
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(maintenance.Report{}, "RepairRecords", "ComponentRecords", "ExteriorRecords", "Raw")); diff != "" {
		t.Errorf("report mismatch (-want +got):\n%s", diff)
	}

	if n := [3]int{len(got.RepairRecords), len(got.ComponentRecords), len(got.ExteriorRecords)}; n != [3]int{11, 2, 2} {
		t.Fatalf("got %v records, want [11 2 2]", n)
	}
	records := []struct {
		name string
		got  maintenance.Record
		want maintenance.Record
	}{
		{"first", got.RepairRecords[0], maintenance.Record{
			RepairDate: "2013-10-08", MaintainTime: ms(1381161600000), Mileage: 29,
			Content: "FSA Q323;", WorkItems: []string{"FSA Q323"},
		}},
		{"no content", got.RepairRecords[2], maintenance.Record{
			RepairDate: "2013-10-31", MaintainTime: ms(1383148800000), Mileage: 31,
		}},
		{"with type and parts", got.RepairRecords[10], maintenance.Record{
			RepairDate: "2016-12-28", MaintainTime: ms(1482854400000), Mileage: 85142, Type: "一般维修",
			Content:   "一般维修; 右前门打不开(更换右前门锁块);",
			WorkItems: []string{"一般维修", "右前门打不开(更换右前门锁块)"},
			Parts:     []maintenance.Part{{Name: "车门锁", Quantity: 1}, {Name: "螺母", Quantity: 2}, {Name: "锂电池", Quantity: 1}},
			PartsText: "车门锁:1; 螺母:2; 锂电池:1;",
		}},
		{"component, part names with spaces and colons", got.ComponentRecords[1], maintenance.Record{
			RepairDate: "2015-11-10", MaintainTime: ms(1447084800000), Mileage: 66291, Type: "一般维修",
			Content:   "一般维修; FSA  Q514; FSA  Q406; 防护罩 - 恒速(CV)接头与外壳; 更换变速箱下支架; 向右打方向时有异响; 客户反映加速时底盘有异响;",
			WorkItems: []string{"一般维修", "FSA  Q514", "FSA  Q406", "防护罩 - 恒速(CV)接头与外壳", "更换变速箱下支架", "向右打方向时有异响", "客户反映加速时底盘有异响"},
			Parts:     []maintenance.Part{{Name: "半轴防尘套套件", Quantity: 1}, {Name: "SHAFT AND CV-JOINT", Quantity: 1}, {Name: "BRKET - TRANSMISSION HE", Quantity: 1}},
			PartsText: "半轴防尘套套件:1; SHAFT AND CV-JOINT:1; BRKET - TRANSMISSION HE:1;",
		}},
		{"exterior without materal", got.ExteriorRecords[0], maintenance.Record{
			RepairDate: "2014-05-12", MaintainTime: ms(1399824000000), Mileage: 15271, Type: "钣金喷漆",
			Content: "钣金喷漆; 前部事故拆检更换前杠前杠线束;", WorkItems: []string{"钣金喷漆", "前部事故拆检更换前杠前杠线束"},
		}},
	}
	for _, r := range records {
		if diff := cmp.Diff(r.want, r.got); diff != "" {
			t.Errorf("%s record mismatch (-want +got):\n%s", r.name, diff)
		}
	}
	if p := got.RepairRecords[9].Parts; len(p) != 9 || p[0] != (maintenance.Part{Name: "Edge Professional E 0W-20", Quantity: 8}) {
		t.Errorf("got parts %+v, want 9 starting with Edge Professional E 0W-20 × 8", p)
	}

	// Every record's date and timestamp are the same day in China.
	china := time.FixedZone("CST", 8*3600)
	for _, list := range [][]maintenance.Record{got.RepairRecords, got.ComponentRecords, got.ExteriorRecords} {
		for i, r := range list {
			if r.MaintainTime.IsZero() || r.RepairDate != r.MaintainTime.In(china).Format(time.DateOnly) || r.Mileage <= 0 {
				t.Errorf("record %d: got date %q time %v mileage %d, want one day and a mileage", i, r.RepairDate, r.MaintainTime, r.Mileage)
			}
		}
	}

	var raw map[string]any
	if err := json.Unmarshal(got.Raw, &raw); err != nil || raw["resultCode"] != "1205" || raw["brand"] != "路虎" {
		t.Errorf("got raw %.80s (%v), want data.detail as sent", got.Raw, err)
	}
}

func TestParts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want []maintenance.Part
	}{
		{"", nil},
		{"塑料螺钉:2; ", []maintenance.Part{{Name: "塑料螺钉", Quantity: 2}}},
		{"机油：4；机滤:1", []maintenance.Part{{Name: "机油", Quantity: 4}, {Name: "机滤", Quantity: 1}}},
		{"工时费; 轮胎:两条; 螺丝:x:3", []maintenance.Part{{Name: "工时费"}, {Name: "轮胎:两条"}, {Name: "螺丝:x", Quantity: 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			body := `{"code":"0","data":{"result":"1","detail":{"resultCode":"1205","normalRepairRecords":[{"materal":` + quote(tt.text) + `}]}}}`
			res, err := maintenance.DecodeResult([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, res.Report.RepairRecords[0].Parts); diff != "" {
				t.Errorf("parts of %q mismatch (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
