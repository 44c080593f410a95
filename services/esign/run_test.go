package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
)

// startService runs the service in sandbox mode on a free port with extra
// environment, and returns its address. Callers are beside the point of
// the tests that use it: AUTH_MODE=none, unless extra says otherwise
// (auth_test.go tests the guard).
func startService(t testing.TB, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var logs logtest.Buffer
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"SANDBOX=1", "ESIGN_ADDR=127.0.0.1:0", "METRICS_ADDR=api", "LOG_LEVEL=warn", "AUTH_MODE=none",
			"ESIGN_DATABASE_URL=" + sqlstoretest.SQLiteURL(t)}, extra...), &logs, func(a net.Addr) { addr <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case a := <-addr:
		return a.String()
	case err := <-done:
		done <- nil // for the cleanup, which has nothing left to stop
		t.Fatalf("run ended before listening: %v", err)
		return ""
	}
}

func dial(t testing.TB, addr string) esignv1.EsignServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return esignv1.NewEsignServiceClient(conn)
}

// uploadContract streams data in chunks of chunk bytes.
func uploadContract(ctx context.Context, c esignv1.EsignServiceClient, id, title string, data []byte, chunk int) (*esignv1.UploadContractResponse, error) {
	s, err := c.UploadContract(ctx)
	if err != nil {
		return nil, err
	}
	first := &esignv1.UploadContractRequest{ContractId: id, DocTitle: title}
	for sent := false; !sent || len(data) > 0; sent = true {
		n := min(chunk, len(data))
		m := &esignv1.UploadContractRequest{File: data[:n]}
		if !sent {
			first.File = data[:n]
			m = first
		}
		data = data[n:]
		if err := s.Send(m); err != nil {
			break // the status comes from CloseAndRecv
		}
	}
	return s.CloseAndRecv()
}

func download(ctx context.Context, c esignv1.EsignServiceClient, id string) ([]byte, string, string, error) {
	s, err := c.DownloadContract(ctx, &esignv1.DownloadContractRequest{ContractId: id})
	if err != nil {
		return nil, "", "", err
	}
	var buf bytes.Buffer
	ct := ""
	for {
		m, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", "", err
		}
		if ct == "" {
			ct = m.GetContentType()
		}
		buf.Write(m.GetData())
	}
	h, _ := s.Header()
	return buf.Bytes(), ct, strings.Join(h.Get("content-disposition"), ""), nil
}

// TestFlowGRPC runs the whole flow over gRPC: register → certify → seal →
// upload template → generate → links → download → archive, plus the
// certification lookups, a drawn seal, a file and an uploaded contract.
func TestFlowGRPC(t *testing.T) {
	t.Parallel()
	c := dial(t, startService(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	reg, err := c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: "user-42", AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON})
	if err != nil || reg.GetCustomerId() == "" {
		t.Fatalf("RegisterAccount: got %v, %v", reg, err)
	}
	cid := reg.GetCustomerId()
	if _, err := c.ApplyCertificate(ctx, &esignv1.ApplyCertificateRequest{CustomerId: cid, VerifiedSerialno: "SN1"}); err != nil {
		t.Fatalf("ApplyCertificate: %v", err)
	}
	_, err = c.ApplyCertificate(ctx, &esignv1.ApplyCertificateRequest{CustomerId: cid, VerifiedSerialno: "SN1"})
	if got := status.Code(err); got != codes.AlreadyExists {
		t.Errorf("ApplyCertificate again: got %s, want AlreadyExists", got)
	}
	seal, err := c.CreateCustomSignature(ctx, &esignv1.CreateCustomSignatureRequest{CustomerId: cid, Content: "张三"})
	if err != nil || seal.GetContentType() != "image/png" {
		t.Fatalf("CreateCustomSignature: got %v, %v, want a PNG", seal.GetContentType(), err)
	}
	sig, err := c.AddSignature(ctx, &esignv1.AddSignatureRequest{CustomerId: cid, File: seal.GetFile()})
	if err != nil || sig.GetSignatureId() == "" {
		t.Fatalf("AddSignature: got %v, %v", sig, err)
	}
	person, err := c.GetPersonCertification(ctx, &esignv1.GetPersonCertificationRequest{VerifiedSerialno: "SN1"})
	if err != nil || person.GetPerson().GetHeadPhotoPath() == "" || person.GetCertification().GetPassTime() == nil {
		t.Fatalf("GetPersonCertification: got %v, %v", person, err)
	}
	company, err := c.GetCompanyCertification(ctx, &esignv1.GetCompanyCertificationRequest{VerifiedSerialno: "SN1"})
	if err != nil || company.GetCompany().GetCompanyName() == "" || company.GetManager() == nil {
		t.Fatalf("GetCompanyCertification: got %v, %v", company, err)
	}
	fs, err := c.GetFile(ctx, &esignv1.GetFileRequest{Uuid: person.GetPerson().GetHeadPhotoPath()})
	if err != nil {
		t.Fatal(err)
	}
	first, err := fs.Recv()
	if err != nil || first.GetContentType() != "image/png" {
		t.Fatalf("GetFile: got %v, %v, want a PNG chunk", first.GetContentType(), err)
	}

	ts, err := c.UploadTemplate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Send(&esignv1.UploadTemplateRequest{TemplateId: "T42", File: fadadasim.PDF("{borrower}")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.CloseAndRecv(); err != nil {
		t.Fatalf("UploadTemplate: %v", err)
	}
	gen, err := c.GenerateContract(ctx, &esignv1.GenerateContractRequest{
		TemplateId: "T42", ContractId: "C42", DocTitle: "Loan",
		ParameterMap:  map[string]string{"borrower": "Boss Horse"},
		DynamicTables: []*esignv1.DynamicTable{{Headers: []string{"n", "amount"}, Rows: []*esignv1.DynamicTable_Row{{Cells: []string{"1", "1000"}}}}},
		FontType:      esignv1.FontType_FONT_TYPE_HEI,
	})
	if err != nil || gen.GetViewUrl() == "" {
		t.Fatalf("GenerateContract: got %v, %v", gen, err)
	}
	links, err := c.GetContractLinks(ctx, &esignv1.GetContractLinksRequest{ContractId: "C42"})
	if err != nil || !strings.Contains(links.GetDownloadUrl(), "/v1/esign/links/") || links.GetExpireTime().AsTime().Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("GetContractLinks: got %v, %v, want the service's links for an hour", links, err)
	}
	if _, err := c.GetContractLinks(ctx, &esignv1.GetContractLinksRequest{ContractId: "NOSUCH42"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetContractLinks of an unknown contract: got %v, want NotFound", err)
	}
	pdf, ct, disposition, err := download(ctx, c, "C42")
	if err != nil || ct != "application/pdf" || !bytes.Contains(pdf, []byte("borrower: Boss Horse")) || !strings.Contains(disposition, "C42.pdf") {
		t.Fatalf("DownloadContract: got %d bytes %q %q, %v", len(pdf), ct, disposition, err)
	}
	arch, err := c.ArchiveContract(ctx, &esignv1.ArchiveContractRequest{ContractId: "C42"})
	if err != nil || arch.GetMessage() == "" {
		t.Fatalf("ArchiveContract: got %v, %v", arch, err)
	}

	up, err := uploadContract(ctx, c, "U42", "Uploaded", fadadasim.PDF("uploaded"), 100)
	if err != nil || up.GetContractId() != "U42" {
		t.Fatalf("UploadContract: got %v, %v", up, err)
	}
}

// TestRefusals checks the service's own checks and mapped vendor codes
// over gRPC.
func TestRefusals(t *testing.T) {
	t.Parallel()
	c := dial(t, startService(t, "ESIGN_MAX_UPLOAD_BYTES=100000"))
	// The subtests run after this function returns: no cancel here.
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"contract_id not alphanumeric", func() error {
			_, err := uploadContract(ctx, c, "bad-id", "t", fadadasim.PDF(), 1000)
			return err
		}, codes.InvalidArgument},
		{"not a PDF", func() error {
			_, err := uploadContract(ctx, c, "NP1", "t", []byte("hello, not a pdf"), 1000)
			return err
		}, codes.InvalidArgument},
		{"no file and no doc_url", func() error {
			_, err := uploadContract(ctx, c, "NF1", "t", nil, 1000)
			return err
		}, codes.InvalidArgument},
		{"too large", func() error {
			_, err := uploadContract(ctx, c, "BIG1", "t", append(fadadasim.PDF(), make([]byte, 200000)...), 32<<10)
			return err
		}, codes.ResourceExhausted},
		{"open_id too long", func() error {
			_, err := c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: strings.Repeat("x", 65), AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON})
			return err
		}, codes.InvalidArgument},
		{"account type unspecified", func() error {
			_, err := c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: "x"})
			return err
		}, codes.InvalidArgument},
		{"seal content too long", func() error {
			_, err := c.CreateCustomSignature(ctx, &esignv1.CreateCustomSignatureRequest{CustomerId: "c", Content: strings.Repeat("字", 51)})
			return err
		}, codes.InvalidArgument},
		{"unknown customer", func() error {
			_, err := c.ApplyCertificate(ctx, &esignv1.ApplyCertificateRequest{CustomerId: "NOPE", VerifiedSerialno: "S"})
			return err
		}, codes.NotFound},
		{"seal before certification", func() error {
			reg, err := c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: "uncertified", AccountType: esignv1.AccountType_ACCOUNT_TYPE_COMPANY})
			if err != nil {
				return err
			}
			_, err = c.AddSignature(ctx, &esignv1.AddSignatureRequest{CustomerId: reg.GetCustomerId(), File: pngHeader})
			return err
		}, codes.FailedPrecondition},
		{"unknown template", func() error {
			_, err := c.GenerateContract(ctx, &esignv1.GenerateContractRequest{TemplateId: "NOPE", ContractId: "G1", DocTitle: "t"})
			return err
		}, codes.NotFound},
		{"unknown contract download", func() error {
			_, _, _, err := download(ctx, c, "NOPE")
			return err
		}, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := status.Code(tt.call()); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// pngHeader is the start of a PNG: enough for the service's type check.
var pngHeader = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

var (
	_ = metadata.MD{}
	_ = httpbody.HttpBody{}
)

// TestSQLiteOneProcess: on SQLite the service says at start that the file
// takes one process, and a second service on the same file is refused with
// an error naming ESIGN_DATABASE_URL.
func TestSQLiteOneProcess(t *testing.T) {
	t.Parallel()
	dbURL := sqlstoretest.SQLiteURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs logtest.Buffer
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"SANDBOX=1", "ESIGN_ADDR=127.0.0.1:0", "ESIGN_DATABASE_URL=" + dbURL}, &logs, func(a net.Addr) { addr <- a })
	}()
	select {
	case <-addr:
	case err := <-done:
		t.Fatalf("run ended before listening: %v", err)
	}
	err := run(context.Background(), []string{"SANDBOX=1", "ESIGN_ADDR=127.0.0.1:0", "ESIGN_DATABASE_URL=" + dbURL}, io.Discard, nil)
	if !errors.Is(err, sqlstore.ErrSQLiteInUse) || !strings.Contains(err.Error(), "ESIGN_DATABASE_URL") {
		t.Errorf("second service on the same SQLite file: got %v, want %v naming ESIGN_DATABASE_URL", err, sqlstore.ErrSQLiteInUse)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if !strings.Contains(logs.String(), "esign keeps its state in an embedded SQLite file: run ONE process of the esign service on it") {
		t.Errorf("the log does not say that SQLite means one process:\n%s", logs.String())
	}
}
