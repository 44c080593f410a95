package server

import (
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
)

// sniff is the media type of b by its first bytes.
func sniff(b []byte) string {
	if len(b) == 0 {
		return "empty"
	}
	return http.DetectContentType(b)
}

// timestamp is t as a proto timestamp; the zero time (the vendor did not
// say) is nil.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func certification(c contracts.Certification) *esignv1.Certification {
	return &esignv1.Certification{
		TransactionNo: c.TransactionNo,
		Type:          c.Type,
		SubmitTime:    timestamp(c.SubmitTime),
		PassTime:      timestamp(c.PassTime),
	}
}

func person(p *contracts.Person) *esignv1.PersonCertification {
	if p == nil {
		return nil
	}
	return &esignv1.PersonCertification{
		PersonName: p.Name, IdCard: p.IDCard, Mobile: p.Mobile, Status: p.Status, Type: p.Type,
		VerifyType: p.VerifyType, AuditFailReason: p.AuditFailReason, AuditorTime: p.AuditorTime, HeadPhotoPath: p.HeadPhotoPath,
	}
}

func company(c *contracts.Company) *esignv1.CompanyCertification {
	if c == nil {
		return nil
	}
	return &esignv1.CompanyCertification{
		CompanyName: c.Name, Organization: c.Organization, LegalName: c.LegalName, Status: c.Status,
		VerifyType: c.VerifyType, HasAgent: c.HasAgent, AuditFailReason: c.AuditFailReason,
		AuditorTime: c.AuditorTime, OrganizationPath: c.OrganizationPath, RegFormPath: c.RegFormPath,
		RelatedTransactionNo: c.RelatedTransactionNo, Legal: c.Legal,
	}
}
