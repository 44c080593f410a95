package server

import (
	"net/http"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
)

// sniff is the media type of b by its first bytes.
func sniff(b []byte) string {
	if len(b) == 0 {
		return "empty"
	}
	return http.DetectContentType(b)
}

// millis is an epoch-milliseconds string as a timestamp; empty or
// malformed is nil.
func millis(s string) *timestamppb.Timestamp {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return nil
	}
	return timestamppb.New(time.UnixMilli(ms))
}

func certification(c fadada.CertInfo) *esignv1.Certification {
	return &esignv1.Certification{
		TransactionNo: c.TransactionNo,
		Type:          string(c.Type),
		SubmitTime:    millis(string(c.AuthenticationSubmitTime)),
		PassTime:      millis(string(c.PassTime)),
	}
}

func person(p *fadada.PersonInfo) *esignv1.PersonCertification {
	if p == nil {
		return nil
	}
	return &esignv1.PersonCertification{
		PersonName: p.PersonName, IdCard: p.IDCard, Mobile: p.Mobile, Status: string(p.Status), Type: string(p.Type),
		VerifyType: string(p.VerifyType), AuditFailReason: p.AuditFailReason, AuditorTime: p.AuditorTime, HeadPhotoPath: p.HeadPhotoPath,
	}
}

func company(c *fadada.CompanyInfo) *esignv1.CompanyCertification {
	if c == nil {
		return nil
	}
	return &esignv1.CompanyCertification{
		CompanyName: c.CompanyName, Organization: c.Organization, LegalName: c.LegalName, Status: string(c.Status),
		VerifyType: string(c.VerifyType), HasAgent: string(c.HasAgent), AuditFailReason: c.AuditFailReason,
		AuditorTime: c.AuditorTime, OrganizationPath: c.OrganizationPath, RegFormPath: c.RegFormPath,
		RelatedTransactionNo: c.RelatedTransactionNo, Legal: c.Legal,
	}
}
