package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
)

// TestSilentStore: with Postgres accepting connections and answering
// nothing, a recharge is refused as UNAVAILABLE STORE_UNAVAILABLE within
// LOGISTICS_DATABASE_TIMEOUT (plus a second), 30post never sees it,
// ListUnresolvedOperations fails as fast, and /readyz answers 503 naming
// the store only, never the database's address or user.
func TestSilentStore(t *testing.T) {
	t.Parallel()
	v := startVendors(t, damaijiasim.Options{ShipAfter: time.Hour})
	pgURL := sqlstoretest.PostgresURL(t, "logistics_silent")
	proxy := sqlstoretest.NewProxy(t, pgURL)
	env := make([]string, 0, len(v.env)+1)
	for _, kv := range v.env {
		if !strings.HasPrefix(kv, "LOGISTICS_DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	env = append(env, "LOGISTICS_DATABASE_URL="+proxy.URL, "LOGISTICS_DATABASE_TIMEOUT=5s")
	addr, _ := startRun(t, env)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	billing := logisticsv1.NewBillingServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := billing.Recharge(ctx, &logisticsv1.RechargeRequest{RequestId: "silent-0", Phone: "+61400000001", Amount: "5"}); err != nil {
		t.Fatalf("recharge before the store went silent: %v", err)
	}
	before := v.p30.Calls()

	proxy.Silence()
	defer proxy.Speak()
	start := time.Now()
	_, err = billing.Recharge(ctx, &logisticsv1.RechargeRequest{RequestId: "silent-1", Phone: "+61400000001", Amount: "5"})
	took := time.Since(start)
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || reason(err) != "STORE_UNAVAILABLE" {
		t.Errorf("recharge on a silent store: got %v (reason %s), want UNAVAILABLE STORE_UNAVAILABLE", err, reason(err))
	}
	if took > 6*time.Second {
		t.Errorf("recharge on a silent store took %v, want at most 6 s", took)
	}
	if n := v.p30.Calls() - before; n != 0 {
		t.Errorf("30post got %d calls while the store was silent, want 0", n)
	}

	start = time.Now()
	_, err = billing.ListUnresolvedOperations(ctx, &logisticsv1.ListUnresolvedOperationsRequest{})
	if st := status.Convert(err); st.Code() != codes.Unavailable || time.Since(start) > 6*time.Second {
		t.Errorf("ListUnresolvedOperations on a silent store: got %v after %v, want UNAVAILABLE within 6 s", err, time.Since(start))
	}

	start = time.Now()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || time.Since(start) > 6*time.Second {
		t.Errorf("/readyz on a silent store: got %d after %v, want 503 within 6 s", resp.StatusCode, time.Since(start))
	}
	for _, secret := range []string{"postgres", "127.0.0.1", "logistics_silent", "5432"} {
		if strings.Contains(string(body), secret) {
			t.Errorf("/readyz body %q shows %q", body, secret)
		}
	}
	if !strings.Contains(string(body), "store") {
		t.Errorf("/readyz body %q does not name the failing check", body)
	}
}
