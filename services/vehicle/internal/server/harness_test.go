package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorcall/vendorcalltest"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenancesim"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/server"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// setup tunes one test service.
type setup struct {
	// readyAfter is the simulator's report delay.
	readyAfter time.Duration
	// freshness is the server's; zero means a day.
	freshness time.Duration
	// databaseURL is the store's; "" means a new SQLite file.
	databaseURL string
	// requestIDTTL is the server's; zero means its default.
	requestIDTTL time.Duration
	// sim, when set, is the simulator to reuse (a restarted service).
	sim *maintenancesim.Simulator
	// loseReply, when set, picks the requests whose reply the vendor
	// loses on a reused keep-alive connection, after applying them.
	loseReply func(*http.Request) bool
	// ledger, when set, is the usage ledger: the use-case books purchases
	// against it and the server answers GetUsage from it.
	ledger spendLedger
	// call, when set, configures the vendor call layer (e.g. its breaker).
	call vendorcall.Config
	// down, when set, makes every new connection to the vendor refused
	// while it holds true; connections are then not kept alive.
	down *atomic.Bool
	// costFen is the report's price; zero means 1700 (¥17).
	costFen int64
	// wrapStore, when set, wraps the store the use-case sees (to make it
	// fail).
	wrapStore func(reports.Store) reports.Store
	// usageLedger, when set, wires the real usage ledger in the store as
	// run does (the vendor calls' observer, the spend cap, the
	// resolutions), in place of ledger.
	usageLedger bool
	// recordSleep, when set, is the use-case's wait before it retries
	// recording a sale the store failed to take (reports.Options.Sleep).
	recordSleep func(time.Duration)
	// requestIDNow, when set, is the request_id engine's clock
	// (idempotency.Options.Now).
	requestIDNow func() time.Time
	// reportsNow, when set, is the use-case's clock (reports.Options.Now):
	// of the freshness, and of the times it records.
	reportsNow func() time.Time
}

// spendLedger is the usage ledger as run wires it: to the use-case and to the
// server.
type spendLedger interface {
	reports.Ledger
	server.Usage
}

// service is a vehicle server on loopback behind serve.Run, in front of a
// simulator reached over real HTTP, with a SQLite store.
type service struct {
	sim      *maintenancesim.Simulator
	registry *prometheus.Registry
	addr     string
	grpc     vehiclev1.VehicleServiceClient
	dbURL    string
	// store is the service's store, for tests that set up its rows.
	store *store.Store
	// requests is the service's request_id engine.
	requests *idempotency.Store
	// reports is the service's use-case, for its reconciler's checks and
	// its adoption of earlier purchases.
	reports *reports.Service
	// ledger is the real usage ledger when setup.usageLedger.
	ledger *usage.Ledger
	// stop stops the service and closes its store (a SQLite file is then
	// free for a restarted one); tests' cleanup calls it too.
	stop func()
}

const (
	simID  = "AKIDsim"
	simKey = "sim-secret-key"
)

func start(t *testing.T, s setup) *service {
	t.Helper()
	sim := s.sim
	if sim == nil {
		sim = maintenancesim.New(maintenancesim.Options{Keys: map[string]string{simID: simKey}, ReadyAfter: s.readyAfter})
	}
	var vendor *httptest.Server
	if s.loseReply != nil {
		vendor = vendorcalltest.NewLostReplyServer(t, sim.Handler(), s.loseReply)
	} else {
		vendor = httptest.NewServer(sim.Handler())
		t.Cleanup(vendor.Close)
	}
	base := vendor.Client().Transport
	if s.down != nil {
		dialer := &net.Dialer{}
		base = &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if s.down.Load() {
				return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
			}
			return dialer.DialContext(ctx, network, addr)
		}}
	}
	if s.databaseURL == "" {
		s.databaseURL = sqlstoretest.SQLiteURL(t)
	}
	st, err := store.Open(context.Background(), s.databaseURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.costFen == 0 {
		s.costFen = 1700
	}
	var (
		ledger  *usage.Ledger
		observe func(context.Context, vendorcall.Observation) int64
	)
	if s.usageLedger {
		ledger, err = usage.New(context.Background(), st.DB(), "vehicle", usage.Options{
			Prices: map[string]int64{maintenance.Vendor + " " + maintenance.PathOrder: s.costFen}, FlushEvery: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s.ledger, observe = ledger, ledger.Observe
	}
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: simID, SecretKey: simKey, Base: base}}
	client, err := maintenance.New(hc, vendor.URL, maintenance.Options{
		Observe:     observe,
		Call:        s.call,
		ReportRetry: vendorcall.RetryPolicy{InitialInterval: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}

	if s.freshness == 0 {
		s.freshness = 24 * time.Hour
	}
	reg := prometheus.NewRegistry()
	locks := coord.NewLocks(st.DB())
	requests, err := idempotency.New(context.Background(), st.DB(), "vehicle", idempotency.Options{TTL: s.requestIDTTL, Locks: locks, Now: s.requestIDNow})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := s.ledger.(interface {
		Resolve(ctx context.Context, requestID string, applied bool) error
	}); ok {
		// As run wires the usage ledger.
		requests.OnResolve(r.Resolve)
	}
	var seen reports.Store = st
	if s.wrapStore != nil {
		seen = s.wrapStore(st)
	}
	rep, err := reports.New(client, seen, reports.Options{
		Freshness:       s.freshness,
		CostFen:         s.costFen,
		PollInterval:    5 * time.Millisecond,
		PollMaxInterval: 20 * time.Millisecond,
		LookupWait:      10 * time.Second,
		Registry:        reg,
		Requests:        requests,
		Locks:           locks,
		Ledger:          s.ledger,
		Sleep:           s.recordSleep,
		Now:             s.reportsNow,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(rep, server.Options{Usage: s.ledger})

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, lis, serve.Options{
			Name:         "vehicle",
			Domain:       server.Domain,
			Logger:       slog.New(slog.DiscardHandler),
			Registry:     reg,
			RegisterGRPC: func(g grpc.ServiceRegistrar) { vehiclev1.RegisterVehicleServiceServer(g, srv) },
			RegisterGateway: func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
				return vehiclev1.RegisterVehicleServiceHandlerClient(ctx, mux, vehiclev1.NewVehicleServiceClient(conn))
			},
		})
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve.Run: %v", err)
		}
		if ledger != nil {
			_ = ledger.Close(context.Background())
		}
		_ = st.Close()
	})
	t.Cleanup(stop)
	return &service{sim: sim, registry: reg, addr: lis.Addr().String(), grpc: vehiclev1.NewVehicleServiceClient(conn), dbURL: s.databaseURL,
		store: st, requests: requests, reports: rep, ledger: ledger, stop: stop}
}

// testClock is a clock that moves step each time it is read (zero: never),
// and when Advance says so: however slowly a loaded machine runs a test,
// its clock moves the same.
type testClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func newTestClock(step time.Duration) *testClock {
	return &testClock{now: time.Now().UTC().Truncate(time.Millisecond), step: step}
}

// Now returns the clock's time and moves it one step.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

// Advance moves the clock d forward.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// transport calls the three RPCs one way: gRPC, or REST through the
// gateway on the same listener. A failure comes back as its status.
type transport struct {
	name   string
	lookup func(ctx context.Context, svc *service, vin string) (*vehiclev1.LookupHistoryResponse, *status.Status)
	order  func(ctx context.Context, svc *service, req *vehiclev1.OrderReportRequest) (*vehiclev1.OrderReportResponse, *status.Status)
	get    func(ctx context.Context, svc *service, orderID string) (*vehiclev1.GetReportResponse, *status.Status)
}

var transports = []transport{
	{
		name: "grpc",
		lookup: func(ctx context.Context, svc *service, vin string) (*vehiclev1.LookupHistoryResponse, *status.Status) {
			resp, err := svc.grpc.LookupHistory(ctx, &vehiclev1.LookupHistoryRequest{Vin: vin})
			return resp, status.Convert(err)
		},
		order: func(ctx context.Context, svc *service, req *vehiclev1.OrderReportRequest) (*vehiclev1.OrderReportResponse, *status.Status) {
			resp, err := svc.grpc.OrderReport(ctx, req)
			return resp, status.Convert(err)
		},
		get: func(ctx context.Context, svc *service, orderID string) (*vehiclev1.GetReportResponse, *status.Status) {
			resp, err := svc.grpc.GetReport(ctx, &vehiclev1.GetReportRequest{OrderId: orderID})
			return resp, status.Convert(err)
		},
	},
	{
		name: "rest",
		lookup: func(ctx context.Context, svc *service, vin string) (*vehiclev1.LookupHistoryResponse, *status.Status) {
			resp := &vehiclev1.LookupHistoryResponse{}
			return resp, rest(ctx, svc, http.MethodPost, "/v1/vehicle/vins/"+url.PathEscape(vin)+"/history:lookup", nil, resp)
		},
		order: func(ctx context.Context, svc *service, req *vehiclev1.OrderReportRequest) (*vehiclev1.OrderReportResponse, *status.Status) {
			resp := &vehiclev1.OrderReportResponse{}
			return resp, rest(ctx, svc, http.MethodPost, "/v1/vehicle/orders", req, resp)
		},
		get: func(ctx context.Context, svc *service, orderID string) (*vehiclev1.GetReportResponse, *status.Status) {
			resp := &vehiclev1.GetReportResponse{}
			return resp, rest(ctx, svc, http.MethodGet, "/v1/vehicle/orders/"+url.PathEscape(orderID)+"/report", nil, resp)
		},
	},
}

// rest sends one REST call and decodes its answer into resp, or returns
// the status of its error body.
func rest(ctx context.Context, svc *service, method, path string, body, resp proto.Message) *status.Status {
	var in io.Reader
	if body != nil {
		b, err := protojson.Marshal(body)
		if err != nil {
			return status.New(codes.Internal, err.Error())
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+svc.addr+path, in)
	if err != nil {
		return status.New(codes.Internal, err.Error())
	}
	if deadline, ok := ctx.Deadline(); ok {
		// grpc-gateway turns this header into the gRPC deadline.
		req.Header.Set("Grpc-Timeout", fmt.Sprintf("%dm", time.Until(deadline).Milliseconds()))
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return status.FromContextError(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return status.New(codes.Internal, err.Error())
	}
	if r.StatusCode != http.StatusOK {
		var st spb.Status
		if err := protojson.Unmarshal(b, &st); err != nil {
			return status.New(codes.Internal, fmt.Sprintf("HTTP %d with undecodable body %q: %v", r.StatusCode, b, err))
		}
		return status.FromProto(&st)
	}
	if err := protojson.Unmarshal(b, resp); err != nil {
		return status.New(codes.Internal, fmt.Sprintf("undecodable body %q: %v", b, err))
	}
	return nil
}

// details returns a status's ErrorInfo and BadRequest details.
func details(st *status.Status) (*errdetails.ErrorInfo, *errdetails.BadRequest) {
	var info *errdetails.ErrorInfo
	var bad *errdetails.BadRequest
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			bad = d
		}
	}
	return info, bad
}
