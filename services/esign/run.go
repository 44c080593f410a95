package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/vendorgate/vendorgate/services/esign/internal/links"
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
	st.DB().SetTimeout(cfg.DatabaseTimeout)
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
		Registerer: reg, Logger: log})
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
	// The links are under the listen address in the sandbox, unless
	// ESIGN_LINK_BASE_URL says otherwise: the listener comes first.
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on ESIGN_ADDR %s: %w", cfg.Addr, err)
	}
	defer lis.Close()
	linker, linkRoutes, err := newLinks(cfg, client, lis.Addr(), acc.TLS != nil, log)
	if err != nil {
		return err
	}
	srv := server.New(contracts.New(client, st), ids, server.Options{
		MaxUploadBytes: cfg.MaxUploadBytes,
		Links:          linker,
		LinkValidity:   cfg.LinkValidity,
		SpoolDir:       cfg.SpoolDir,
		Usage:          acc.Ledger,
		Logger:         log,
	})
	// Unknown outcomes that Fadada can tell (uploads, generated contracts)
	// are resolved without an operator.
	go ids.NewReconciler(srv.Checkers()).Run(ctx, cfg.ReconcileInterval)

	log.Info("esign listening", "grpc", lis.Addr().String(), "rest", "http://"+lis.Addr().String()+"/v1/esign/accounts",
		"vendor", cfg.Vendor.BaseURL, "sandbox", cfg.Sandbox, "link_mode", cfg.LinkMode)
	if onListen != nil {
		onListen(lis.Addr())
	}
	// Multipart uploads and raw downloads go through a stream to the
	// service in process, so that the interceptors run once, as for every
	// REST call.
	local := serve.NewLocal()
	downloads := restfiles.Downloads{Client: esignv1.NewEsignServiceClient(local)}
	uploads := restfiles.Uploads{Client: esignv1.NewEsignServiceClient(local), MaxUploadBytes: cfg.MaxUploadBytes, Domain: server.Domain}
	// A JSON upload carries the file in base64 (4/3 of its size) plus the
	// other fields.
	jsonUpload := cfg.MaxUploadBytes/3*4 + 1<<20

	doc, err := openapiv2.Files.ReadFile("vendorgate/esign/v1/esign_service.swagger.json")
	if err != nil {
		return fmt.Errorf("OpenAPI document: %w", err)
	}
	return serve.Run(ctx, lis, serve.Options{
		// OTEL_TRACES_EXPORTER and the other OTEL_* variables turn traces on.
		Environ: environ,

		Name: "esign",
		// /metrics stays off the API port unless METRICS_ADDR says so.
		DefaultMetricsAddr: "127.0.0.1:9092",
		Domain:             server.Domain,
		Logger:             log,
		Registry:           reg,
		ShutdownTimeout:    cfg.ShutdownTimeout,
		REST:               cfg.REST,
		RouteBodyLimits:    map[string]int64{routeUploadContract: jsonUpload, routeUploadTemplate: jsonUpload},
		WrapREST: map[string]func(http.Handler) http.Handler{
			routeUploadContract: uploads.Contracts, routeUploadTemplate: uploads.Templates,
			routeDownloadContract: downloads.Contract, routeGetFile: downloads.File,
		},
		// The links open without an API key: ExtraHTTP routes are served
		// beside the REST face, where no guard runs; the token is the
		// permission.
		ExtraHTTP: linkRoutes,
		// A link's token is a credential: logs never show it.
		SecretPathPrefixes: []string{links.PathPrefix},
		OpenAPI:            doc,
		Guard:              acc.Guard,
		TLS:                acc.TLS,
		RegisterGRPC:       func(s grpc.ServiceRegistrar) { esignv1.RegisterEsignServiceServer(s, srv) },
		Local:              local,
		RegisterGateway: func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
			return esignv1.RegisterEsignServiceHandlerClient(ctx, mux, esignv1.NewEsignServiceClient(conn))
		},
	})
}

// newLinks builds the service's own links (ESIGN_LINK_MODE=proxy): the
// tokens, their issuer under the public origin, and the routes that open
// them. In vendor mode there are none, and the server hands out Fadada's
// links. In the sandbox, an unset secret is made for this process and an
// unset origin is the listen address (loopback when it listens on every
// address); elsewhere config.Load requires both.
func newLinks(cfg config.Config, vendor links.Vendor, addr net.Addr, tls bool, log *slog.Logger) (server.Linker, map[string]http.Handler, error) {
	if cfg.LinkMode != config.LinkModeProxy {
		return nil, nil, nil
	}
	secret := []byte(cfg.LinkSecret)
	if len(secret) == 0 {
		secret = make([]byte, links.MinSecretBytes)
		if _, err := rand.Read(secret); err != nil {
			return nil, nil, fmt.Errorf("link secret: %w", err)
		}
		log.Warn("SANDBOX: links are signed with a secret of this process; they stop opening when it stops (set ESIGN_LINK_SECRET to keep them)")
	}
	base := cfg.LinkBaseURL
	if base == "" {
		base = localOrigin(addr, tls)
		log.Warn("SANDBOX: links are under the listen address; set ESIGN_LINK_BASE_URL to the origin a person's browser reaches", "links", base)
	}
	tokens, err := links.NewTokens(secret, cfg.LinkValidity, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("ESIGN_LINK_SECRET: %w", err)
	}
	issuer, err := links.NewIssuer(base, tokens)
	if err != nil {
		return nil, nil, fmt.Errorf("ESIGN_LINK_BASE_URL: %w", err)
	}
	return issuer, links.NewHandler(tokens, vendor, server.Domain, log).Routes(), nil
}

// localOrigin is the origin of the listen address addr, with loopback for
// an address that listens on every interface.
func localOrigin(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// startSimulator runs the Fadada simulator on loopback with fresh
// cloud-market keys and app credentials. Like the real gateway, it asks
// the browser pages for the gateway's signature too (SignLinks), so the
// sandbox's links open only through the service.
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
	sim.SignLinks(true)
	vendor, err := sandbox.Start(ctx, sim.Handler(), id, key)
	if err != nil {
		_ = sim.Close()
		return nil, nil, fadada.Credentials{}, err
	}
	return sim, vendor, app, nil
}
