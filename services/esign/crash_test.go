package main

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/proctest"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
)

func TestMain(m *testing.M) {
	proctest.Main(m, func(ctx context.Context, environ []string, logw io.Writer, onListen func(net.Addr)) error {
		return run(ctx, environ, logw, onListen)
	})
}

// TestCrashBeforeCommit kills the service between Fadada's success and the
// request_id record's commit, restarts it on the same database, and repeats
// the call with the same request_id: the repeat is resolved from Fadada's
// state, and the endpoints that would apply the mutation twice are not
// called again (uploaddocs, generate_contract, add_signature); the ones
// whose own duplicate guard answers the re-send (apply_cert 3201,
// uploadtemplate 2507, contractFiling 1402) are called once more and
// their duplicate is the success.
func TestCrashBeforeCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method   string
		endpoint string
		// setup prepares what the mutation needs, without request_ids.
		setup func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string
		call  func(ctx context.Context, c esignv1.EsignServiceClient, arg string) error
		// wantCalls is the endpoint's calls after the repeat.
		wantCalls int
		wantCode  codes.Code
	}{
		{"UploadContract", fadada.PathUploadDocs, nil, func(ctx context.Context, c esignv1.EsignServiceClient, _ string) error {
			_, err := uploadWithID(ctx, c, "CRU1", "rid-crash-upload", fadadasim.PDF("crash"))
			return err
		}, 1, codes.OK},
		{"GenerateContract", fadada.PathGenerateContract, func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string {
			if _, err := uploadTemplateWithID(ctx, c, "CRT", "", fadadasim.PDF("{x}")); err != nil {
				t.Fatal(err)
			}
			return "CRT"
		}, func(ctx context.Context, c esignv1.EsignServiceClient, tpl string) error {
			got, err := c.GenerateContract(ctx, &esignv1.GenerateContractRequest{TemplateId: tpl, ContractId: "CRG1", DocTitle: "t", RequestId: "rid-crash-generate"})
			if err == nil && got.GetViewUrl() == "" {
				t.Errorf("GenerateContract resolved: got no view_url")
			}
			return err
		}, 1, codes.OK},
		{"UploadTemplate", fadada.PathUploadTemplate, nil, func(ctx context.Context, c esignv1.EsignServiceClient, _ string) error {
			_, err := uploadTemplateWithID(ctx, c, "CRT1", "rid-crash-template", fadadasim.PDF("{y}"))
			return err
		}, 2, codes.OK},
		{"ArchiveContract", fadada.PathContractFiling, func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string {
			if _, err := uploadWithID(ctx, c, "CRA1", "", fadadasim.PDF()); err != nil {
				t.Fatal(err)
			}
			return "CRA1"
		}, func(ctx context.Context, c esignv1.EsignServiceClient, id string) error {
			_, err := c.ArchiveContract(ctx, &esignv1.ArchiveContractRequest{ContractId: id, RequestId: "rid-crash-archive"})
			return err
		}, 2, codes.OK},
		{"ApplyCertificate", fadada.PathApplyCert, func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string {
			reg, err := c.RegisterAccount(ctx, &esignv1.RegisterAccountRequest{OpenId: "crash", AccountType: esignv1.AccountType_ACCOUNT_TYPE_PERSON})
			if err != nil {
				t.Fatal(err)
			}
			return reg.GetCustomerId()
		}, func(ctx context.Context, c esignv1.EsignServiceClient, cid string) error {
			_, err := c.ApplyCertificate(ctx, &esignv1.ApplyCertificateRequest{CustomerId: cid, VerifiedSerialno: "SNC", RequestId: "rid-crash-cert"})
			return err
		}, 2, codes.OK},
		{"AddSignature", fadada.PathAddSignature, func(ctx context.Context, t *testing.T, c esignv1.EsignServiceClient) string {
			return certified(ctx, t, c, "crash-seal")
		}, func(ctx context.Context, c esignv1.EsignServiceClient, cid string) error {
			_, err := c.AddSignature(ctx, &esignv1.AddSignatureRequest{CustomerId: cid, File: pngHeader, RequestId: "rid-crash-seal"})
			return err
		}, 1, codes.Unknown},
	}
	// Each case has a request_id of its own: the Postgres cases run side by
	// side in schemas of one database, and request_id locks are advisory
	// locks of the whole database.
	for _, d := range dialectURLs {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.method, func(t *testing.T) {
					t.Parallel()
					h, env := startVendor(t, d.url(t), "ESIGN_ADDR=127.0.0.1:0", "LOG_LEVEL=warn")
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()

					p := proctest.Start(t, env, proctest.Options{CrashAt: "idempotency.before-commit:" + tt.method})
					c := dial(t, p.Addr)
					arg := ""
					if tt.setup != nil {
						arg = tt.setup(ctx, t, c)
					}
					if err := tt.call(ctx, c, arg); err == nil {
						t.Fatal("call to the crashing service: got success, want an error")
					}
					if code := p.Wait(20 * time.Second); code != proctest.CrashExitCode {
						t.Fatalf("child exit code: got %d, want %d (crashed at the crashpoint)", code, proctest.CrashExitCode)
					}
					if got := h.sim.Calls(tt.endpoint); got != 1 {
						t.Fatalf("%s calls before the restart: got %d, want 1", tt.endpoint, got)
					}

					p = proctest.Start(t, env, proctest.Options{})
					c = dial(t, p.Addr)
					err := tt.call(ctx, c, arg)
					if status.Code(err) != tt.wantCode {
						t.Errorf("repeat after the restart: got %v, want %s", err, tt.wantCode)
					}
					if tt.wantCode == codes.Unknown && errorReason(err) != idempotency.ReasonOutcomeUnknown {
						t.Errorf("repeat after the restart: got reason %q, want %s", errorReason(err), idempotency.ReasonOutcomeUnknown)
					}
					if got := h.sim.Calls(tt.endpoint); got != tt.wantCalls {
						t.Errorf("%s calls after the repeat: got %d, want %d", tt.endpoint, got, tt.wantCalls)
					}
				})
			}
		})
	}
}
