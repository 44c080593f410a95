package access_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
)

// TestSpendGauges: every caller with a daily cap has its cap and today's
// spend exported from the start, before it spends anything; a booking
// shows at the next scrape; a caller without a cap has no series.
func TestSpendGauges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(keys, []byte(`callers:
  - name: shop
    keys: ["`+auth.HashKey("vg_shop_test")+`"]
    allow: ["*"]
    daily_spend_cap_yuan: "50"
  - name: ops
    keys: ["`+auth.HashKey("vg_ops_test")+`"]
    allow: ["*"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, sqlstoretest.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	reg := prometheus.NewRegistry()
	a, err := access.Open(ctx, access.Options{
		Service:    "vehicle",
		DB:         db,
		Config:     access.Config{Auth: auth.Config{Mode: auth.ModeAPIKey, KeysFile: keys, ReloadInterval: time.Minute}, UsageRetention: time.Hour},
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })

	const head = `
# HELP vendorgate_caller_daily_spend_cap_yuan The caller's daily spend cap on this service (daily_spend_cap_yuan), in yuan. Callers with a cap only.
# TYPE vendorgate_caller_daily_spend_cap_yuan gauge
vendorgate_caller_daily_spend_cap_yuan{caller="shop"} 50
# HELP vendorgate_caller_spend_today_yuan Paid vendor calls booked today (China day) by the caller on this service, in yuan, across replicas: what its daily spend cap is compared with. Callers with a cap only.
# TYPE vendorgate_caller_spend_today_yuan gauge
`
	names := []string{"vendorgate_caller_daily_spend_cap_yuan", "vendorgate_caller_spend_today_yuan"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(head+`vendorgate_caller_spend_today_yuan{caller="shop"} 0
`), names...); err != nil {
		t.Errorf("before any spend: %v", err)
	}

	// The callers as the keys file has them; ops has no cap, so its
	// call books nothing.
	for _, c := range []auth.Caller{{Name: "shop", DailySpendCapYuan: "50"}, {Name: "ops"}} {
		if _, err := a.Ledger.Reserve(auth.WithCaller(ctx, c), 4250); err != nil {
			t.Fatalf("Reserve for %s: %v", c.Name, err)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(head+`vendorgate_caller_spend_today_yuan{caller="shop"} 42.5
`), names...); err != nil {
		t.Errorf("after ¥42.50 booked: %v", err)
	}
}
