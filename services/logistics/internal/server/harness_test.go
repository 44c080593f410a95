package server_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorcall/vendorcalltest"
	"github.com/vendorgate/vendorgate/services/logistics/internal/billing"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
	"github.com/vendorgate/vendorgate/services/logistics/internal/parcels"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30sim"
	"github.com/vendorgate/vendorgate/services/logistics/internal/server"
	"github.com/vendorgate/vendorgate/services/logistics/internal/store"
)

const (
	appID, appSecret = "dmj-app", "dmj-secret"
	ak, sk           = "c2e2e01c-6c95-4146-99d6-815811755603", "5fd68fbe-16a4-4851-bc56-3b1890a40a90"
)

// setup tunes one test service.
type setup struct {
	dmj damaijiasim.Options
	// loseOrder, when set, loses the reply of the next order_create once.
	loseOrder *atomic.Bool
	// p30Delay delays every 30post reply.
	p30Delay time.Duration
	// p30SimEncoding is what the 30post simulator checks signatures in;
	// p30Encoding is POST30_SIGN_ENCODING.
	p30SimEncoding, p30Encoding post30.SignEncoding
	// p30Call is 30post's call layer (timeout, breaker).
	p30Call vendorcall.Config
	// p30Applied, when set, runs when 30post applied a call, before its
	// reply.
	p30Applied func(svc *service, path string)
	// dmjBreaker, when positive, is damaijia's DAMAIJIA_BREAKER_FAILURES
	// (else 1000).
	dmjBreaker uint32
	// reconcile, when positive, runs the reconciler at this interval.
	reconcile time.Duration
	// before, when set, writes to the store before the service imports
	// the legacy movements, as an older version would have.
	before func(db *sqlstore.DB)
}

// service is the logistics server on loopback behind serve.Run, in front
// of both simulators over real HTTP, with a SQLite store.
type service struct {
	dmj      *damaijiasim.Simulator
	p30      *post30sim.Simulator
	registry *prometheus.Registry
	p30srv   *vendorServer
	db       *sqlstore.DB
	ids      *idempotency.Store
	addr     string
	parcels  logisticsv1.ParcelServiceClient
	billing  logisticsv1.BillingServiceClient
}

func start(t *testing.T, s setup) *service {
	t.Helper()
	s.dmj.AppID, s.dmj.AppSecret = appID, appSecret
	dsim := damaijiasim.New(s.dmj)
	var dsrv *httptest.Server
	if s.loseOrder != nil {
		dsrv = vendorcalltest.NewLostReplyServer(t, dsim.Handler(), func(r *http.Request) bool {
			return r.URL.Path == damaijia.PathCreate && s.loseOrder.CompareAndSwap(true, false)
		})
	} else {
		dsrv = httptest.NewServer(dsim.Handler())
		t.Cleanup(dsrv.Close)
	}
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	svc := &service{}
	psim := post30sim.New(post30sim.Options{Keys: map[string]string{ak: sk}, Location: shanghai, Delay: s.p30Delay, SignEncoding: s.p30SimEncoding,
		Applied: func(path string, _ map[string]any) {
			if s.p30Applied != nil {
				s.p30Applied(svc, path)
			}
		}})
	psrv := serveVendor(t, psim.Handler())

	reg := prometheus.NewRegistry()
	dc, err := damaijia.New(&http.Client{Transport: vendorcall.NewTransport()}, dsrv.URL, damaijia.Options{
		AppID: appID, AppSecret: appSecret, Registerer: reg,
		// The 200-call burst must not trip the breaker on a loaded machine.
		Call: vendorcall.Config{Timeout: 10 * time.Second, BreakerFailures: cmp.Or(s.dmjBreaker, 1000)},
	})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := post30.New(&http.Client{Transport: vendorcall.NewTransport()}, "http://"+psrv.addr, post30.Options{
		AccessKey: ak, SecretKey: sk, SignEncoding: s.p30Encoding, Location: shanghai, Registerer: reg, Call: s.p30Call,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), sqlstoretest.SQLiteURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := idempotency.New(context.Background(), st.DB(), "logistics", idempotency.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gauge, err := billing.NewGauge(reg, ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	bill := billing.New(pc, ids, billing.Options{MaxAmountFen: 100_000})
	ledger, err := usage.New(context.Background(), st.DB(), "logistics", usage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	parcels, bsrv := server.NewParcels(parcels.New(dc, ledger, parcels.Options{}), ids, ledger), server.NewBilling(bill, ids, gauge)
	if s.before != nil {
		s.before(st.DB())
	}
	if _, err := bsrv.ImportLegacy(context.Background(), st, time.Hour, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if s.reconcile > 0 {
		go ids.NewReconciler(parcels.Checkers()).Run(ctx, s.reconcile)
		go gauge.RefreshEvery(ctx, s.reconcile)
	}
	go func() {
		done <- serve.Run(ctx, lis, serve.Options{
			Name: "logistics", Domain: server.Domain, Logger: slog.New(slog.DiscardHandler), Registry: reg,
			RegisterGRPC:    func(g grpc.ServiceRegistrar) { server.Register(g, parcels, bsrv) },
			RegisterGateway: server.RegisterGateway,
		})
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve.Run: %v", err)
		}
		_ = ledger.Close(context.Background())
		_ = st.Close()
	})
	*svc = service{dmj: dsim, p30: psim, registry: reg, p30srv: psrv, db: st.DB(), ids: ids, addr: lis.Addr().String(),
		parcels: logisticsv1.NewParcelServiceClient(conn), billing: logisticsv1.NewBillingServiceClient(conn)}
	return svc
}

// vendorServer serves a simulator on a loopback address that can go down
// (connections refused) and come back on the same address.
type vendorServer struct {
	t       *testing.T
	addr    string
	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
}

func serveVendor(t *testing.T, h http.Handler) *vendorServer {
	t.Helper()
	v := &vendorServer{t: t, addr: "127.0.0.1:0", handler: h}
	v.up()
	t.Cleanup(v.down)
	return v
}

// up serves on the server's address.
func (v *vendorServer) up() {
	v.t.Helper()
	lis, err := net.Listen("tcp", v.addr)
	if err != nil {
		v.t.Fatal(err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.addr = lis.Addr().String()
	v.srv = &http.Server{Handler: v.handler}
	go func() { _ = v.srv.Serve(lis) }()
}

// down closes the listener and every connection: dials are refused.
func (v *vendorServer) down() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.srv != nil {
		_ = v.srv.Close()
		v.srv = nil
	}
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

// reasonOf returns a status's ErrorInfo reason, or its BadRequest
// violation's reason when it has one.
func reasonOf(st *status.Status) string {
	var reason string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if reason == "" {
				reason = d.GetReason()
			}
		case *errdetails.BadRequest:
			if v := d.GetFieldViolations(); len(v) > 0 {
				return v[0].GetReason()
			}
		}
	}
	return reason
}

// metadataOf returns a status's ErrorInfo metadata.
func metadataOf(st *status.Status) map[string]string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()
		}
	}
	return nil
}
