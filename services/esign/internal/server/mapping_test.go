package server

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
)

// TestCompanyCertificationMapping maps the raw document's
// find_companyCertInfo sample, with distinct values in place of its "xxx",
// field by field, so that two swapped fields fail.
func TestCompanyCertificationMapping(t *testing.T) {
	t.Parallel()
	body := `{"code":1,"data":{"authenticationSubmitTime":"1546938963000","bankCard":null,"company":{"auditFailReason":"r1","auditorTime":"2019-01-08 17:15:05.0","companyName":"c1","hasagent":"0","legal":"l1","legalName":"ln1","organization":"o1","organizationPath":"op1","regFormPath":"rf1","relatedTransactionNo":"rt1","status":"4","verifyType":"1"},"manager":{"auditFailReason":"r2","auditorTime":"a2","headPhotoPath":"h2","idCard":"i2","mobile":"m2","personName":"p2","status":"2","type":"1","verifyType":"0"},"passTime":"1546938905000","person":null,"transactionNo":"t1","type":"2"},"msg":"success"}`
	var info fadada.CertInfo
	env, err := fadada.Decode(fadada.PathCompanyCertInfo, []byte(body), &info)
	if err != nil || !env.Success() {
		t.Fatalf("Decode: %v", err)
	}
	got := &esignv1.GetCompanyCertificationResponse{Certification: certification(info), Company: company(info.Company), Manager: person(info.Manager)}
	want := &esignv1.GetCompanyCertificationResponse{
		Certification: &esignv1.Certification{
			TransactionNo: "t1", Type: "2",
			SubmitTime: timestamppb.New(time.UnixMilli(1546938963000)), PassTime: timestamppb.New(time.UnixMilli(1546938905000)),
		},
		Company: &esignv1.CompanyCertification{
			CompanyName: "c1", Organization: "o1", LegalName: "ln1", Status: "4", VerifyType: "1", HasAgent: "0",
			AuditFailReason: "r1", AuditorTime: "2019-01-08 17:15:05.0", OrganizationPath: "op1", RegFormPath: "rf1",
			RelatedTransactionNo: "rt1", Legal: "l1",
		},
		Manager: &esignv1.PersonCertification{
			PersonName: "p2", IdCard: "i2", Mobile: "m2", Status: "2", Type: "1", VerifyType: "0",
			AuditFailReason: "r2", AuditorTime: "a2", HeadPhotoPath: "h2",
		},
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("mapping (-want +got):\n%s", diff)
	}
}
