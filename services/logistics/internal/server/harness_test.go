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
	"sync/atomic"
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

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
	"github.com/vendorgate/vendorgate/internal/usage"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorcall/vendorcalltest"
	"github.com/vendorgate/vendorgate/services/logistics/internal/billing"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
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
	// p30Delay delays every 30post reply; p30Timeout is the client's.
	p30Delay, p30Timeout time.Duration
}

// service is the logistics server on loopback behind serve.Run, in front
// of both simulators over real HTTP, with a SQLite store.
type service struct {
	dmj      *damaijiasim.Simulator
	p30      *post30sim.Simulator
	registry *prometheus.Registry
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
	psim := post30sim.New(post30sim.Options{Keys: map[string]string{ak: sk}, Location: shanghai, Delay: s.p30Delay})
	psrv := httptest.NewServer(psim.Handler())
	t.Cleanup(psrv.Close)

	reg := prometheus.NewRegistry()
	dc, err := damaijia.New(&http.Client{Transport: vendorcall.NewTransport()}, dsrv.URL, damaijia.Options{
		AppID: appID, AppSecret: appSecret, Registerer: reg,
		// The 200-call burst must not trip the breaker on a loaded machine.
		Call: vendorcall.Config{Timeout: 10 * time.Second, BreakerFailures: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := post30.New(&http.Client{Transport: vendorcall.NewTransport()}, psrv.URL, post30.Options{
		AccessKey: ak, SecretKey: sk, Location: shanghai, Registerer: reg,
		Call: vendorcall.Config{Timeout: s.p30Timeout},
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
	bill, err := billing.New(pc, st, billing.Options{MaxAmountFen: 100_000, Registerer: reg, Locks: coord.NewLocks(st.DB())})
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := usage.New(context.Background(), st.DB(), "logistics", usage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	parcels, bsrv := server.NewParcels(dc, ids, ledger, 0), server.NewBilling(bill, pc)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, lis, serve.Options{
			Name: "logistics", Domain: server.Domain, Logger: slog.New(slog.DiscardHandler), Registry: reg,
			RegisterGRPC: func(g *grpc.Server) {
				logisticsv1.RegisterParcelServiceServer(g, parcels)
				logisticsv1.RegisterBillingServiceServer(g, bsrv)
			},
			RegisterGateway: func(ctx context.Context, mux *runtime.ServeMux, endpoint string, opts []grpc.DialOption) error {
				if err := logisticsv1.RegisterParcelServiceHandlerFromEndpoint(ctx, mux, endpoint, opts); err != nil {
					return err
				}
				return logisticsv1.RegisterBillingServiceHandlerFromEndpoint(ctx, mux, endpoint, opts)
			},
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
	return &service{dmj: dsim, p30: psim, registry: reg, addr: lis.Addr().String(),
		parcels: logisticsv1.NewParcelServiceClient(conn), billing: logisticsv1.NewBillingServiceClient(conn)}
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
