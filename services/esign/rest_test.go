package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/serve/resttest"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
)

// restCall sends body (JSON when a string or a map) and decodes a JSON
// answer into out.
func restCall(t *testing.T, method, url, contentType string, body io.Reader, wantStatus int, out any) http.Header {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: got %d %s, want %d", method, url, resp.StatusCode, b, wantStatus)
	}
	if out != nil {
		if p, ok := out.(*[]byte); ok {
			*p = b
		} else if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: got %s, want JSON: %v", method, url, b, err)
		}
	}
	return resp.Header
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// multipartBody is a form with fields and a file part, as curl -F sends.
func multipartBody(t *testing.T, fields map[string]string, file []byte) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		w, err := mw.CreateFormFile("file", "upload.pdf")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(file)
	}
	_ = mw.Close()
	return &b, mw.FormDataContentType()
}

// TestFlowREST runs the whole flow over REST: register → certify → seal →
// upload template (multipart) → generate → links → download → archive,
// and uploads a contract as multipart and as JSON.
func TestFlowREST(t *testing.T) {
	t.Parallel()
	base := "http://" + startService(t) + "/v1/esign"

	var reg struct {
		CustomerID string `json:"customer_id"`
	}
	restCall(t, "POST", base+"/accounts", "application/json", jsonBody(map[string]any{"open_id": "rest-user", "account_type": "ACCOUNT_TYPE_PERSON"}), 200, &reg)
	if reg.CustomerID == "" {
		t.Fatal("RegisterAccount: got no customer_id")
	}
	restCall(t, "POST", base+"/accounts/"+reg.CustomerID+":applyCertificate", "application/json", jsonBody(map[string]any{"verified_serialno": "RSN1"}), 200, nil)
	var seal struct {
		File        string `json:"file"`
		ContentType string `json:"content_type"`
	}
	restCall(t, "POST", base+"/accounts/"+reg.CustomerID+"/signatures:generate", "application/json", jsonBody(map[string]any{"content": "张三"}), 200, &seal)
	var sig struct {
		SignatureID string `json:"signature_id"`
	}
	restCall(t, "POST", base+"/accounts/"+reg.CustomerID+"/signatures", "application/json", jsonBody(map[string]any{"file": seal.File}), 200, &sig)
	if sig.SignatureID == "" {
		t.Errorf("AddSignature: got no signature_id")
	}
	var person struct {
		Person struct {
			PersonName string `json:"person_name"`
		} `json:"person"`
	}
	restCall(t, "GET", base+"/certifications/persons/RSN1", "", nil, 200, &person)
	if person.Person.PersonName == "" {
		t.Errorf("GetPersonCertification: got no person_name")
	}
	restCall(t, "GET", base+"/certifications/companies/RSN1", "", nil, 200, nil)
	h := restCall(t, "GET", base+"/files/"+fadadasim.PhotoUUID, "", nil, 200, nil)
	if got := h.Get("Content-Type"); got != "image/png" {
		t.Errorf("GetFile Content-Type: got %s, want image/png", got)
	}

	body, ct := multipartBody(t, map[string]string{"template_id": "RT1"}, fadadasim.PDF("{borrower}"))
	restCall(t, "POST", base+"/templates", ct, body, 200, nil)
	var gen struct {
		ContractID string `json:"contract_id"`
	}
	restCall(t, "POST", base+"/templates/RT1:generate", "application/json", jsonBody(map[string]any{
		"contract_id": "RC1", "doc_title": "Loan", "parameter_map": map[string]string{"borrower": "Boss Horse"},
		"dynamic_tables": []any{map[string]any{"headers": []string{"n"}, "rows": []any{map[string]any{"cells": []string{"1"}}}}},
	}), 200, &gen)
	var links struct {
		ViewURL     string `json:"view_url"`
		DownloadURL string `json:"download_url"`
		ExpireTime  string `json:"expire_time"`
	}
	restCall(t, "GET", base+"/contracts/RC1/links", "", nil, 200, &links)
	if links.ExpireTime == "" || !strings.HasPrefix(links.ViewURL, base+"/links/") {
		t.Errorf("GetContractLinks: got %+v, want the service's links", links)
	}
	var pdf []byte
	h = restCall(t, "GET", base+"/contracts/RC1/content", "", nil, 200, &pdf)
	if got := h.Get("Content-Type"); got != "application/pdf" {
		t.Errorf("DownloadContract Content-Type: got %s, want application/pdf", got)
	}
	if got := h.Get("Content-Disposition"); !strings.Contains(got, `filename=RC1.pdf`) {
		t.Errorf("DownloadContract Content-Disposition: got %q, want filename=RC1.pdf", got)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || !bytes.Contains(pdf, []byte("borrower: Boss Horse")) {
		t.Errorf("DownloadContract: got %.60q, want the filled PDF", pdf)
	}
	restCall(t, "POST", base+"/contracts/RC1:archive", "application/json", jsonBody(map[string]any{}), 200, nil)

	body, ct = multipartBody(t, map[string]string{"contract_id": "RU1", "doc_title": "Uploaded"}, fadadasim.PDF("multipart"))
	var up struct {
		ContractID string `json:"contract_id"`
	}
	restCall(t, "POST", base+"/contracts", ct, body, 200, &up)
	if up.ContractID != "RU1" {
		t.Errorf("multipart UploadContract: got %q, want RU1", up.ContractID)
	}
	restCall(t, "POST", base+"/contracts", "application/json", jsonBody(map[string]any{
		"contract_id": "RJ1", "doc_title": "JSON", "file": base64.StdEncoding.EncodeToString(fadadasim.PDF("json")),
	}), 200, nil)
	var got []byte
	restCall(t, "GET", base+"/contracts/RU1/content", "", nil, 200, &got)
	if !bytes.Equal(got, fadadasim.PDF("multipart")) {
		t.Errorf("download of the multipart upload: got %d bytes, want the uploaded %d", len(got), len(fadadasim.PDF("multipart")))
	}
}

// TestRESTRefusals checks statuses and the error shape over REST.
func TestRESTRefusals(t *testing.T) {
	t.Parallel()
	base := "http://" + startService(t, "ESIGN_MAX_UPLOAD_BYTES=100000") + "/v1/esign"
	big, bigCT := multipartBody(t, map[string]string{"contract_id": "BIG", "doc_title": "t"}, append(fadadasim.PDF(), make([]byte, 300000)...))
	notPDF, notPDFCT := multipartBody(t, map[string]string{"contract_id": "NP", "doc_title": "t"}, []byte("plain text"))
	both, bothCT := multipartBody(t, map[string]string{"contract_id": "BO", "doc_title": "t", "doc_url": "https://example.com/c.pdf"}, fadadasim.PDF())
	tests := []struct {
		name, method, path, ct string
		body                   io.Reader
		wantStatus             int
		wantReason             string
	}{
		{"multipart too large", "POST", "/contracts", bigCT, big, 413, "REQUEST_TOO_LARGE"},
		{"multipart not a PDF", "POST", "/contracts", notPDFCT, notPDF, 400, "INVALID_ARGUMENT"},
		{"file and doc_url", "POST", "/contracts", bothCT, both, 400, "INVALID_ARGUMENT"},
		{"unknown contract", "GET", "/contracts/NOPE/content", "", nil, 404, "VENDOR_NOT_FOUND"},
		{"bad contract id", "GET", "/contracts/bad-id/links", "", nil, 400, "INVALID_ARGUMENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got struct {
				Details []struct {
					Reason string `json:"reason"`
				} `json:"details"`
			}
			restCall(t, tt.method, base+tt.path, tt.ct, tt.body, tt.wantStatus, &got)
			reasons := ""
			for _, d := range got.Details {
				reasons += d.Reason + " "
			}
			if !strings.Contains(reasons, tt.wantReason) {
				t.Errorf("reasons: got %q, want %s", reasons, tt.wantReason)
			}
		})
	}
}

// TestDocsPageInChromium loads /docs in headless Chromium: it lists every
// RPC, takes the API key under Authorize, and "try it out" of a file
// download returns 200.
func TestDocsPageInChromium(t *testing.T) {
	t.Parallel()
	const key = "vg_sandbox-dev_docspage"
	addr := startService(t, "AUTH_MODE=api-key", "SANDBOX_API_KEY="+key)
	// The simulator keeps the verification photo once any certification
	// lookup asked for it, as Fadada keeps a verified signer's files.
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/esign/certifications/persons/SN0", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	resttest.CheckDocsPage(t, "http://"+addr, esignv1.File_vendorgate_esign_v1_esign_service_proto.Services().Get(0),
		resttest.TryIt{OperationID: "EsignService_GetFile", Params: map[string]string{"uuid": fadadasim.PhotoUUID}, APIKey: key})
}
