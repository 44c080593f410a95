package contracts

import (
	"context"
	"io"
	"time"
)

// Vendor is what the use case needs of the Fadada client (fadada.Client).
// Its types are the use case's: the client maps them to and from Fadada's
// forms and JSON, and names Fadada's codes itself.
type Vendor interface {
	RegisterAccount(ctx context.Context, openID string, t AccountType) (string, error)
	ApplyCert(ctx context.Context, customerID, verifiedSerialNo string) error
	AddSignature(ctx context.Context, customerID string, image []byte) (string, error)
	CustomSignature(ctx context.Context, customerID, content string) ([]byte, error)
	UploadDocs(ctx context.Context, contractID, title string, doc Document) error
	UploadTemplate(ctx context.Context, templateID string, doc Document) error
	GenerateContract(ctx context.Context, g Generate) (Generated, error)
	DownloadContract(ctx context.Context, contractID string, consume FileConsumer) error
	ContractLinks(contractID string) (VendorLinks, error)
	ContractFiling(ctx context.Context, contractID string) (string, error)
	PersonCertInfo(ctx context.Context, verifiedSerialNo string) (Certification, error)
	CompanyCertInfo(ctx context.Context, verifiedSerialNo string) (Certification, error)
	GetFile(ctx context.Context, uuid string, consume FileConsumer) error

	// CertApplied reports whether err is ApplyCert's refusal of a second
	// application for the same certificate.
	CertApplied(err error) bool
	// Archived reports whether err is ContractFiling's refusal of a
	// contract that is archived already, with the vendor's message.
	Archived(err error) (msg string, ok bool)
}

// AccountType is the kind of signer an account is for.
type AccountType int

// The account types.
const (
	AccountPerson AccountType = iota + 1
	AccountCompany
)

// Document is a file to upload: Content streamed, or URL for the vendor
// to fetch (exactly one).
type Document struct {
	// URL is doc_url.
	URL string
	// Name is the file name sent with Content, e.g. "contract.pdf".
	Name string
	// ContentType is Content's media type.
	ContentType string
	// Content is the file, read once while the request is sent.
	Content io.Reader
}

// FileConsumer receives a downloaded file's media type and bytes.
type FileConsumer func(contentType string, body io.Reader) error

// Generate is a contract to fill from a template.
type Generate struct {
	// TemplateID is the template to fill.
	TemplateID string
	// ContractID is the new contract's id.
	ContractID string
	// DocTitle is the new contract's title.
	DocTitle string
	// ParameterMap fills the template's fields by name.
	ParameterMap map[string]string
	// DynamicTables are tables added to the contract.
	DynamicTables []DynamicTable
	// FontSize is the fields' font size, as decimal text; empty leaves
	// the template's.
	FontSize string
	// FontType is the fields' font ("0" 宋体 … "4" 微软雅黑); empty leaves
	// the template's.
	FontType string
}

// DynamicTable is a table added to a generated contract.
type DynamicTable struct {
	// Rows are the table's cells, row by row.
	Rows [][]string
	// Headers are the column headers.
	Headers []string
	// ColWidthPercent are the columns' widths, in percent.
	ColWidthPercent []int32
	// CellHeight is a cell's height.
	CellHeight float64
	// CellHorizontalAlignment and CellVerticalAlignment align a cell's
	// text.
	CellHorizontalAlignment int32
	CellVerticalAlignment   int32
	// PageBegin is the page the table starts on.
	PageBegin int32
	// TheFirstHeader is the title above the table.
	TheFirstHeader string
}

// Generated are the vendor's links to a generated contract.
type Generated struct {
	ViewURL     string
	DownloadURL string
}

// VendorLinks are Fadada's signed browser links to a contract.
type VendorLinks struct {
	// View opens the page that shows the contract.
	View string
	// Download downloads its PDF.
	Download string
	// SignedAt is when the links were signed.
	SignedAt time.Time
}

// Certification is a real-name verification: a person's (Person), or a
// company's (Company, with its Manager).
type Certification struct {
	// TransactionNo is the verification's transaction number.
	TransactionNo string
	// Type is the vendor's verification type.
	Type string
	// SubmitTime and PassTime are when it was submitted and passed; zero
	// when the vendor did not say.
	SubmitTime time.Time
	PassTime   time.Time
	// Person is the verified person, for a person's verification.
	Person *Person
	// Manager is the company's manager, for a company's verification.
	Manager *Person
	// Company is the verified company, for a company's verification.
	Company *Company
}

// Person is a verified person; its fields are the vendor's of the same
// names (personName, idCard, mobile, …).
type Person struct {
	Name            string
	IDCard          string
	Mobile          string
	Status          string
	Type            string
	VerifyType      string
	AuditFailReason string
	AuditorTime     string
	HeadPhotoPath   string
}

// Company is a verified company; its fields are the vendor's of the same
// names (companyName, organization, legalName, …).
type Company struct {
	Name                 string
	Organization         string
	LegalName            string
	Legal                string
	Status               string
	VerifyType           string
	HasAgent             string
	AuditFailReason      string
	AuditorTime          string
	OrganizationPath     string
	RegFormPath          string
	RelatedTransactionNo string
}
