package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/gen/openapiv2"
	"github.com/vendorgate/vendorgate/internal/access"
	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/logging"
	"github.com/vendorgate/vendorgate/internal/sandbox"
	"github.com/vendorgate/vendorgate/internal/serve"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/services/esign/internal/config"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadada"
	"github.com/vendorgate/vendorgate/services/esign/internal/fadadasim"
	"github.com/vendorgate/vendorgate/services/esign/internal/restfiles"
	"github.com/vendorgate/vendorgate/services/esign/internal/server"
	"github.com/vendorgate/vendorgate/services/esign/internal/store"
)

// The REST routes that take a file.
const (
	routeUploadContract = "POST /v1/esign/contracts"
	routeUploadTemplate = "POST /v1/esign/templates"
	// The download routes, with the id as {id}.
	routeDownloadContract = "GET /v1/esign/contracts/{id}/content"
	routeGetFile          = "GET /v1/esign/files/{id}"
)

// sweepInterval is how often expired request_id records are deleted.
const sweepInterval = time.Hour

// closeTimeout bounds writing the usage ledger's queued records at
// shutdown.
const closeTimeout = 10 * time.Second

// run wires the service from environ and serves until ctx ends. onListen,
// when not nil, learns the bound address (tests listen on port 0).
func run(ctx context.Context, environ []string, logw io.Writer, onListen func(net.Addr)) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log := logging.New(logw, cfg.LogLevel)
	if cfg.Sandbox {
		sim, vendor, app, err := startSimulator(ctx)
		if err != nil {
			return err
		}
		defer sim.Close()
		log.Warn("SANDBOX: using the in-process Fadada simulator; no real vendor is called",
			"simulator", vendor.BaseURL, "ignored_base_url", cfg.Vendor.BaseURL)
		cfg.Vendor.BaseURL = vendor.BaseURL + fadadasim.Prefix
		cfg.SecretID, cfg.SecretKey, cfg.AppID, cfg.AppSecret = vendor.SecretID, vendor.SecretKey, app.AppID, app.AppSecret
	}

	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return fmt.Errorf("ESIGN_DATABASE_URL: %w", err)
	}
	defer st.Close()
	st.DB().WarnOneProcess(log, "esign", "ESIGN_DATABASE_URL", cfg.DatabaseURL)

	ids, err := idempotency.New(ctx, st.DB(), "esign", idempotency.Options{TTL: cfg.RequestIDTTL, Logger: log})
	if err != nil {
		return fmt.Errorf("ESIGN_DATABASE_URL: request_id records: %w", err)
	}
	go ids.SweepEvery(ctx, sweepInterval)

	reg := prometheus.NewRegistry()
	// Fadada is a prepaid package: its calls are counted, and none has a
	// unit price, so no call is capped by a daily spend.
	acc, err := access.Open(ctx, access.Options{Service: "esign", DB: st.DB(), Config: cfg.Access, Sandbox: cfg.Sandbox,
		Explicit: server.ExplicitGrants, Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		// After serve.Run: the servers have stopped, so the ledger's last
		// records are all queued.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		if err := acc.Close(ctx); err != nil {
			log.Error("usage ledger: records not written at shutdown", "error", err)
		}
	}()
	go acc.Run(ctx)
	// Both signing layers: the cloud-market HMAC on the transport, the
	// msg_digest on each form (inside the client).
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: cfg.SecretID, SecretKey: cfg.SecretKey, Base: vendorcall.NewTransport()}}
	client, err := fadada.New(hc, cfg.Vendor.BaseURL, fadada.Credentials{AppID: cfg.AppID, AppSecret: cfg.AppSecret},
		fadada.Options{Call: cfg.Vendor, Registerer: reg, Logger: log, Observe: acc.Ledger.Observe})
	if err != nil {
		return err
	}
	srv := server.New(client, contracts.New(client, st), ids, server.Options{
		MaxUploadBytes: cfg.MaxUploadBytes,
		LinkValidity:   cfg.LinkValidity,
		SpoolDir:       cfg.SpoolDir,
		Usage:          acc.Ledger,
		Logger:         log,
	})
	// Unknown outcomes that Fadada can tell (uploads, generated contracts)
	// are resolved without an operator.
	go ids.NewReconciler(srv.Checkers()).Run(ctx, cfg.ReconcileInterval)

	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on ESIGN_ADDR %s: %w", cfg.Addr, err)
	}
	log.Info("esign listening", "grpc", lis.Addr().String(), "rest", "http://"+lis.Addr().String()+"/v1/esign/accounts",
		"vendor", cfg.Vendor.BaseURL, "sandbox", cfg.Sandbox)
	if onListen != nil {
		onListen(lis.Addr())
	}
	// Multipart uploads and raw downloads go through a stream to our own
	// endpoint, so that the interceptors run once, as for every REST call.
	self, err := grpc.NewClient(lis.Addr().String(), serve.SelfDialOptions(acc.TLS)...)
	if err != nil {
		return fmt.Errorf("self client: %w", err)
	}
	defer self.Close()
	downloads := restfiles.Downloads{Client: esignv1.NewEsignServiceClient(self)}
	uploads := restfiles.Uploads{Client: esignv1.NewEsignServiceClient(self), MaxUploadBytes: cfg.MaxUploadBytes, Domain: server.Domain}
	// A JSON upload carries the file in base64 (4/3 of its size) plus the
	// other fields.
	jsonUpload := cfg.MaxUploadBytes/3*4 + 1<<20

	doc, err := openapiv2.Files.ReadFile("vendorgate/esign/v1/esign_service.swagger.json")
	if err != nil {
		return fmt.Errorf("OpenAPI document: %w", err)
	}
	return serve.Run(ctx, lis, serve.Options{
		Name:            "esign",
		Domain:          server.Domain,
		Logger:          log,
		Registry:        reg,
		ShutdownTimeout: cfg.ShutdownTimeout,
		REST:            cfg.REST,
		RouteBodyLimits: map[string]int64{routeUploadContract: jsonUpload, routeUploadTemplate: jsonUpload},
		WrapREST: map[string]func(http.Handler) http.Handler{
			routeUploadContract: uploads.Contracts, routeUploadTemplate: uploads.Templates,
			routeDownloadContract: downloads.Contract, routeGetFile: downloads.File,
		},
		OpenAPI:      doc,
		Guard:        acc.Guard,
		TLS:          acc.TLS,
		RegisterGRPC: func(s *grpc.Server) { esignv1.RegisterEsignServiceServer(s, srv) },
		RegisterGateway: func(ctx context.Context, mux *runtime.ServeMux, endpoint string, opts []grpc.DialOption) error {
			return esignv1.RegisterEsignServiceHandlerFromEndpoint(ctx, mux, endpoint, opts)
		},
	})
}

// startSimulator runs the Fadada simulator on loopback with fresh
// cloud-market keys and app credentials.
func startSimulator(ctx context.Context) (*fadadasim.Simulator, *sandbox.Vendor, fadada.Credentials, error) {
	id, key, err := sandbox.NewCredentials()
	if err != nil {
		return nil, nil, fadada.Credentials{}, err
	}
	appID, appSecret, err := sandbox.NewCredentials()
	if err != nil {
		return nil, nil, fadada.Credentials{}, err
	}
	app := fadada.Credentials{AppID: appID, AppSecret: appSecret}
	sim, err := fadadasim.New(fadadasim.Options{Keys: map[string]string{id: key}, App: app})
	if err != nil {
		return nil, nil, fadada.Credentials{}, err
	}
	vendor, err := sandbox.Start(ctx, sim.Handler(), id, key)
	if err != nil {
		_ = sim.Close()
		return nil, nil, fadada.Credentials{}, err
	}
	return sim, vendor, app, nil
}
