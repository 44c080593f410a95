package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/app"
	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/sandbox"
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

// appConfig is the part of cfg the shared bootstrap runs on.
func appConfig(cfg config.Config) app.Config {
	return app.Config{
		Addr: cfg.Addr, AddrVar: "ESIGN_ADDR", DatabaseURL: cfg.DatabaseURL, DatabaseVar: "ESIGN_DATABASE_URL",
		DatabaseTimeout: cfg.DatabaseTimeout, RequestIDTTL: cfg.RequestIDTTL, ReconcileInterval: cfg.ReconcileInterval,
		ShutdownTimeout: cfg.ShutdownTimeout, Sandbox: cfg.Sandbox, Access: cfg.Access, REST: cfg.REST,
	}
}

// wire builds the Fadada client, the contracts use-case, the links and the
// server on the shared parts, with the REST routes that stream files.
func wire(cfg config.Config, d *app.Deps) (*app.Wired, error) {
	// Both signing layers: the cloud-market HMAC on the transport, the
	// msg_digest on each form (inside the client).
	hc := &http.Client{Transport: &cloudmarket.Signer{SecretID: cfg.SecretID, SecretKey: cfg.SecretKey, Base: vendorcall.NewTransport()}}
	client, err := fadada.New(hc, cfg.Vendor.BaseURL, fadada.Credentials{AppID: cfg.AppID, AppSecret: cfg.AppSecret},
		fadada.Options{Call: cfg.Vendor, Registerer: d.Registry, Logger: d.Log, Observe: d.Access.Ledger.Observe})
	if err != nil {
		return nil, err
	}
	// The links are under the listen address in the sandbox, unless
	// ESIGN_LINK_BASE_URL says otherwise.
	linker, linkRoutes, err := newLinks(cfg, client, d.Addr, d.Access.TLS != nil, d.Log)
	if err != nil {
		return nil, err
	}
	srv := server.New(contracts.New(client, d.Store.(*store.Store)), d.Requests, server.Options{
		MaxUploadBytes: cfg.MaxUploadBytes,
		Links:          linker,
		LinkValidity:   cfg.LinkValidity,
		SpoolDir:       cfg.SpoolDir,
		Usage:          d.Access.Ledger,
		Logger:         d.Log,
	})
	// Multipart uploads and raw downloads go through a stream to the
	// service in process, so that the interceptors run once, as for every
	// REST call.
	downloads := restfiles.Downloads{Client: esignv1.NewEsignServiceClient(d.Local)}
	uploads := restfiles.Uploads{Client: esignv1.NewEsignServiceClient(d.Local), MaxUploadBytes: cfg.MaxUploadBytes, Domain: server.Domain}
	// A JSON upload carries the file in base64 (4/3 of its size) plus the
	// other fields.
	jsonUpload := cfg.MaxUploadBytes/3*4 + 1<<20
	return &app.Wired{
		Register: func(s grpc.ServiceRegistrar) { esignv1.RegisterEsignServiceServer(s, srv) },
		Gateway: func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
			return esignv1.RegisterEsignServiceHandlerClient(ctx, mux, esignv1.NewEsignServiceClient(conn))
		},
		// Unknown outcomes that Fadada can tell (uploads, generated
		// contracts) are resolved without an operator.
		Checkers:        srv.Checkers(),
		RouteBodyLimits: map[string]int64{routeUploadContract: jsonUpload, routeUploadTemplate: jsonUpload},
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
		Listening: []any{"rest", "http://" + d.Addr.String() + "/v1/esign/accounts", "vendor", cfg.Vendor.BaseURL,
			"link_mode", cfg.LinkMode},
	}, nil
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
	creds := fadada.Credentials{AppID: appID, AppSecret: appSecret}
	sim, err := fadadasim.New(fadadasim.Options{Keys: map[string]string{id: key}, App: creds})
	if err != nil {
		return nil, nil, fadada.Credentials{}, err
	}
	sim.SignLinks(true)
	vendor, err := sandbox.Start(ctx, sim.Handler(), id, key)
	if err != nil {
		_ = sim.Close()
		return nil, nil, fadada.Credentials{}, err
	}
	return sim, vendor, creds, nil
}
