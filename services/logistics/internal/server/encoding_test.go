package server_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
)

// TestGBKSigning: against a 30post that signs over GBK bytes, a recharge
// to 张三@example.com succeeds with POST30_SIGN_ENCODING=gbk; with the
// default utf-8 it is FAILED_PRECONDITION VENDOR_SIGNATURE_REJECTED naming
// the settings to check, counted for an alert, and its request_id is not
// burnt (a refusal did not apply: the same request_id is sent again).
func TestGBKSigning(t *testing.T) {
	t.Parallel()
	const email = "张三@example.com"
	req := &logisticsv1.RechargeRequest{RequestId: "gbk-1", Email: email, Amount: "8.00"}

	t.Run("gbk", func(t *testing.T) {
		t.Parallel()
		svc := start(t, setup{p30SimEncoding: post30.SignGBK, p30Encoding: post30.SignGBK})
		resp, err := svc.billing.Recharge(ctxT(t), req)
		if err != nil || resp.GetOperation().GetEmail() != email {
			t.Fatalf("got %v, %v; want the recharge", resp, err)
		}
		if got := svc.p30.Balance("", email); got != 800 {
			t.Errorf("balance: got %d, want 800", got)
		}
	})
	t.Run("utf-8", func(t *testing.T) {
		t.Parallel()
		svc := start(t, setup{p30SimEncoding: post30.SignGBK})
		ctx := ctxT(t)
		for i := 1; i <= 2; i++ {
			_, err := svc.billing.Recharge(ctx, req)
			st := status.Convert(err)
			expect(t, st, codes.FailedPrecondition, post30.ReasonSignatureRejected)
			for _, name := range []string{"POST30_ACCESS_KEY", "POST30_SECRET_KEY", "POST30_SIGN_ENCODING"} {
				if !strings.Contains(st.Message(), name) {
					t.Errorf("got message %q, want it to name %s", st.Message(), name)
				}
			}
			if got := svc.p30.Received(post30.DefaultRechargePath); got != int64(i) {
				t.Errorf("attempt %d: got %d calls at 30post, want %d (the request_id stays free)", i, got, i)
			}
		}
		if _, err := svc.ids.Get(ctx, req.GetRequestId()); !isNotFound(err) {
			t.Errorf("the refused request_id's record: got %v, want none", err)
		}
		if got := counter(t, svc, "vendorgate_vendor_signature_rejected_total"); got != 2 {
			t.Errorf("vendorgate_vendor_signature_rejected_total: got %v, want 2", got)
		}
	})
}

func isNotFound(err error) bool {
	d, ok := domainerr.As(err)
	return ok && d.Kind == domainerr.KindNotFound
}

func counter(t *testing.T, svc *service, name string) float64 {
	t.Helper()
	mfs, err := svc.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
