package fadada

import (
	"strconv"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorjson"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
)

// certInfo is find_personCertInfo's and find_companyCertInfo's data.
type certInfo struct {
	AuthenticationSubmitTime vendorjson.String `json:"authenticationSubmitTime"`
	PassTime                 vendorjson.String `json:"passTime"`
	TransactionNo            string            `json:"transactionNo"`
	Type                     vendorjson.String `json:"type"`
	Person                   *personInfo       `json:"person"`
	Manager                  *personInfo       `json:"manager"`
	Company                  *companyInfo      `json:"company"`
}

// personInfo is a verified person.
type personInfo struct {
	AuditFailReason string            `json:"auditFailReason"`
	AuditorTime     string            `json:"auditorTime"`
	HeadPhotoPath   string            `json:"headPhotoPath"`
	IDCard          string            `json:"idCard"`
	Mobile          string            `json:"mobile"`
	PersonName      string            `json:"personName"`
	Status          vendorjson.String `json:"status"`
	Type            vendorjson.String `json:"type"`
	VerifyType      vendorjson.String `json:"verifyType"`
}

// companyInfo is a verified company.
type companyInfo struct {
	AuditFailReason      string            `json:"auditFailReason"`
	AuditorTime          string            `json:"auditorTime"`
	CompanyName          string            `json:"companyName"`
	HasAgent             vendorjson.String `json:"hasagent"`
	Legal                string            `json:"legal"`
	LegalName            string            `json:"legalName"`
	Organization         string            `json:"organization"`
	OrganizationPath     string            `json:"organizationPath"`
	RegFormPath          string            `json:"regFormPath"`
	RelatedTransactionNo string            `json:"relatedTransactionNo"`
	Status               vendorjson.String `json:"status"`
	VerifyType           vendorjson.String `json:"verifyType"`
}

func (c certInfo) certification() contracts.Certification {
	return contracts.Certification{
		TransactionNo: c.TransactionNo,
		Type:          string(c.Type),
		SubmitTime:    millis(string(c.AuthenticationSubmitTime)),
		PassTime:      millis(string(c.PassTime)),
		Person:        c.Person.person(),
		Manager:       c.Manager.person(),
		Company:       c.Company.company(),
	}
}

func (p *personInfo) person() *contracts.Person {
	if p == nil {
		return nil
	}
	return &contracts.Person{
		Name: p.PersonName, IDCard: p.IDCard, Mobile: p.Mobile, Status: string(p.Status), Type: string(p.Type),
		VerifyType: string(p.VerifyType), AuditFailReason: p.AuditFailReason, AuditorTime: p.AuditorTime, HeadPhotoPath: p.HeadPhotoPath,
	}
}

func (c *companyInfo) company() *contracts.Company {
	if c == nil {
		return nil
	}
	return &contracts.Company{
		Name: c.CompanyName, Organization: c.Organization, LegalName: c.LegalName, Legal: c.Legal, Status: string(c.Status),
		VerifyType: string(c.VerifyType), HasAgent: string(c.HasAgent), AuditFailReason: c.AuditFailReason,
		AuditorTime: c.AuditorTime, OrganizationPath: c.OrganizationPath, RegFormPath: c.RegFormPath,
		RelatedTransactionNo: c.RelatedTransactionNo,
	}
}

// millis is the time of an epoch-milliseconds string (the verifications'
// times); empty or malformed is the zero time.
func millis(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
