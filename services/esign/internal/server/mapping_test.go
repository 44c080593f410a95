package server

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
)

// TestCompanyCertificationMapping maps a company's verification whose
// fields all differ (the raw document's find_companyCertInfo sample with
// distinct values in place of its "xxx", as fadada decodes it) field by
// field, so that two swapped fields fail.
func TestCompanyCertificationMapping(t *testing.T) {
	t.Parallel()
	info := contracts.Certification{
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

// TestCertificationWithoutTimes: times the vendor did not give are unset,
// not the epoch.
func TestCertificationWithoutTimes(t *testing.T) {
	t.Parallel()
	got := certification(contracts.Certification{TransactionNo: "t"})
	want := &esignv1.Certification{TransactionNo: "t"}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("mapping (-want +got):\n%s", diff)
	}
}
