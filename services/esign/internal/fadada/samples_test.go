package fadada

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
)

// TestDocSamplesDecode decodes every JSON response sample of the raw
// document (vendor-docs/esign-fadada.txt), success and failure.
func TestDocSamplesDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		endpoint string
		body     string
		// wantKind is the failure's kind; -1 means success.
		wantKind vendorerr.Kind
		wantCode string
		check    func(t *testing.T, env envelope, data json.RawMessage)
	}{
		{
			name: "find_companyCertInfo ok", endpoint: PathCompanyCertInfo, wantKind: -1,
			body: `{"code":1,"data":{"authenticationSubmitTime":"1546938963000","bankCard":null,"company":{"auditFailReason":"","auditorTime":"2019-01-08 17:15:05.0","companyName":"xxx","hasagent":"0","legal":"","legalName":"xxx","organization":"xxx","organizationPath":"xxx","regFormPath":"xxx","relatedTransactionNo":"xxx","status":"4","verifyType":"1"},"manager":{"auditFailReason":"","auditorTime":"","headPhotoPath":"xxx","idCard":"xxx","mobile":"xxx","personName":"xxx","status":"2","type":"1","verifyType":"0"},"passTime":"1546938905000","person":null,"transactionNo":"xxx","type":"2"},"msg":"success"}`,
			check: func(t *testing.T, _ envelope, data json.RawMessage) {
				var info certInfo
				if err := json.Unmarshal(data, &info); err != nil {
					t.Fatal(err)
				}
				want := contracts.Certification{
					SubmitTime: time.UnixMilli(1546938963000), PassTime: time.UnixMilli(1546938905000), TransactionNo: "xxx", Type: "2",
					Company: &contracts.Company{AuditorTime: "2019-01-08 17:15:05.0", Name: "xxx", HasAgent: "0", LegalName: "xxx",
						Organization: "xxx", OrganizationPath: "xxx", RegFormPath: "xxx", RelatedTransactionNo: "xxx", Status: "4", VerifyType: "1"},
					Manager: &contracts.Person{HeadPhotoPath: "xxx", IDCard: "xxx", Mobile: "xxx", Name: "xxx", Status: "2", Type: "1", VerifyType: "0"},
				}
				if diff := cmp.Diff(want, info.certification()); diff != "" {
					t.Errorf("certification (-want +got):\n%s", diff)
				}
			},
		},
		{name: "find_companyCertInfo fail", endpoint: PathCompanyCertInfo, wantKind: vendorerr.KindInvalidArgument, wantCode: "3100",
			body: `{"code":3100,"data":null,"msg":"账号类型非法"}`},
		{
			name: "find_personCertInfo ok", endpoint: PathPersonCertInfo, wantKind: -1,
			body: `{"code":1,"data":{"authenticationSubmitTime":"1546939583000","bankCard":null,"company":null,"manager":null,"passTime":"1546939597000","person":{"auditFailReason":"","auditorTime":"","headPhotoPath":"xxx","idCard":"xxx","mobile":"xxx","personName":"xxx","status":"2","type":"0","verifyType":"1"},"transactionNo":"xxx","type":"1"},"msg":"success"}`,
			check: func(t *testing.T, _ envelope, data json.RawMessage) {
				var info certInfo
				if err := json.Unmarshal(data, &info); err != nil {
					t.Fatal(err)
				}
				want := contracts.Certification{
					SubmitTime: time.UnixMilli(1546939583000), PassTime: time.UnixMilli(1546939597000), TransactionNo: "xxx", Type: "1",
					Person: &contracts.Person{HeadPhotoPath: "xxx", IDCard: "xxx", Mobile: "xxx", Name: "xxx", Status: "2", Type: "0", VerifyType: "1"},
				}
				if diff := cmp.Diff(want, info.certification()); diff != "" {
					t.Errorf("certification (-want +got):\n%s", diff)
				}
			},
		},
		{name: "find_personCertInfo fail", endpoint: PathPersonCertInfo, wantKind: vendorerr.KindInvalidArgument, wantCode: "3100",
			body: `{"code":3100,"data":null,"msg":"账号类型非法"}`},
		{name: "contractFiling ok", endpoint: PathContractFiling, wantKind: -1,
			body: `{"code":"1000","msg":"操作成功","result":"success"}`,
			check: func(t *testing.T, env envelope, _ json.RawMessage) {
				if env.Msg != "操作成功" {
					t.Errorf("msg: got %q, want 操作成功", env.Msg)
				}
			}},
		{name: "contractFiling fail", endpoint: PathContractFiling, wantKind: vendorerr.KindInvalidArgument, wantCode: "2002",
			body: `{"code":"2002","msg":"合同编号不能为空.","result":"error"}`},
		{name: "generate_contract ok", endpoint: PathGenerateContract, wantKind: -1,
			body: `{"code":"1000","download_url":"http:\/\/testapi.fadada.com............BQg==","msg":"操作成功","result":"success","viewpdf_url":"http:\/\/testapi.fadada.com........BQg=="}`,
			check: func(t *testing.T, env envelope, _ json.RawMessage) {
				if env.DownloadURL != "http://testapi.fadada.com............BQg==" || env.ViewPDFURL != "http://testapi.fadada.com........BQg==" {
					t.Errorf("links: got %q and %q, want the sample's download and view URLs", env.DownloadURL, env.ViewPDFURL)
				}
			}},
		{name: "generate_contract fail: no template", endpoint: PathGenerateContract, wantKind: vendorerr.KindNotFound, wantCode: "2002",
			body: `{"code":"2002","download_url":null,"msg":"对不起,没有检索到模板文件!","result":"error","viewpdf_url":null}`},
		{name: "uploadtemplate ok", endpoint: PathUploadTemplate, wantKind: -1,
			body: `{"code":"1","msg":"上传成功!","result":"success"}`},
		{name: "uploadtemplate fail", endpoint: PathUploadTemplate, wantKind: vendorerr.KindInvalidArgument, wantCode: "2002",
			body: `{"code":"2002","msg":"文件类型错误","result":"error"}`},
		{name: "uploaddocs ok", endpoint: PathUploadDocs, wantKind: -1,
			body: `{"code":"1000","msg":"操作成功","result":"success"}`},
		{name: "uploaddocs fail", endpoint: PathUploadDocs, wantKind: vendorerr.KindInvalidArgument, wantCode: "2002",
			body: `{"code":"2002","msg":"无法获取文档(file与doc_url皆为空).","result":"error"}`},
		{name: "custom_signature ok", endpoint: PathCustomSignature, wantKind: -1,
			body: `{"code":1,"data":{"signature_img_base64":"iVBORw0…………..lFTkSuQmCC"},"msg":"success"}`,
			check: func(t *testing.T, _ envelope, data json.RawMessage) {
				var got struct {
					Image string `json:"signature_img_base64"`
				}
				if err := json.Unmarshal(data, &got); err != nil || got.Image != "iVBORw0…………..lFTkSuQmCC" {
					t.Errorf("signature_img_base64: got %q (%v), want the sample's", got.Image, err)
				}
			}},
		{name: "custom_signature fail", endpoint: PathCustomSignature, wantKind: vendorerr.KindInvalidArgument, wantCode: "1004",
			body: `{"code":1004,"data":null,"msg":"请求参数非法"}`},
		{name: "add_signature ok", endpoint: PathAddSignature, wantKind: -1,
			body: `{"code":1,"data":{"signature_id":"4309624","signature_sub_info":null},"msg":"success"}`,
			check: func(t *testing.T, _ envelope, data json.RawMessage) {
				var got struct {
					ID string `json:"signature_id"`
				}
				if err := json.Unmarshal(data, &got); err != nil || got.ID != "4309624" {
					t.Errorf("signature_id: got %q (%v), want 4309624", got.ID, err)
				}
			}},
		{name: "add_signature fail: not certified", endpoint: PathAddSignature, wantKind: vendorerr.KindRefused, wantCode: "1302",
			body: `{"code":1302,"data":null,"msg":"尚未实名认证"}`},
		{name: "apply_cert ok", endpoint: PathApplyCert, wantKind: -1, body: `{"code":1,"msg":"success"}`},
		{name: "apply_cert fail: already applied", endpoint: PathApplyCert, wantKind: vendorerr.KindAlreadyExists, wantCode: "3201",
			body: `{"code":3201,"msg":"不能重复申请证书"}`},
		{name: "wrong msg_digest", endpoint: PathUploadDocs, wantKind: vendorerr.KindAuth, wantCode: "1003",
			body: `{"code":"1003","msg":"msg_digest无效","result":"error"}`},
		{name: "unknown customer", endpoint: PathApplyCert, wantKind: vendorerr.KindNotFound, wantCode: "1601",
			body: `{"code":1601,"msg":"客户编号无效"}`},
		{name: "duplicate template id", endpoint: PathUploadTemplate, wantKind: vendorerr.KindAlreadyExists, wantCode: "2507",
			body: `{"code":"2507","msg":"对不起,模板号重复","result":"error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, err := decode(tt.endpoint, []byte(tt.body), nil)
			if tt.wantKind == -1 {
				if err != nil {
					t.Fatalf("Decode: got %v, want success", err)
				}
				if tt.check != nil {
					tt.check(t, env, env.Data)
				}
				return
			}
			ve, ok := vendorerr.As(err)
			if !ok {
				t.Fatalf("Decode: got %v, want a vendor error", err)
			}
			if ve.Kind != tt.wantKind || ve.Code != tt.wantCode || ve.Vendor != Vendor || ve.Endpoint != tt.endpoint {
				t.Errorf("Decode: got kind %s code %s vendor %s endpoint %s, want %s %s %s %s",
					ve.Kind, ve.Code, ve.Vendor, ve.Endpoint, tt.wantKind, tt.wantCode, Vendor, tt.endpoint)
			}
			if ve.Kind == vendorerr.KindAuth && ve.Config != ConfigVars {
				t.Errorf("Config: got %q, want %q", ve.Config, ConfigVars)
			}
		})
	}
}

// TestCompanyCertInfoFieldByField decodes the raw document's
// find_companyCertInfo sample, with distinct values in place of its "xxx",
// field by field, so that two swapped fields fail.
func TestCompanyCertInfoFieldByField(t *testing.T) {
	t.Parallel()
	body := `{"code":1,"data":{"authenticationSubmitTime":"1546938963000","bankCard":null,"company":{"auditFailReason":"r1","auditorTime":"2019-01-08 17:15:05.0","companyName":"c1","hasagent":"0","legal":"l1","legalName":"ln1","organization":"o1","organizationPath":"op1","regFormPath":"rf1","relatedTransactionNo":"rt1","status":"4","verifyType":"1"},"manager":{"auditFailReason":"r2","auditorTime":"a2","headPhotoPath":"h2","idCard":"i2","mobile":"m2","personName":"p2","status":"2","type":"1","verifyType":"0"},"passTime":"1546938905000","person":null,"transactionNo":"t1","type":"2"},"msg":"success"}`
	var info certInfo
	if _, err := decode(PathCompanyCertInfo, []byte(body), &info); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := contracts.Certification{
		TransactionNo: "t1", Type: "2", SubmitTime: time.UnixMilli(1546938963000), PassTime: time.UnixMilli(1546938905000),
		Company: &contracts.Company{
			Name: "c1", Organization: "o1", LegalName: "ln1", Status: "4", VerifyType: "1", HasAgent: "0",
			AuditFailReason: "r1", AuditorTime: "2019-01-08 17:15:05.0", OrganizationPath: "op1", RegFormPath: "rf1",
			RelatedTransactionNo: "rt1", Legal: "l1",
		},
		Manager: &contracts.Person{
			Name: "p2", IDCard: "i2", Mobile: "m2", Status: "2", Type: "1", VerifyType: "0",
			AuditFailReason: "r2", AuditorTime: "a2", HeadPhotoPath: "h2",
		},
	}
	if diff := cmp.Diff(want, info.certification()); diff != "" {
		t.Errorf("certification (-want +got):\n%s", diff)
	}
}

// TestMillis: the verifications' epoch-milliseconds times, and the zero
// time for what is not one.
func TestMillis(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Time{
		"1546938963000": time.UnixMilli(1546938963000), "": {}, "0": {}, "-5": {}, "2019-01-08": {},
	} {
		if got := millis(in); !got.Equal(want) {
			t.Errorf("millis(%q): got %v, want %v", in, got, want)
		}
	}
}
