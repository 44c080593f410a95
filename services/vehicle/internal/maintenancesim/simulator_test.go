package maintenancesim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
)

const (
	id  = "AKIDsim"
	key = "sim-key"
)

// get sends a GET signed with signKey (unsigned when "") and returns the
// status and body.
func get(t *testing.T, srv *httptest.Server, signKey, pathAndQuery string) (int, string) {
	t.Helper()
	var rt http.RoundTripper = srv.Client().Transport
	if signKey != "" {
		rt = &cloudmarket.Signer{SecretID: id, SecretKey: signKey, Base: rt}
	}
	resp, err := (&http.Client{Transport: rt}).Get(srv.URL + pathAndQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode == http.StatusOK && !strings.HasPrefix(ct, "text/html") {
		t.Errorf("got Content-Type %q, want text/html as the vendor labels it", ct)
	}
	return resp.StatusCode, string(b)
}

// orderID buys a report for vin and returns its order id.
func orderID(t *testing.T, srv *httptest.Server, vin string) string {
	t.Helper()
	code, body := get(t, srv, key, "/release/maintenance/order?engine_number=&plate_number=&vin="+vin)
	var answer struct {
		Data struct {
			Detail struct {
				ResultCode json.Number `json:"resultCode"`
				OrderID    string      `json:"orderId"`
			} `json:"detail"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil || code != http.StatusOK {
		t.Fatalf("got %d %s (%v), want a purchase", code, body, err)
	}
	if !strings.Contains(body, `"resultCode": 1200`) {
		t.Errorf("got %s, want resultCode the number 1200 as in the document", body)
	}
	return answer.Data.Detail.OrderID
}

func TestSimulator(t *testing.T) {
	t.Parallel()
	start := time.Now()
	var elapsed atomic.Int64 // the clock's advance, read by the server's goroutines
	clock := func() time.Time { return start.Add(time.Duration(elapsed.Load())) }
	sim := maintenancesim.New(maintenancesim.Options{Keys: map[string]string{id: key}, ReadyAfter: time.Minute, Now: clock})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()

	known := orderID(t, srv, maintenancesim.SampleVIN)
	sim.AddVIN("LFV2A21K6A3123456")
	added := orderID(t, srv, "LFV2A21K6A3123456")
	unknown := orderID(t, srv, "WVWZZZ1JZXW000001")

	if code, body := get(t, srv, key, "/maintenance_report/get?order_id="+known); code != 200 || !strings.Contains(body, `"resultCode":"1204"`) {
		t.Errorf("before ReadyAfter got %d %s, want a pending answer", code, body)
	}
	elapsed.Store(int64(time.Minute))

	tests := []struct {
		name       string
		key        string
		path       string
		wantStatus int
		want       []string
	}{
		{"unsigned", "", "/maintenance_report/get?order_id=" + known, 401, []string{`"message"`}},
		{"wrong key", "wrong", "/maintenance_report/get?order_id=" + known, 403, []string{"HMAC signature does not match"}},
		{"ready report, document's masked VIN", key, "/release/maintenance_report/get?order_id=" + known, 200,
			[]string{`"resultCode": "1205"`, `"vin": "SA******02383"`, `"materal": "车门锁:1; 螺母:2; 锂电池:1; "`}},
		{"added VIN gets its own mask", key, "/maintenance_report/get?order_id=" + added, 200,
			[]string{`"resultCode": "1205"`, `"vin": "LF******23456"`}},
		{"unknown VIN has no records", key, "/maintenance_report/get?order_id=" + unknown, 200, []string{`"resultCode": "1206"`}},
		{"missing vin", key, "/maintenance/order?vin=", 200, []string{`"code": "20704"`}},
		{"missing order id", key, "/maintenance_report/get", 200, []string{`"code":"20804"`}},
		{"order never sold", key, "/maintenance_report/get?order_id=nope", 200, []string{`"code":"-1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, srv, tt.key, tt.path)
			if code != tt.wantStatus {
				t.Errorf("got status %d, want %d", code, tt.wantStatus)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("got %.300s, want it to contain %s", body, w)
				}
			}
		})
	}
	if n := sim.Purchases(); n != 3 {
		t.Errorf("got %d purchases, want 3", n)
	}
	// Signed calls only, with or without the stage prefix.
	if o, r := sim.CallsTo(maintenancesim.PathOrder), sim.CallsTo(maintenancesim.PathReport); o != 4 || r != 6 {
		t.Errorf("got %d order and %d report calls, want 4 and 6", o, r)
	}
}

func TestSimulatorFaults(t *testing.T) {
	t.Parallel()
	sim := maintenancesim.New(maintenancesim.Options{Keys: map[string]string{id: key}})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	sim.Inject(maintenancesim.PathOrder, maintenancesim.Fault{Code: "-1", Message: "服务或其它异常"})
	sim.Inject(maintenancesim.PathOrder, maintenancesim.Fault{Status: 502, Body: "<html>bad gateway</html>"})

	answers := []struct {
		status int
		body   string
	}{
		{200, `{"code":"-1","message":"服务或其它异常","result":{}}`},
		{502, "<html>bad gateway</html>"},
	}
	for _, want := range answers {
		if code, body := get(t, srv, key, "/maintenance/order?vin="+maintenancesim.SampleVIN); code != want.status || body != want.body {
			t.Errorf("got %d %q, want %d %q", code, body, want.status, want.body)
		}
	}
	if n := sim.Purchases(); n != 0 {
		t.Errorf("got %d purchases while faulting, want 0", n)
	}
	orderID(t, srv, maintenancesim.SampleVIN) // faults are used once each
	if n, c := sim.Purchases(), sim.Calls(); n != 1 || c != 3 {
		t.Errorf("got %d purchases in %d calls, want 1 in 3", n, c)
	}
	if o, r := sim.CallsTo(maintenancesim.PathOrder), sim.CallsTo(maintenancesim.PathReport); o != 3 || r != 0 {
		t.Errorf("got %d order and %d report calls, want 3 and 0 (faults count)", o, r)
	}
}

// TestSimulatorHold: a held purchase waits, after the signature check and
// before it is sold, until it is released; the next one is not held.
func TestSimulatorHold(t *testing.T) {
	t.Parallel()
	sim := maintenancesim.New(maintenancesim.Options{Keys: map[string]string{id: key}})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	entered, release := sim.Hold(maintenancesim.PathOrder)
	done := make(chan struct{})
	go func() {
		defer close(done)
		orderID(t, srv, maintenancesim.SampleVIN)
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the held purchase never arrived")
	}
	if n := sim.Purchases(); n != 0 {
		t.Errorf("got %d purchases while held, want 0", n)
	}
	release()
	release() // a second release is harmless
	<-done
	orderID(t, srv, maintenancesim.SampleVIN)
	if n := sim.Purchases(); n != 2 {
		t.Errorf("got %d purchases, want 2", n)
	}
}
