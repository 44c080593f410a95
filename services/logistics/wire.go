package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"

	"google.golang.org/grpc"

	"github.com/vendorgate/vendorgate/gen/openapiv2"
	"github.com/vendorgate/vendorgate/internal/app"
	"github.com/vendorgate/vendorgate/internal/sandbox"
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

// appConfig is the part of cfg the shared bootstrap runs on.
func appConfig(cfg config.Config) app.Config {
	return app.Config{
		Addr: cfg.Addr, AddrVar: "LOGISTICS_ADDR", DatabaseURL: cfg.DatabaseURL, DatabaseVar: "LOGISTICS_DATABASE_URL",
		DatabaseTimeout: cfg.DatabaseTimeout, RequestIDTTL: cfg.RequestIDTTL, ReconcileInterval: cfg.ReconcileInterval,
		ShutdownTimeout: cfg.ShutdownTimeout, Sandbox: cfg.Sandbox, Access: cfg.Access, REST: cfg.REST,
	}
}

// wire builds the damaijia and 30post clients, the parcels and billing
// use-cases and their servers on the shared parts, and hands the money
// movements recorded before the one request_id engine to it.
func wire(ctx context.Context, cfg config.Config, d *app.Deps) (*app.Wired, error) {
	st := d.Store.(*store.Store)
	// damaijia's token is shared by the replicas through the store, one
	// login per expiry under a lock.
	dmj, err := damaijia.New(&http.Client{Transport: vendorcall.NewTransport()}, cfg.Damaijia.BaseURL, damaijia.Options{
		AppID: cfg.DamaijiaAppID, AppSecret: cfg.DamaijiaAppSecret, CancelPath: cfg.DamaijiaCancelPath,
		Call: cfg.Damaijia, SharedToken: st.SharedToken(damaijia.Vendor, d.Locks, d.Log), Registerer: d.Registry, Logger: d.Log,
		Observe: d.Access.Ledger.Observe,
	})
	if err != nil {
		return nil, err
	}
	p30, err := post30.New(&http.Client{Transport: vendorcall.NewTransport()}, cfg.Post30.BaseURL, post30.Options{
		AccessKey: cfg.Post30AccessKey, SecretKey: cfg.Post30SecretKey, SignEncoding: cfg.SignEncoding, Location: cfg.Location,
		RechargePath: cfg.Post30RechargePath, DeductPath: cfg.Post30DeductPath, CloseBatchPath: cfg.Post30CloseBatchPath,
		Call: cfg.Post30, Registerer: d.Registry, Logger: d.Log, Observe: d.Access.Ledger.Observe,
	})
	if err != nil {
		return nil, err
	}
	gauge, err := billing.NewGauge(d.Registry, d.Requests, d.Log)
	if err != nil {
		return nil, err
	}
	bill := billing.New(p30, d.Requests, billing.Options{MaxAmountFen: cfg.MaxAmountFen})
	ship := parcels.New(dmj, d.Access.Ledger, parcels.Options{OrderPriceFen: cfg.OrderPriceFen, Logger: d.Log})
	parcelSrv, billingSrv := server.NewParcels(ship, d.Requests, d.Access.Ledger), server.NewBilling(bill, d.Requests, gauge)
	// Money movements recorded before the one request_id engine are handed
	// to it once, so that no repeat across the upgrade re-sends one.
	if n, err := billingSrv.ImportLegacy(ctx, st, cfg.RequestIDTTL, d.Log); err != nil {
		return nil, fmt.Errorf("LOGISTICS_DATABASE_URL: %w", err)
	} else if n > 0 {
		d.Log.Warn("money movements recorded before the upgrade imported into the request_id records", "imported", n)
	}
	return &app.Wired{
		Register: func(s grpc.ServiceRegistrar) { server.Register(s, parcelSrv, billingSrv) },
		Gateway:  server.RegisterGateway,
		// damaijia can be asked about an order of unknown outcome; 30post
		// cannot, and its movements wait for an operator.
		Checkers: parcelSrv.Checkers(),
		Background: []func(context.Context) error{
			func(ctx context.Context) error { gauge.RefreshEvery(ctx, cfg.ReconcileInterval); return nil },
		},
		Listening: []any{"rest", "http://" + d.Addr.String() + "/v1/logistics/warehouses",
			"damaijia", cfg.Damaijia.BaseURL, "post30", cfg.Post30.BaseURL, "post30_timezone", cfg.Location.String()},
	}, nil
}

// useSimulators points cfg at the in-process damaijia and 30post
// simulators.
func useSimulators(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	dmj, p30, err := startSimulators(ctx, *cfg)
	if err != nil {
		return err
	}
	log.Warn("SANDBOX: using the in-process damaijia and 30post simulators; no real vendor is called",
		"damaijia", dmj.BaseURL, "post30", p30.BaseURL, "post30_drop_reply_phone", post30sim.DropPhone)
	cfg.Damaijia.BaseURL, cfg.DamaijiaAppID, cfg.DamaijiaAppSecret = dmj.BaseURL, dmj.SecretID, dmj.SecretKey
	cfg.Post30.BaseURL, cfg.Post30AccessKey, cfg.Post30SecretKey = p30.BaseURL, p30.SecretID, p30.SecretKey
	cfg.DamaijiaCancelPath, cfg.Post30RechargePath, cfg.Post30DeductPath, cfg.Post30CloseBatchPath =
		damaijia.DefaultCancelPath, post30.DefaultRechargePath, post30.DefaultDeductPath, post30.DefaultCloseBatchPath
	return nil
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
