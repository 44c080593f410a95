package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	"github.com/vendorgate/vendorgate/gen/openapiv2"
	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/internal/sandbox"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/logistics/internal/billing"
	"github.com/vendorgate/vendorgate/services/logistics/internal/config"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
	"github.com/vendorgate/vendorgate/services/logistics/internal/parcels"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
	"github.com/vendorgate/vendorgate/services/logistics/internal/post30sim"
	"github.com/vendorgate/vendorgate/services/logistics/internal/server"
	"github.com/vendorgate/vendorgate/services/logistics/internal/store"
)

// run wires the service from environ and serves until ctx ends. onListen,
// when not nil, learns the bound address (tests listen on port 0).
func run(ctx context.Context, environ []string, logw io.Writer, onListen func(net.Addr)) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log := logging.New(logw, cfg.LogLevel)
	if cfg.Sandbox {
		dmj, p30, err := startSimulators(ctx, cfg)
		if err != nil {
			return err
		}
		log.Warn("SANDBOX: using the in-process damaijia and 30post simulators; no real vendor is called",
			"damaijia", dmj.BaseURL, "post30", p30.BaseURL, "post30_drop_reply_phone", post30sim.DropPhone)
		cfg.Damaijia.BaseURL, cfg.DamaijiaAppID, cfg.DamaijiaAppSecret = dmj.BaseURL, dmj.SecretID, dmj.SecretKey
		cfg.Post30.BaseURL, cfg.Post30AccessKey, cfg.Post30SecretKey = p30.BaseURL, p30.SecretID, p30.SecretKey
		cfg.DamaijiaCancelPath, cfg.Post30RechargePath, cfg.Post30DeductPath, cfg.Post30CloseBatchPath =
			damaijia.DefaultCancelPath, post30.DefaultRechargePath, post30.DefaultDeductPath, post30.DefaultCloseBatchPath
	}

	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return fmt.Errorf("LOGISTICS_DATABASE_URL: %w", err)
	}
	defer st.Close()
	st.DB().SetTimeout(cfg.DatabaseTimeout)
	st.DB().WarnOneProcess(log, "logistics", "LOGISTICS_DATABASE_URL", cfg.DatabaseURL)

	// Replicas sharing the database coordinate through it: request_id
	// holds, damaijia's token renewal.
	locks := coord.NewLocks(st.DB())
	ids, err := idempotency.New(ctx, st.DB(), "logistics", idempotency.Options{TTL: cfg.RequestIDTTL, Locks: locks, Logger: log})
	if err != nil {
		return fmt.Errorf("LOGISTICS_DATABASE_URL: %w", err)
	}
	go ids.SweepEvery(ctx, time.Hour)

	// One registry: both vendors' call metrics share it, labelled by vendor.
	reg := prometheus.NewRegistry()
	// The callers and the usage ledger live in the service's database,
	// shared by its replicas: spending caps hold across them.
	acc, err := access.Open(ctx, access.Options{
		Service: "logistics", DB: st.DB(), Config: cfg.Access, Sandbox: cfg.Sandbox,
		Prices: prices(cfg), Registerer: reg, Logger: log,
	})
	if err != nil {
		return err
	}
	defer func() {
		// After the servers stopped: no record queued in the ledger is lost.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := acc.Close(ctx); err != nil {
			log.Error("usage ledger: records not written at shutdown", "error", err)
		}
	}()
	go acc.Run(ctx)

	dmj, err := damaijia.New(&http.Client{Transport: vendorcall.NewTransport()}, cfg.Damaijia.BaseURL, damaijia.Options{
		AppID: cfg.DamaijiaAppID, AppSecret: cfg.DamaijiaAppSecret, CancelPath: cfg.DamaijiaCancelPath,
		Call: cfg.Damaijia, SharedToken: st.SharedToken(damaijia.Vendor, locks, log), Registerer: reg, Logger: log,
		Observe: acc.Ledger.Observe,
	})
	if err != nil {
		return err
	}
	p30, err := post30.New(&http.Client{Transport: vendorcall.NewTransport()}, cfg.Post30.BaseURL, post30.Options{
		AccessKey: cfg.Post30AccessKey, SecretKey: cfg.Post30SecretKey, SignEncoding: cfg.SignEncoding, Location: cfg.Location,
		RechargePath: cfg.Post30RechargePath, DeductPath: cfg.Post30DeductPath, CloseBatchPath: cfg.Post30CloseBatchPath,
		Call: cfg.Post30, Registerer: reg, Logger: log, Observe: acc.Ledger.Observe,
	})
	if err != nil {
		return err
	}
	gauge, err := billing.NewGauge(reg, ids, log)
	if err != nil {
		return err
	}
	// A resolution settles what the ledger booked for an unknown outcome
	// (a parcel order's price).
	ids.OnResolve(acc.Ledger.Resolve)
	bill := billing.New(p30, ids, billing.Options{MaxAmountFen: cfg.MaxAmountFen})
	ship := parcels.New(dmj, acc.Ledger, parcels.Options{OrderPriceFen: cfg.OrderPriceFen, Logger: log})
	parcels, billingSrv := server.NewParcels(ship, ids, acc.Ledger), server.NewBilling(bill, ids, gauge)
	// Money movements recorded before the one request_id engine are handed
	// to it once, so that no repeat across the upgrade re-sends one.
	if n, err := billingSrv.ImportLegacy(ctx, st, cfg.RequestIDTTL, log); err != nil {
		return fmt.Errorf("LOGISTICS_DATABASE_URL: %w", err)
	} else if n > 0 {
		log.Warn("money movements recorded before the upgrade imported into the request_id records", "imported", n)
	}
	// damaijia can be asked about an order of unknown outcome; 30post
	// cannot, and its movements wait for an operator.
	go ids.NewReconciler(parcels.Checkers()).Run(ctx, cfg.ReconcileInterval)
	go gauge.RefreshEvery(ctx, cfg.ReconcileInterval)

	doc, err := openAPI()
	if err != nil {
		return err
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on LOGISTICS_ADDR %s: %w", cfg.Addr, err)
	}
	log.Info("logistics listening", "grpc", lis.Addr().String(), "rest", "http://"+lis.Addr().String()+"/v1/logistics/warehouses",
		"damaijia", cfg.Damaijia.BaseURL, "post30", cfg.Post30.BaseURL, "post30_timezone", cfg.Location.String(),
		"sandbox", cfg.Sandbox, "database", sqlstore.Redact(cfg.DatabaseURL))
	if onListen != nil {
		onListen(lis.Addr())
	}
	return serve.Run(ctx, lis, serve.Options{
		// OTEL_TRACES_EXPORTER and the other OTEL_* variables turn traces on.
		Environ: environ,

		Name: "logistics",
		// /metrics stays off the API port unless METRICS_ADDR says so.
		DefaultMetricsAddr: "127.0.0.1:9093",
		Domain:             server.Domain,
		Logger:             log,
		Registry:           reg,
		ShutdownTimeout:    cfg.ShutdownTimeout,
		REST:               cfg.REST,
		OpenAPI:            doc,
		Ready:              st.Ping,
		Guard:              acc.Guard,
		TLS:                acc.TLS,
		RegisterGRPC: func(s grpc.ServiceRegistrar) {
			logisticsv1.RegisterParcelServiceServer(s, parcels)
			logisticsv1.RegisterBillingServiceServer(s, billingSrv)
		},
		RegisterGateway: func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
			if err := logisticsv1.RegisterParcelServiceHandlerClient(ctx, mux, logisticsv1.NewParcelServiceClient(conn)); err != nil {
				return err
			}
			return logisticsv1.RegisterBillingServiceHandlerClient(ctx, mux, logisticsv1.NewBillingServiceClient(conn))
		},
	})
}

// prices are the unit costs of the paid vendor calls in fen, keyed
// "vendor endpoint" as the usage ledger and vendorcall name them: a
// damaijia order_create (DAMAIJIA_ORDER_PRICE_YUAN).
func prices(cfg config.Config) map[string]int64 {
	return map[string]int64{damaijia.Vendor + " " + damaijia.PathCreate: cfg.OrderPriceFen}
}

// openAPI merges the two services' OpenAPI documents into one: the parcel
// document with the billing paths, definitions and tags added.
func openAPI() ([]byte, error) {
	var docs [2]map[string]any
	for i, name := range []string{"parcel_service", "billing_service"} {
		b, err := openapiv2.Files.ReadFile("vendorgate/logistics/v1/" + name + ".swagger.json")
		if err == nil {
			err = json.Unmarshal(b, &docs[i])
		}
		if err != nil {
			return nil, fmt.Errorf("OpenAPI document %s: %w", name, err)
		}
	}
	doc, more := docs[0], docs[1]
	for _, key := range []string{"paths", "definitions"} {
		dst, _ := doc[key].(map[string]any)
		src, _ := more[key].(map[string]any)
		if dst == nil {
			dst = map[string]any{}
		}
		maps.Copy(dst, src)
		doc[key] = dst
	}
	tags, _ := doc["tags"].([]any)
	moreTags, _ := more["tags"].([]any)
	doc["tags"] = append(tags, moreTags...)
	if info, ok := doc["info"].(map[string]any); ok {
		info["title"] = "vendorgate logistics"
		info["description"] = "Gift parcels through damaijia168 (ParcelService) and 30post account money movements, each sent at most once (BillingService). Field names are snake_case; every error is a google.rpc.Status with an ErrorInfo detail, and a BadRequest naming the field where there is one."
	}
	return json.Marshal(doc)
}

// startSimulators runs the damaijia and 30post simulators on loopback
// with fresh credentials.
func startSimulators(ctx context.Context, cfg config.Config) (dmj, p30 *sandbox.Vendor, err error) {
	id, secret, err := sandbox.NewCredentials()
	if err != nil {
		return nil, nil, err
	}
	dsim := damaijiasim.New(damaijiasim.Options{AppID: id, AppSecret: secret, TokenTTL: cfg.SandboxTokenTTL, ShipAfter: cfg.SandboxShipAfter})
	if dmj, err = sandbox.Start(ctx, dsim.Handler(), id, secret); err != nil {
		return nil, nil, err
	}
	ak, sk, err := sandbox.NewCredentials()
	if err != nil {
		return nil, nil, err
	}
	psim := post30sim.New(post30sim.Options{Keys: map[string]string{ak: sk}, Location: cfg.Location})
	if p30, err = sandbox.Start(ctx, psim.Handler(), ak, sk); err != nil {
		return nil, nil, err
	}
	return dmj, p30, nil
}
