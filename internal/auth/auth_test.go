package auth_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
)

const (
	deliveryCreate = "/vendorgate.delivery.v1.DeliveryService/CreateOrder"
	deliveryGet    = "/vendorgate.delivery.v1.DeliveryService/GetOrder"
	vehicleOrder   = "/vendorgate.vehicle.v1.VehicleService/OrderReport"
	vehicleGet     = "/vendorgate.vehicle.v1.VehicleService/GetReport"
)

var explicit = []string{"vendorgate.vehicle.v1.VehicleService/OrderReport"}

func withKey(key string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+key))
}

func writeKeys(t *testing.T, path string, callers ...string) {
	t.Helper()
	body := "callers:\n" + strings.Join(callers, "")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func caller(name string, allow []string, keys ...string) string {
	var hashes []string
	for _, k := range keys {
		hashes = append(hashes, `"`+auth.HashKey(k)+`"`)
	}
	var pats []string
	for _, a := range allow {
		pats = append(pats, `"`+a+`"`)
	}
	return "  - name: " + name + "\n    keys: [" + strings.Join(hashes, ", ") + "]\n    allow: [" + strings.Join(pats, ", ") + "]\n"
}

func wantKind(t *testing.T, err error, kind domainerr.Kind, reason string) {
	t.Helper()
	d, ok := domainerr.As(err)
	if !ok || d.Kind != kind || d.Reason != reason {
		t.Fatalf("got %v, want %s %s", err, kind, reason)
	}
}

// TestAdmitAPIKeys: no key and a wrong key are UNAUTHENTICATED; a known key
// without the permission is PERMISSION_DENIED; a wildcard does not grant a
// purchase; the right key gets through and names its caller.
func TestAdmitAPIKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path,
		caller("shop-backend", []string{"vendorgate.delivery.v1.DeliveryService/*", "vendorgate.vehicle.v1.VehicleService/*"}, "shop-key"),
		caller("buyer", []string{"vendorgate.vehicle.v1.VehicleService/OrderReport"}, "buyer-key"))
	g, err := auth.New(context.Background(), auth.Options{Service: "test", Config: auth.Config{Mode: auth.ModeAPIKey, KeysFile: path, ReloadInterval: 1}, Explicit: explicit})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Admit(context.Background(), deliveryCreate, "1.2.3.4:5")
	wantKind(t, err, domainerr.KindUnauthenticated, auth.ReasonMissing)
	_, err = g.Admit(withKey("nope"), deliveryCreate, "1.2.3.4:5")
	wantKind(t, err, domainerr.KindUnauthenticated, auth.ReasonInvalid)
	if strings.Contains(err.Error(), "shop") {
		t.Errorf("the refusal %q names a caller", err)
	}
	_, err = g.Admit(withKey("buyer-key"), deliveryCreate, "")
	wantKind(t, err, domainerr.KindPermissionDenied, auth.ReasonDenied)
	_, err = g.Admit(withKey("shop-key"), vehicleOrder, "")
	wantKind(t, err, domainerr.KindPermissionDenied, auth.ReasonDenied)

	ctx, err := g.Admit(withKey("shop-key"), vehicleGet, "")
	if err != nil || auth.CallerFrom(ctx) != "shop-backend" {
		t.Fatalf("got caller %q, %v; want shop-backend", auth.CallerFrom(ctx), err)
	}
	if ctx, err := g.Admit(withKey("buyer-key"), vehicleOrder, ""); err != nil || auth.CallerFrom(ctx) != "buyer" {
		t.Fatalf("explicit grant: got %q, %v", auth.CallerFrom(ctx), err)
	}
}

// TestKeyRotation: during the change-over both keys work; once the file
// lists only the new one (re-read without a restart), the old one fails.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	all := []string{"*"}
	writeKeys(t, path, caller("shop", all, "old-key"))
	ctx := context.Background()
	g, err := auth.New(ctx, auth.Options{Config: auth.Config{Mode: auth.ModeAPIKey, KeysFile: path, ReloadInterval: 1}})
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, path, caller("shop", all, "old-key", "new-key"))
	if err := g.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"old-key", "new-key"} {
		if _, err := g.Admit(withKey(k), deliveryGet, ""); err != nil {
			t.Errorf("%s during the overlap: %v", k, err)
		}
	}
	writeKeys(t, path, caller("shop", all, "new-key"))
	if err := g.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = g.Admit(withKey("old-key"), deliveryGet, "")
	wantKind(t, err, domainerr.KindUnauthenticated, auth.ReasonInvalid)
	if _, err := g.Admit(withKey("new-key"), deliveryGet, ""); err != nil {
		t.Errorf("new key after the overlap: %v", err)
	}
	// A broken file keeps the callers in force.
	if err := os.WriteFile(path, []byte("callers: [{name: BAD NAME}]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(ctx); err == nil {
		t.Error("got no error reloading a broken file")
	}
	if _, err := g.Admit(withKey("new-key"), deliveryGet, ""); err != nil {
		t.Errorf("after a failed reload: %v", err)
	}
}

// TestNoKeysRefusesToStart: api-key mode with no key is an error outside
// sandbox mode; none mode admits everyone as anonymous; sandbox mode makes
// a key allowed everything, purchases included.
func TestNoKeysRefusesToStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := auth.New(ctx, auth.Options{Config: auth.Config{Mode: auth.ModeAPIKey, ReloadInterval: 1}}); err == nil || !strings.Contains(err.Error(), "AUTH_MODE=none") {
		t.Fatalf("got %v, want a refusal naming AUTH_MODE=none", err)
	}
	none, err := auth.New(ctx, auth.Options{Config: auth.Config{Mode: auth.ModeNone, ReloadInterval: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := none.Admit(ctx, vehicleOrder, ""); err != nil || auth.CallerFrom(c) != auth.Anonymous {
		t.Fatalf("none: got %q, %v", auth.CallerFrom(c), err)
	}
	sb, err := auth.New(ctx, auth.Options{Config: auth.Config{Mode: auth.ModeAPIKey, ReloadInterval: 1}, Sandbox: true, Explicit: explicit})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sb.SandboxKey(), "vg_sandbox-dev_") {
		t.Fatalf("sandbox key %q", sb.SandboxKey())
	}
	if _, err := sb.Admit(withKey(sb.SandboxKey()), vehicleOrder, ""); err != nil {
		t.Fatalf("sandbox key: %v", err)
	}
}

// TestKeysFileIsChecked: unknown fields, raw keys instead of hashes and a
// third key are refused with what is wrong, never echoing a key.
func TestKeysFileIsChecked(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"unknown field": "callers:\n  - name: a\n    allwo: ['*']\n",
		"raw key":       "callers:\n  - name: a\n    keys: ['my-secret-key']\n",
		"three keys":    "callers:\n  - name: a\n    keys: ['" + auth.HashKey("1") + "', '" + auth.HashKey("2") + "', '" + auth.HashKey("3") + "']\n",
		"bad pattern":   "callers:\n  - name: a\n    allow: ['vendorgate.*/Get*']\n",
		"bad cap":       "callers:\n  - name: a\n    daily_spend_cap_yuan: 'fifty'\n",
	} {
		_, err := auth.ParseKeysFile([]byte(body))
		if err == nil {
			t.Errorf("%s: got no error", name)
			continue
		}
		if strings.Contains(err.Error(), "my-secret-key") {
			t.Errorf("%s: the error %q quotes the key", name, err)
		}
	}
}

// TestStoreKeys: keys made with the store (vendorgate-admin) authenticate
// after a reload, at most two per caller, and a revoked one stops working.
func TestStoreKeys(t *testing.T) {
	t.Parallel()
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := sqlstoretest.SQLiteURL(t)
			if d == sqlstore.Postgres {
				url = sqlstoretest.PostgresURL(t, "auth")
			}
			db, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			st, err := auth.OpenStore(ctx, db, "test", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.AddKey(ctx, "ghost"); err == nil {
				t.Fatal("got a key for an unknown caller")
			}
			if err := st.PutCaller(ctx, auth.Caller{Name: "ops", Allow: []string{"*"}, DailySpendCapYuan: "50"}); err != nil {
				t.Fatal(err)
			}
			k1, err := st.AddKey(ctx, "ops")
			if err != nil {
				t.Fatal(err)
			}
			k2, err := st.AddKey(ctx, "ops")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.AddKey(ctx, "ops"); err == nil {
				t.Fatal("got a third key")
			}
			g, err := auth.New(ctx, auth.Options{Config: auth.Config{Mode: auth.ModeAPIKey, ReloadInterval: 1}, Store: st})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{k1, k2} {
				c, err := g.Admit(withKey(k), deliveryGet, "")
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := auth.CallerOf(c); got.DailySpendCapYuan != "50" {
					t.Errorf("cap: got %q, want 50", got.DailySpendCapYuan)
				}
			}
			if err := st.RevokeKey(ctx, "ops", auth.HashKey(k1)); err != nil {
				t.Fatal(err)
			}
			if err := g.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			_, err = g.Admit(withKey(k1), deliveryGet, "")
			wantKind(t, err, domainerr.KindUnauthenticated, auth.ReasonInvalid)
		})
	}
}

// TestRateIsSharedByReplicas: a caller's rate_per_second is split among
// the live replicas: with 10/s and two replicas, one replica admits a burst
// of 5, then refuses with RESOURCE_EXHAUSTED naming the quota.
func TestRateIsSharedByReplicas(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, caller("busy", []string{"*"}, "busy-key")+"    rate_per_second: 10\n")
	g, err := auth.New(context.Background(), auth.Options{Config: auth.Config{Mode: auth.ModeAPIKey, KeysFile: path, ReloadInterval: 1},
		Replicas: func() int { return 2 }})
	if err != nil {
		t.Fatal(err)
	}
	admitted := 0
	var last error
	start := time.Now()
	for range 20 {
		if _, err := g.Admit(withKey("busy-key"), deliveryGet, ""); err != nil {
			last = err
			continue
		}
		admitted++
	}
	// The burst, one token of rounding, and what 5/s refilled while the
	// loop ran (nothing in a fast run; a loaded one may take a while).
	allowed := 5 + 1 + int(5*time.Since(start).Seconds())
	if admitted < 5 || admitted > allowed {
		t.Errorf("admitted %d of 20 at once, want the burst of 5 (10/s over 2 replicas), at most %d", admitted, allowed)
	}
	d, ok := domainerr.As(last)
	if !ok || d.Kind != domainerr.KindResourceExhausted || d.Reason != auth.ReasonRateLimited || d.Metadata["quota"] != "rate_per_second" || d.RetryAfter <= 0 {
		t.Errorf("got %v, want RESOURCE_EXHAUSTED %s with the quota and a retry-after", last, auth.ReasonRateLimited)
	}
}

// TestHashKeyFormat: the stored form is "sha256:" and the lower-case hex
// of the key's SHA-256 (keys files hold hashes made by other tools too).
func TestHashKeyFormat(t *testing.T) {
	t.Parallel()
	const want = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := auth.HashKey("abc"); got != want {
		t.Errorf("HashKey(abc): got %s, want %s", got, want)
	}
}

// TestCallerNameLength: a caller's name may be 255 bytes long, not 256.
func TestCallerNameLength(t *testing.T) {
	t.Parallel()
	longest := strings.Repeat("ab-", 85) // 255 bytes
	if err := (auth.Caller{Name: longest, Allow: []string{"*"}}).Check(); err != nil {
		t.Errorf("a 255-byte name: got %v, want it accepted", err)
	}
	if err := (auth.Caller{Name: longest + "c", Allow: []string{"*"}}).Check(); err == nil {
		t.Error("a 256-byte name: accepted, want it refused")
	}
}
