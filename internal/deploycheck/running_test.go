package deploycheck

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vendorgate/vendorgate/internal/auth"
)

// sandboxKey is the development key every service of the test runs with
// (SANDBOX_API_KEY), as scripts/sandbox sets one.
const sandboxKey = "vg_sandbox-dev_deploycheck0000000000000000"

// cappedCaller is the caller with a daily spend cap in every service's
// AUTH_KEYS_FILE.
const cappedCaller = "capped-shop"

// runningService is a service binary running in sandbox mode on loopback.
type runningService struct {
	name    string
	api     string // host:port of gRPC and REST
	metrics string // host:port of METRICS_ADDR
	log     string // file of its stdout and stderr
}

// fleet is every service, built once and running for the tests that need
// them; stopped by TestMain.
var fleet struct {
	once     sync.Once
	services map[string]*runningService
	err      error
	cmds     []*exec.Cmd
	dir      string
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopFleet()
	os.Exit(code)
}

// runningServices builds every services/<name> and starts it with
// SANDBOX=1 on free loopback ports, once per test binary.
func runningServices(t *testing.T) map[string]*runningService {
	t.Helper()
	root := repoRoot(t)
	names := serviceNames(t, root)
	fleet.once.Do(func() { fleet.services, fleet.err = startFleet(root, names) })
	if fleet.err != nil {
		t.Fatal(fleet.err)
	}
	return fleet.services
}

func startFleet(root string, names []string) (map[string]*runningService, error) {
	dir, err := os.MkdirTemp("", "deploycheck-")
	if err != nil {
		return nil, err
	}
	fleet.dir = dir
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./services/"+n)
	}
	build := exec.Command("go", args...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	services := map[string]*runningService{}
	for _, n := range names {
		s, err := startService(dir, n)
		if err != nil {
			return nil, err
		}
		services[n] = s
	}
	for _, s := range services {
		if err := waitReady(s); err != nil {
			return nil, err
		}
	}
	return services, nil
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startService(dir, name string) (*runningService, error) {
	var addrs [3]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	up := strings.ToUpper(name)
	work := filepath.Join(dir, name+".d")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + work,
		"SANDBOX=1",
		"SANDBOX_API_KEY=" + sandboxKey,
		"LOG_LEVEL=warn",
		"SHUTDOWN_TIMEOUT=5s",
		up + "_ADDR=" + addrs[0],
		"METRICS_ADDR=" + addrs[1],
		up + "_DATABASE_URL=sqlite://" + filepath.Join(work, name+".db"),
		// The services that have them: a quick sandbox report and a
		// callback listener and spool of the test's own.
		"SANDBOX_REPORT_DELAY=200ms",
		"VEHICLE_POLL_INTERVAL=100ms",
	}
	switch name {
	case "delivery":
		env = append(env, "DELIVERY_CALLBACK_ADDR="+addrs[2])
	case "esign":
		env = append(env, "ESIGN_SPOOL_DIR="+work)
	}
	// A caller with a daily spend cap, as a production keys file has: the
	// spend gauges have series for it from the start, before any traffic.
	keys := filepath.Join(work, "keys.yaml")
	if err := os.WriteFile(keys, []byte(fmt.Sprintf("callers:\n  - name: %s\n    keys: [%q]\n    allow: [\"*\"]\n    daily_spend_cap_yuan: \"100\"\n",
		cappedCaller, auth.HashKey("vg_"+cappedCaller+"_deploycheck"))), 0o600); err != nil {
		return nil, err
	}
	env = append(env, "AUTH_KEYS_FILE="+keys)
	log := filepath.Join(dir, name+".log")
	out, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(dir, name))
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = work, env, out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	fleet.cmds = append(fleet.cmds, cmd)
	return &runningService{name: name, api: addrs[0], metrics: addrs[1], log: log}, nil
}

// waitReady waits for the service's /readyz to answer 200.
func waitReady(s *runningService) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if code, _, err := s.get("/readyz", ""); err == nil && code == http.StatusOK {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(s.log)
	return fmt.Errorf("%s: /readyz not 200 within 60 s; its log:\n%s", s.name, log)
}

func stopFleet() {
	for _, cmd := range fleet.cmds {
		_ = cmd.Process.Signal(os.Interrupt)
	}
	for _, cmd := range fleet.cmds {
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	if fleet.dir != "" {
		_ = os.RemoveAll(fleet.dir)
	}
}

// call makes one REST call on the API port with the sandbox key.
func (s *runningService) call(method, path, body string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.api+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+sandboxKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// get is an unauthenticated GET of path on addr ("" is the API port).
func (s *runningService) get(path, addr string) (int, string, error) {
	if addr == "" {
		addr = s.api
	}
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// exportedMetrics returns the names of the series the service exports on
// METRICS_ADDR: a histogram as name_bucket, name_sum and name_count, a
// summary as name, name_sum and name_count.
func (s *runningService) exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	code, body, err := s.get("/metrics", s.metrics)
	if err != nil || code != http.StatusOK {
		t.Fatalf("%s: GET http://%s/metrics (METRICS_ADDR): got %d %v, want 200", s.name, s.metrics, code, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s /metrics: %v", s.name, err)
	}
	names := map[string]bool{}
	for name, f := range families {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[name+suffix] = true
			}
		case dto.MetricType_SUMMARY:
			for _, suffix := range []string{"", "_sum", "_count"} {
				names[name+suffix] = true
			}
		default:
			names[name] = true
		}
	}
	return names
}

// exercise makes the calls after which every metric a service can export
// has a series: vendor calls that succeed and fail, a purchase, a refused
// caller.
func exercise(t *testing.T, services map[string]*runningService) {
	t.Helper()
	calls := map[string][]struct {
		method, path, body string
		want               []int
	}{
		"delivery": {
			{"GET", "/v1/delivery/orders?filter=ORDER_FILTER_WAITING", "", []int{200}},
			{"GET", "/v1/delivery/orders/NO-SUCH-ORDER", "", []int{404}},
		},
		"logistics": {
			{"GET", "/v1/logistics/warehouses", "", []int{200}},
		},
		"vehicle": {
			{"POST", "/v1/vehicle/vins/SALWA2FK7EA402383/history:lookup", "", []int{200}},
		},
	}
	for name, cs := range calls {
		s, ok := services[name]
		if !ok {
			continue
		}
		for _, c := range cs {
			code, body, err := s.call(c.method, c.path, c.body)
			if err != nil || !slices.Contains(c.want, code) {
				t.Errorf("%s %s %s: got %d %v %.300s, want one of %v", name, c.method, c.path, code, err, body, c.want)
			}
		}
	}
	if s, ok := services["logistics"]; ok {
		// A refused caller, for the auth failure counter.
		req, _ := http.NewRequest("GET", "http://"+s.api+"/v1/logistics/warehouses", nil)
		req.Header.Set("Authorization", "Bearer vg_nobody_wrong")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("logistics GET /v1/logistics/warehouses with a wrong key: got %v %v, want 401", resp, err)
		}
		if err == nil {
			resp.Body.Close()
		}
	}
}
