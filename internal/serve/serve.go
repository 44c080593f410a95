// Package serve runs a vendorgate service: gRPC and its REST gateway on one
// listener, with health, readiness, metrics, access logs, request validation,
// error mapping and a bounded graceful shutdown.
package serve

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/soheilhy/cmux"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/vendorgate/vendorgate/internal/tracing"
)

// defaultShutdownTimeout bounds the graceful shutdown when Options leaves it 0.
const defaultShutdownTimeout = 10 * time.Second

// maxSniffTimeout bounds how long a new connection may take to send enough
// bytes to tell gRPC from HTTP, like http.Server's ReadHeaderTimeout.
const maxSniffTimeout = 10 * time.Second

// Options configures Run.
type Options struct {
	// Name is the service name for logs and the gRPC health service, e.g. "delivery".
	Name string
	// Domain is the google.rpc.ErrorInfo domain, e.g. "delivery.vendorgate.dev".
	Domain string
	// Logger receives one line per RPC and the server's own events.
	Logger *slog.Logger
	// Registry receives the gRPC server, Go runtime and process metrics and
	// is what /metrics serves; the global default registry is never used.
	Registry *prometheus.Registry
	// RegisterGRPC registers the service implementation, on the gRPC
	// server and on the in-process channel (Local) the REST face calls.
	RegisterGRPC func(grpc.ServiceRegistrar)
	// RegisterGateway registers the REST gateway's handlers on mux with a
	// client of conn, the service's in-process channel, e.g.
	// deliveryv1.RegisterDeliveryServiceHandlerClient(ctx, mux,
	// deliveryv1.NewDeliveryServiceClient(conn)): every REST call goes
	// through the same interceptors as a gRPC call, exactly once, with no
	// socket in between. Nil serves no REST API.
	RegisterGateway func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error
	// Local is the service's in-process channel, for WrapREST handlers
	// that call the service themselves; nil makes one for the gateway.
	Local *Local
	// Ready is the optional readiness check behind /readyz; nil means always
	// ready until shutdown starts.
	Ready func(ctx context.Context) error
	// ShutdownTimeout bounds the graceful shutdown; after it, in-flight calls
	// are cut. 0 means 10s.
	ShutdownTimeout time.Duration
	// ExtraHTTP holds more HTTP routes, pattern (as for http.ServeMux) to
	// handler, e.g. a vendor callback endpoint. They run no Guard: a route
	// here authenticates its requests itself (e.g. a signed link token).
	ExtraHTTP map[string]http.Handler
	// SecretPathPrefixes are path prefixes whose next segment is a secret
	// (a link or callback token), e.g. "/v1/esign/links/": logs show the
	// prefix and "…" in its place.
	SecretPathPrefixes []string
	// WrapREST holds REST routes, pattern (as for http.ServeMux, e.g.
	// "POST /v1/esign/contracts") to a handler built around the REST face:
	// it may serve some requests itself (e.g. a multipart upload streamed
	// into the service through Local, with calls made with
	// OutgoingContext) and pass the others to next, the gateway with its
	// body limits and error shape. Both are counted and logged as every
	// REST request is. A body the handler reads itself has REST.BodyReadTimeout
	// to arrive too: past it, the answer is the REST face's 408, whatever
	// the handler makes of its failed read.
	WrapREST map[string]func(next http.Handler) http.Handler
	// REST bounds the REST face: body size and read time, idle connections,
	// trusted proxies. Zero fields take the defaults.
	REST REST
	// RouteBodyLimits gives REST routes a body limit other than
	// REST.MaxBodyBytes, keyed by HTTP method and path template as in the
	// proto, e.g. {"POST /v1/esign/files": 20 << 20}. A key that names no
	// route is an error.
	RouteBodyLimits map[string]int64
	// OpenAPI is the service's OpenAPI v2 document, served at
	// GET /openapi.json with a Swagger UI page at GET /docs; nil serves
	// neither.
	OpenAPI []byte
	// Files resolves the registered services' descriptors for the REST
	// route table; nil means protoregistry.GlobalFiles.
	Files *protoregistry.Files
	// TLS, when set, serves gRPC and REST over TLS on the one listener
	// (e.g. with client certificates for AUTH_MODE=mtls: the Guard reads
	// them, for REST calls too).
	TLS *tls.Config
	// Guard admits each call (internal/auth.Guard) before anything else
	// runs, except the gRPC health and reflection services; nil admits all.
	// REST calls reach it through the gateway, with their Authorization
	// header as gRPC metadata.
	Guard Guard
	// DefaultMetricsAddr is where /metrics is served when METRICS_ADDR
	// (REST.MetricsAddr) is unset, e.g. "127.0.0.1:9091": each service has
	// its own, so that several run on one host. Empty serves no metrics
	// unless METRICS_ADDR names an address. /metrics is never on the API
	// port unless METRICS_ADDR names the API's address. A default address
	// that is taken is logged and skipped (a second process on the host);
	// an explicit METRICS_ADDR that is taken is an error.
	DefaultMetricsAddr string
	// Environ holds the OTEL_* variables (as os.Environ() does) from which
	// Run sets up traces with internal/tracing: off unless
	// OTEL_TRACES_EXPORTER names an exporter. Run flushes them when it
	// returns.
	Environ []string
	// Tracing, when set, is used instead of a provider built from Environ;
	// its owner shuts it down.
	Tracing *tracing.Provider
	// Serving, when set, is called once, in a goroutine of its own, when
	// the servers are built and start to accept calls: where start-up's
	// work ends (internal/app gives back what only start-up needed).
	Serving func()
}

// check reports the first required option that is missing.
func (o *Options) check() error {
	switch {
	case o.Name == "":
		return errors.New("serve: Options.Name is empty")
	case o.Domain == "":
		return errors.New("serve: Options.Domain is empty")
	case o.Logger == nil:
		return errors.New("serve: Options.Logger is nil")
	case o.Registry == nil:
		return errors.New("serve: Options.Registry is nil")
	case o.RegisterGRPC == nil:
		return errors.New("serve: Options.RegisterGRPC is nil")
	case o.ShutdownTimeout < 0:
		return fmt.Errorf("serve: Options.ShutdownTimeout is negative (%s)", o.ShutdownTimeout)
	}
	if err := o.REST.Check(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	for key, limit := range o.RouteBodyLimits {
		if limit <= 0 {
			return fmt.Errorf("serve: Options.RouteBodyLimits[%q] must be positive, got %d", key, limit)
		}
	}
	return nil
}

// requestValidator is the process's one request validator, built when the
// package initialises (requestValidatorErr says if that failed). A
// protovalidate.Validator is safe for concurrent use and keeps no state of
// a call.
var requestValidator, requestValidatorErr = newRequestValidator()

// newRequestValidator builds a validator against an empty file registry.
//
// protovalidate.New registers every file of protoregistry.GlobalFiles with
// CEL, and so makes the protobuf runtime build the full descriptor of
// every message linked into the binary: 332 in vehicle, nearly all of them
// the libraries' own (OpenAPI options, CEL's, OTLP's, Prometheus's). That
// was 1.1 MB of the 2.8 MB an idle service holds, and 3 ms of a start.
// Validation needs none of it: as it compiles a message's rules,
// protovalidate registers the message's own file, the type of each message
// field and each rule's type (TestEveryMessagesRulesCompile holds every
// vendorgate message to that). GlobalFiles is put back before this
// returns; package initialisation runs in one goroutine, and nothing this
// package's dependencies start reads the registry meanwhile.
func newRequestValidator() (protovalidate.Validator, error) {
	all := protoregistry.GlobalFiles
	protoregistry.GlobalFiles = new(protoregistry.Files)
	defer func() { protoregistry.GlobalFiles = all }()
	return protovalidate.New()
}

// Run serves gRPC and HTTP on lis until ctx ends, then shuts down gracefully:
// /readyz and the gRPC health service report not serving, new connections
// are refused and in-flight calls finish. Calls still running after
// ShutdownTimeout are cut, and Run then returns an error wrapping
// context.DeadlineExceeded. Run closes lis, and returns only after every
// goroutine it started has ended; it returns nil after a clean shutdown.
func Run(ctx context.Context, lis net.Listener, opts Options) (err error) {
	defer lis.Close()
	if err := opts.check(); err != nil {
		return err
	}
	if opts.TLS != nil {
		lis = tls.NewListener(lis, serverTLS(opts.TLS))
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = defaultShutdownTimeout
	}
	logger := opts.Logger.With("service", opts.Name)
	traces := opts.Tracing
	if traces == nil {
		if traces, err = tracing.New(ctx, tracing.Options{Service: opts.Name, Environ: opts.Environ}); err != nil {
			return err
		}
		defer func() {
			// After the servers stopped: the last calls' spans are sent.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
			defer cancel()
			if err := traces.Shutdown(sctx); err != nil {
				logger.Warn("traces not flushed at shutdown", "error", err)
			}
		}()
		if traces.Enabled() {
			logger.InfoContext(ctx, "tracing", "exporter", traces.Exporter())
		}
	}

	validator := requestValidator
	if err := requestValidatorErr; err != nil {
		return fmt.Errorf("serve: build request validator: %w", err)
	}
	metrics, err := registerMetrics(opts.Registry)
	if err != nil {
		return err
	}
	guard, err := newGuarding(opts.Guard, opts.Domain, opts.Registry)
	if err != nil {
		return err
	}

	opts.REST.MaxBodyBytes = cmp.Or(opts.REST.MaxBodyBytes, DefaultMaxBodyBytes)
	opts.REST.BodyReadTimeout = cmp.Or(opts.REST.BodyReadTimeout, DefaultBodyReadTimeout)
	opts.REST.IdleTimeout = cmp.Or(opts.REST.IdleTimeout, DefaultIdleTimeout)
	grpcLimit := grpcMessageLimit(opts.REST.MaxBodyBytes, opts.RouteBodyLimits)

	unary, streams := interceptors(logger, opts.Domain, metrics, guard, validator)
	serverOpts := append(grpcTracing(traces),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(streams...),
		grpc.MaxRecvMsgSize(grpcLimit),
		grpc.MaxConcurrentStreams(cmp.Or(opts.REST.GRPCMaxConcurrentStreams, DefaultGRPCMaxConcurrentStreams)),
	)
	serverOpts = append(serverOpts, connectionLimits()...)
	if opts.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(handshaken{}))
	}
	grpcSrv := grpc.NewServer(serverOpts...)
	healthSrv := health.NewServer()
	healthSrv.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthSrv.SetServingStatus(opts.Name, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(grpcSrv, healthSrv)
	reflection.Register(grpcSrv)
	opts.RegisterGRPC(grpcSrv)
	metrics.initialize(grpcSrv)

	// REST calls reach the service in process, through the same chain.
	local := cmp.Or(opts.Local, NewLocal())
	if err := local.setUp(opts.RegisterGRPC, unary, streams, localTracing(traces)); err != nil {
		return err
	}
	face, err := newRESTFace(opts, logger, grpcSrv)
	if err != nil {
		return err
	}
	face.tracing = traces
	face.setDirect(local)
	gateway := runtime.NewServeMux(face.muxOptions()...)
	face.mux = gateway
	if opts.RegisterGateway != nil {
		// The gateway's handlers must outlive ctx: REST calls still in
		// flight when ctx ends run until the HTTP server has drained them.
		if err := opts.RegisterGateway(context.WithoutCancel(ctx), gateway, local); err != nil {
			return fmt.Errorf("serve: register REST gateway: %w", err)
		}
	}

	p := &probes{ready: opts.Ready, log: logger}
	extra := maps.Clone(opts.ExtraHTTP)
	for pattern, wrap := range opts.WrapREST {
		if extra == nil {
			extra = map[string]http.Handler{}
		}
		if _, dup := extra[pattern]; dup {
			return fmt.Errorf("serve: route %q is in both ExtraHTTP and WrapREST", pattern)
		}
		extra[pattern] = face.traced(face.account(pattern, face.timeBodies(wrap(face))))
	}
	progress, err := newWriteProgress(cmp.Or(opts.REST.WriteIdleTimeout, DefaultWriteIdleTimeout), logger, opts.Registry)
	if progress != nil {
		progress.secrets = opts.SecretPathPrefixes
	}
	if err != nil {
		return err
	}
	var mainMetrics *prometheus.Registry
	var metricsSrv *http.Server
	metricsLis, onAPIPort, err := listenMetrics(ctx, opts, lis.Addr(), logger)
	if err != nil {
		return err
	}
	switch {
	case onAPIPort:
		mainMetrics = opts.Registry
	case metricsLis != nil:
		defer metricsLis.Close()
		mm := http.NewServeMux()
		mm.Handle("GET /metrics", metricsHandler(opts.Registry))
		metricsSrv = &http.Server{Handler: progress.wrap(mm), ReadHeaderTimeout: maxSniffTimeout, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	}
	handler, err := routes(p, mainMetrics, extra, face.traced(face), opts.OpenAPI)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	httpSrv := &http.Server{
		Handler:           progress.wrap(handler),
		ReadHeaderTimeout: maxSniffTimeout,
		IdleTimeout:       opts.REST.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// HTTP/2 REST (TLS with h2 in ALPN) buffers at most this much of
		// a client's uploads.
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          cmp.Or(int(opts.REST.GRPCMaxConcurrentStreams), DefaultGRPCMaxConcurrentStreams),
			MaxReceiveBufferPerConnection: 1 << 20,
			MaxReceiveBufferPerStream:     256 << 10,
		},
	}
	httpSrv.ConnContext = withConn

	// gRPC goes to the native grpc.Server (grpc.Server.ServeHTTP is much
	// slower); everything else, HTTP/1 included, to the HTTP server. The
	// SendSettings matcher answers the client's SETTINGS, which some gRPC
	// clients wait for before they send the headers the match needs.
	mux := cmux.New(lis)
	mux.SetReadTimeout(min(maxSniffTimeout, opts.ShutdownTimeout))
	grpcLis := mux.MatchWithWriters(cmux.HTTP2MatchHeaderFieldSendSettings("content-type", "application/grpc"))
	httpLis := mux.Match(cmux.Any())

	logger.InfoContext(ctx, "serving", "address", lis.Addr().String())
	g, gctx := errgroup.WithContext(ctx)
	serve := func(name string, fn func() error) {
		g.Go(func() error {
			err := fn()
			if p.stopping.Load() {
				// Closing the listeners is how shutdown stops these loops;
				// their "closed" errors are expected.
				return nil
			}
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			return fmt.Errorf("serve: %s: %w", name, err)
		})
	}
	serve("gRPC server", func() error { return grpcSrv.Serve(grpcLis) })
	serve("HTTP server", func() error { return httpSrv.Serve(httpLis) })
	serve("connection mux", mux.Serve)
	if opts.Serving != nil {
		go opts.Serving()
	}
	if metricsSrv != nil {
		logger.InfoContext(ctx, "serving metrics", "address", metricsLis.Addr().String())
		serve("metrics server", func() error { return metricsSrv.Serve(metricsLis) })
	}
	g.Go(func() error {
		<-gctx.Done()
		p.stopping.Store(true)
		healthSrv.Shutdown()
		logger.InfoContext(ctx, "shutting down", "timeout", opts.ShutdownTimeout.String())
		err := shutdown(grpcSrv, httpSrv, opts.ShutdownTimeout)
		if metricsSrv != nil {
			// Scrapes are short: metrics go last, so the shutdown shows.
			_ = metricsSrv.Close()
		}
		// Stop the mux's accept loop and release connections it still holds.
		mux.Close()
		_ = lis.Close()
		return err
	})
	if err := g.Wait(); err != nil {
		return err
	}
	logger.InfoContext(ctx, "stopped")
	return nil
}

// shutdown stops the servers gracefully in parallel, and forcibly once
// timeout has passed.
func shutdown(grpcSrv *grpc.Server, httpSrv *http.Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	var wg sync.WaitGroup
	var grpcForced, httpForced bool
	wg.Go(func() {
		stopped := make(chan struct{})
		go func() {
			grpcSrv.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			grpcForced = true
			grpcSrv.Stop()
			<-stopped
		}
	})
	wg.Go(func() {
		// Shutdown also reports failing to close a listener the gRPC side
		// closed first (cmux's listeners share the root one); only running
		// out of time matters.
		if err := httpSrv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			httpForced = true
			_ = httpSrv.Close()
		}
	})
	wg.Wait()
	if grpcForced || httpForced {
		return fmt.Errorf("serve: graceful shutdown did not finish within %s, in-flight calls were cut: %w",
			timeout, context.DeadlineExceeded)
	}
	return nil
}

// grpcMessageLimit is the largest gRPC message the server accepts: four
// times the largest REST body, since a JSON body's protobuf form can be
// larger than the JSON (a packed -1 takes 10 bytes, "-1," 3), and at least
// gRPC's usual 4 MiB.
func grpcMessageLimit(maxBody int64, perRoute map[string]int64) int {
	largest := maxBody
	for _, l := range perRoute {
		largest = max(largest, l)
	}
	return int(min(max(4*largest, 4<<20), math.MaxInt32))
}

// newRESTFace builds the REST face for the services registered on srv.
func newRESTFace(opts Options, logger *slog.Logger, srv *grpc.Server) (*restFace, error) {
	files := opts.Files
	if files == nil {
		files = protoregistry.GlobalFiles
	}
	// A service files does not know may have gateway routes the table
	// lacks: then the face routes no request past the gateway.
	table, whole, err := newRouteTable(files, slices.Sorted(maps.Keys(srv.GetServiceInfo())))
	if err != nil {
		return nil, fmt.Errorf("serve: REST routes: %w", err)
	}
	limits := map[*route]int64{}
	for key, limit := range opts.RouteBodyLimits {
		rt := table.byKey(key)
		if rt == nil {
			return nil, fmt.Errorf("serve: Options.RouteBodyLimits: no REST route %q", key)
		}
		limits[rt] = limit
	}
	trusted, err := parsePrefixes(opts.REST.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	requests, err := registerRESTMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	return &restFace{
		secrets:     opts.SecretPathPrefixes,
		domain:      opts.Domain,
		log:         logger,
		routes:      table,
		wholeTable:  whole,
		limits:      limits,
		maxBody:     opts.REST.MaxBodyBytes,
		readTimeout: opts.REST.BodyReadTimeout,
		trusted:     trusted,
		requests:    requests,
		marshaler:   jsonMarshaler(),
	}, nil
}

// registerMetrics registers the gRPC server metrics, with a handling-time
// histogram, and the Go runtime and process collectors on reg. A registry
// that already has them (Run called again) keeps its collectors.
func registerMetrics(reg *prometheus.Registry) (*rpcMetrics, error) {
	metrics := newRPCMetrics()
	if err := reg.Register(metrics); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("serve: register gRPC metrics: %w", err)
		}
		existing, ok := are.ExistingCollector.(*rpcMetrics)
		if !ok {
			return nil, fmt.Errorf("serve: register gRPC metrics: %w", err)
		}
		metrics = existing
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			return nil, fmt.Errorf("serve: register runtime metrics: %w", err)
		}
	}
	return metrics, nil
}
