package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
	"github.com/vendorgate/vendorgate/internal/seriescache"
	"github.com/vendorgate/vendorgate/internal/tracing"
)

// Defaults for REST fields left zero.
const (
	DefaultMaxBodyBytes    = 4 << 20
	DefaultBodyReadTimeout = 30 * time.Second
	DefaultIdleTimeout     = 2 * time.Minute
	// DefaultGRPCMaxConcurrentStreams is REST.GRPCMaxConcurrentStreams
	// when it is left zero.
	DefaultGRPCMaxConcurrentStreams = 100
)

// MetricsOff is the METRICS_ADDR that serves no /metrics at all.
const MetricsOff = "off"

// MetricsOnAPI is the METRICS_ADDR that serves /metrics on the API port,
// whatever its address (e.g. a test's 127.0.0.1:0): an explicit choice,
// like naming the API address.
const MetricsOnAPI = "api"

// REST configures the REST face. Each service embeds it in its
// configuration, so every service reads the same variables.
type REST struct {
	// MaxBodyBytes is the largest request body a REST route accepts, unless
	// Options.RouteBodyLimits gives the route its own; a larger body is
	// refused with 413 while it is read, so memory stays bounded.
	MaxBodyBytes int64 `env:"REST_MAX_BODY_BYTES" envDefault:"4194304"`
	// BodyReadTimeout is how long a client may take to send a JSON request
	// body, and the longest pause between the bytes of a streamed
	// (multipart) upload, which may take as long as it keeps moving; a
	// stalled body is cut off with 408 and its connection closed.
	BodyReadTimeout time.Duration `env:"REST_BODY_READ_TIMEOUT" envDefault:"30s"`
	// IdleTimeout is how long an idle keep-alive connection stays open.
	IdleTimeout time.Duration `env:"REST_IDLE_TIMEOUT" envDefault:"2m"`
	// TrustedProxies are the CIDRs (e.g. "10.0.0.0/8,127.0.0.1/32") of
	// proxies whose X-Forwarded-For header names the caller; empty trusts
	// none, and the access log shows the connection's address.
	TrustedProxies []string `env:"REST_TRUSTED_PROXIES" envSeparator:","`
	// WriteIdleTimeout is how long a client may take nothing of a response
	// (REST_WRITE_IDLE_TIMEOUT): every write of a body, a download's
	// chunks included, must be taken within it, or the connection is cut
	// and the cut logged. 0 means 30s.
	WriteIdleTimeout time.Duration `env:"REST_WRITE_IDLE_TIMEOUT" envDefault:"30s"`
	// MetricsAddr is where /metrics is served (METRICS_ADDR), on a listener
	// of its own, e.g. "127.0.0.1:9091"; empty takes the service's
	// Options.DefaultMetricsAddr, "off" serves no metrics. /metrics is on
	// the API port only when MetricsAddr names the API's address itself,
	// or is "api".
	MetricsAddr string `env:"METRICS_ADDR"`
	// GRPCMaxConcurrentStreams is how many calls and streams one gRPC
	// connection may hold open at once (GRPC_MAX_CONCURRENT_STREAMS): a
	// client that opens more is refused them (RST_STREAM REFUSED_STREAM),
	// health Watch streams included. 0 means 100. The REST gateway's own
	// connection is not capped: REST calls are bounded by their HTTP
	// connections.
	GRPCMaxConcurrentStreams uint32 `env:"GRPC_MAX_CONCURRENT_STREAMS" envDefault:"100"`
}

// Check reports the first invalid field, naming its variable.
func (c REST) Check() error {
	switch {
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("REST_MAX_BODY_BYTES must not be negative, got %d", c.MaxBodyBytes)
	case c.BodyReadTimeout < 0:
		return fmt.Errorf("REST_BODY_READ_TIMEOUT must not be negative, got %s", c.BodyReadTimeout)
	case c.IdleTimeout < 0:
		return fmt.Errorf("REST_IDLE_TIMEOUT must not be negative, got %s", c.IdleTimeout)
	case c.WriteIdleTimeout < 0:
		return fmt.Errorf("REST_WRITE_IDLE_TIMEOUT must not be negative, got %s", c.WriteIdleTimeout)
	}
	_, err := parsePrefixes(c.TrustedProxies)
	return err
}

func parsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("REST_TRUSTED_PROXIES: %q is not a CIDR: %w", c, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// restFace is the HTTP handler in front of the REST gateway: it bounds and
// times the body, names the route, writes every error in the one error
// shape, counts every request and logs those the gRPC access log did not.
type restFace struct {
	secrets []string // Options.SecretPathPrefixes
	domain  string
	log     *slog.Logger
	routes  routeTable
	// wholeTable is set when routes holds every route the gateway has:
	// the face knows every registered service's descriptor.
	wholeTable  bool
	limits      map[*route]int64
	maxBody     int64
	readTimeout time.Duration
	trusted     []netip.Prefix
	requests    *seriescache.Cache[routeStatus, prometheus.Counter]
	// mux is the gateway, which serves every matched route.
	mux       *runtime.ServeMux
	marshaler runtime.Marshaler
	// outbound is the gateway's marshaler: marshaler, but for HttpBody
	// answers (downloads), which it writes raw.
	outbound *runtime.HTTPBodyMarshaler
	// direct are the routes served by calling the service's method
	// (directly), by their gateway pattern; local calls them.
	direct map[string]directRoute
	// shortcuts are the direct routes the face serves without the
	// gateway's router (shortcut), by route.
	shortcuts map[*route]*directRoute
	local     *Local
	// tracing starts the REST server spans and propagates them to gRPC.
	tracing *tracing.Provider
}

// restCall is what one REST request learned on its way; the gateway's
// handlers find it in their context, and the service's interceptors in
// the client context of their in-process call.
type restCall struct {
	route string
	// client is the caller's address, method and path the request's,
	// cert the caller its verified client certificate names (mTLS).
	client, method, path, cert string
	// reachedRP is set when the call reached the service's interceptors,
	// whose access log then writes its line.
	reachedRP atomic.Bool
	st        *status.Status
	// matched, allowed and escapedPath are account's route match, for
	// serveGateway to reuse while the request's method and path are
	// still the ones matched.
	matched     *route
	allowed     []string
	escapedPath string
	// addr and peer are client as the service's peer (fromREST); sw is
	// the response's status, for the count: fields, not allocations of
	// their own.
	addr textAddr
	peer peer.Peer
	sw   statusWriter
}

// newCall is r's restCall.
func (f *restFace) newCall(r *http.Request) *restCall {
	c := &restCall{client: f.clientAddress(r), method: r.Method, path: r.URL.Path, cert: restCertName(r.Context())}
	c.addr = textAddr(c.client)
	c.peer.Addr = &c.addr
	return c
}

type restCallKey struct{}

func callFrom(ctx context.Context) *restCall {
	c, _ := ctx.Value(restCallKey{}).(*restCall)
	return c
}

// routeStatus names a series of vendorgate_rest_requests_total.
type routeStatus struct {
	route string
	code  int
}

// registerRESTMetrics registers vendorgate_rest_requests_total, or finds it
// on a registry that has it, and returns its series by route and status.
func registerRESTMetrics(reg *prometheus.Registry) (*seriescache.Cache[routeStatus, prometheus.Counter], error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vendorgate_rest_requests_total",
		Help: "REST requests by route (\"POST /v1/delivery/orders\", or \"unmatched\") and HTTP status code.",
	}, []string{"route", "code"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("serve: register REST metrics: %w", err)
		}
		existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
		if !ok {
			return nil, fmt.Errorf("serve: register REST metrics: %w", err)
		}
		c = existing
	}
	return seriescache.New(func(k routeStatus) prometheus.Counter {
		return c.WithLabelValues(k.route, strconv.Itoa(k.code))
	}), nil
}

// muxOptions are the gateway options that route the gateway's own errors,
// metadata and responses through f.
func (f *restFace) muxOptions() []runtime.ServeMuxOption {
	f.outbound = &runtime.HTTPBodyMarshaler{Marshaler: f.marshaler}
	opts := []runtime.ServeMuxOption{
		runtime.WithMarshalerOption(runtime.MIMEWildcard, f.outbound),
		runtime.WithErrorHandler(f.gatewayError),
		runtime.WithRoutingErrorHandler(f.routingError),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithForwardResponseOption(f.forwarded),
		// A form-encoded POST must not run the GET handler of its path,
		// and X-HTTP-Method-Override must not turn a POST into a GET the
		// route table does not expect.
		runtime.WithDisablePathLengthFallback(),
		runtime.WithDisableHTTPMethodOverride(),
		runtime.WithMiddlewares(f.directly),
	}
	if f.tracing.Enabled() {
		// Without traces there is nothing to add, and the gateway joins
		// what an annotator returns into a new map on every request.
		opts = append(opts, runtime.WithMetadata(f.metadata))
	}
	return opts
}

// incomingHeader is the gateway's header matcher: of a REST request's
// headers only X-Request-Id becomes metadata (x-request-id, the id the
// service logs and returns, as a gRPC caller sends it). Authorization the
// gateway forwards by itself; the trace context is the REST face's own
// span's. The service reads no other header, and forwarding the gateway's
// default set (User-Agent, Accept… as grpcgateway-*) cost allocations on
// every call; no caller's header can become vendorgate- or trace metadata.
func incomingHeader(key string) (string, bool) {
	if strings.EqualFold(key, "X-Request-Id") {
		return requestIDKey, true
	}
	return "", false
}

// metadata is the gateway's runtime.WithMetadata: the trace context of
// the REST server span, for the gRPC server span to continue.
func (f *restFace) metadata(ctx context.Context, _ *http.Request) metadata.MD {
	md := metadata.MD{}
	f.injectTrace(ctx, md)
	return md
}

// forwarded is the gateway's forward-response option: it notes that the
// call reached gRPC.
func (f *restFace) forwarded(ctx context.Context, _ http.ResponseWriter, _ proto.Message) error {
	f.noteGRPC(ctx)
	return nil
}

// noteGRPC names the call's route from the gateway's.
func (f *restFace) noteGRPC(ctx context.Context) {
	c := callFrom(ctx)
	if c == nil {
		return
	}
	if c.route == "" {
		if p, ok := runtime.HTTPPathPattern(ctx); ok {
			if r, ok := runtime.RPCMethod(ctx); ok {
				if rt := f.routes.byRPC(r); rt != nil {
					c.route = rt.key()
				} else {
					c.route = p
				}
			}
		}
	}
}

// ServeHTTP serves one REST request through the gateway, counted and
// logged once: by account, unless a WrapREST handler's account already
// does.
func (f *restFace) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if callFrom(r.Context()) == nil {
		f.account("", http.HandlerFunc(f.serveGateway)).ServeHTTP(w, r)
		return
	}
	f.serveGateway(w, r)
}

// account is the one accounting path of every REST request, JSON,
// multipart upload, raw download or NDJSON stream: it gives the request its
// restCall, names its route (pattern when the route table has none) and,
// once h is done, counts it in vendorgate_rest_requests_total and logs it
// unless the service's access log did.
func (f *restFace) account(pattern string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		call := f.newCall(r)
		sw := &call.sw
		sw.ResponseWriter = w
		call.route = pattern
		call.escapedPath = r.URL.EscapedPath()
		call.matched, call.allowed = f.routes.match(r.Method, call.escapedPath)
		if call.matched != nil {
			call.route = call.matched.key()
		}
		r = r.WithContext(context.WithValue(r.Context(), restCallKey{}, call))
		defer f.finish(r, sw, call, start)
		h.ServeHTTP(sw, r)
	})
}

// serveGateway bounds and times a JSON body and passes the request to the
// gateway.
func (f *restFace) serveGateway(w http.ResponseWriter, r *http.Request) {
	if body, ok := r.Context().Value(timedBodyKey{}).(*timedBody); ok {
		// A WrapREST handler passed the request on: the body is ours.
		body.passed.Store(true)
	}
	// net/http reads the rest of a body the face answers without, before
	// it reuses or closes the connection; letGo bounds that wait.
	unread := hasBody(r)
	defer func() {
		if unread {
			letGo(w)
		}
	}()

	rt, allowed := f.match(r)
	if rt == nil && len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		f.writeError(w, r, methodNotAllowed(f.domain, r.Method, allowed))
		return
	}
	if hasBody(r) {
		if st := checkContentType(f.domain, r.Header.Get("Content-Type")); st != nil {
			f.writeError(w, r, st)
			return
		}
		limit := f.maxBody
		if l, ok := f.limits[rt]; ok {
			limit = l
		}
		body, st := f.readBody(w, r, limit)
		if st != nil {
			// The connection may still hold the rest of a body nobody
			// will read.
			w.Header().Set("Connection", "close")
			f.writeError(w, r, st)
			return
		}
		unread = false
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	if d, values, ok := f.shortcut(r, rt); ok {
		f.serveDirect(w, r, values, d)
		return
	}
	f.mux.ServeHTTP(w, r)
}

// match is the route table's match of r: account's, unless a handler
// between them changed r's method or path.
func (f *restFace) match(r *http.Request) (*route, []string) {
	path := r.URL.EscapedPath()
	if c := callFrom(r.Context()); c != nil && c.method == r.Method && c.escapedPath == path {
		return c.matched, c.allowed
	}
	return f.routes.match(r.Method, path)
}

// hasBody reports whether r may carry a body.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// checkContentType accepts JSON bodies, and bodies without a type or with
// curl -d's default form type, which are read as JSON too. Anything else,
// XML for one, is 415.
func checkContentType(domain, ct string) *status.Status {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || mt == "application/x-www-form-urlencoded" ||
		(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	return rpcstatus.Refused(codes.InvalidArgument, domain, rpcstatus.ReasonUnsupportedMediaType,
		fmt.Sprintf("unsupported content type %q: send the body as application/json", ct),
		map[string]string{"content_type": ct})
}

// readBody reads r's body whole, at most limit bytes and within the body
// read timeout. Reading it before the gateway does is what bounds memory:
// the gateway's JSON decoder holds the whole body anyway.
func (f *restFace) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *status.Status) {
	if r.ContentLength > limit {
		// Refused unread: the declared length says enough.
		return nil, rpcstatus.RequestTooLarge(f.domain, limit)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(f.readTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()

	body, err := readAtMost(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	if err == nil {
		return body, nil
	}
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge):
		return nil, rpcstatus.RequestTooLarge(f.domain, limit)
	case errors.As(err, &ne) && ne.Timeout():
		return nil, f.bodyTimedOut(int64(len(body)))
	default:
		return nil, rpcstatus.Refused(codes.InvalidArgument, f.domain, rpcstatus.ReasonBodyReadFailed,
			"the request body could not be read: "+err.Error(), nil)
	}
}

// readAtMost reads r to its end into one buffer sized from the declared
// length, or, for a body of unknown length, grown by doubling but never past
// limit+1 bytes, so that a body over the limit costs at most about twice
// the limit while it is read. On error it returns what it read.
func readAtMost(r io.Reader, declared, limit int64) ([]byte, error) {
	size := int64(32 << 10)
	if declared >= 0 {
		size = declared + 1 // +1 to see the EOF without growing
	}
	buf := make([]byte, 0, min(size, limit+1))
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*int64(cap(buf)), limit+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// clientAddress is the caller's address: the connection's peer, or, when
// that peer is a trusted proxy, the last address in X-Forwarded-For that is
// not one.
func (f *restFace) clientAddress(r *http.Request) string {
	peer := r.RemoteAddr
	ap, err := netip.ParseAddrPort(peer)
	if err != nil || !f.isTrusted(ap.Addr()) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.String()
		if !f.isTrusted(a) {
			break
		}
	}
	return client
}

func (f *restFace) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range f.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// finish counts the request and logs it unless the gRPC access log did.
func (f *restFace) finish(r *http.Request, sw *statusWriter, call *restCall, start time.Time) {
	code := sw.code
	if code == 0 {
		code = http.StatusOK
	}
	route := call.route
	if route == "" {
		route = "unmatched"
	}
	f.requests.Get(routeStatus{route, code}).Inc()
	if call.reachedRP.Load() {
		return
	}
	level := slog.LevelDebug
	switch {
	case code >= 500:
		level = slog.LevelError
	case code >= 400:
		level = slog.LevelInfo
	}
	ctx := r.Context()
	if !f.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("protocol", "rest"),
		slog.String("http.method", r.Method),
		slog.String("http.path", redactPath(r.URL.Path, f.secrets)),
		slog.String("http.route", route),
		slog.Int("http.status", code),
		slog.String("peer.address", call.client),
	}
	if call.st != nil {
		attrs = append(attrs, slog.String("grpc.code", call.st.Code().String()), slog.String("error", call.st.Message()))
		if ei := errorInfo(call.st); ei != nil {
			attrs = append(attrs, slog.String("reason", ei.GetReason()))
		}
	}
	attrs = append(attrs, slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	f.log.LogAttrs(ctx, level, "finished REST request", attrs...)
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets streamed responses through.
func (w *statusWriter) Flush() {
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

// httpStatus is the HTTP status of st: the gateway's mapping of its code,
// except for the reasons that have a status of their own.
func httpStatus(st *status.Status) int {
	if ei := errorInfo(st); ei != nil {
		switch ei.GetReason() {
		case rpcstatus.ReasonRequestTooLarge:
			return http.StatusRequestEntityTooLarge
		case rpcstatus.ReasonUnsupportedMediaType:
			return http.StatusUnsupportedMediaType
		case rpcstatus.ReasonMethodNotAllowed:
			return http.StatusMethodNotAllowed
		case rpcstatus.ReasonRequestTimeout:
			return http.StatusRequestTimeout
		}
	}
	return runtime.HTTPStatusFromCode(st.Code())
}

func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei
		}
	}
	return nil
}

// writeError writes st in the one REST error shape: the google.rpc.Status
// as JSON, {"code", "message", "details": [ErrorInfo, BadRequest...]}.
func (f *restFace) writeError(w http.ResponseWriter, r *http.Request, st *status.Status) {
	if c := callFrom(r.Context()); c != nil {
		c.st = st
	}
	body, err := f.marshaler.Marshal(st.Proto())
	if err != nil {
		body = []byte(`{"code": 13, "message": "failed to marshal error message"}`)
	}
	w.Header().Del("Trailer")
	w.Header().Del("Transfer-Encoding")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	code := httpStatus(st)
	setRetryAfter(w.Header(), code, st)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// setRetryAfter gives a 429 or 503 whose status carries a
// google.rpc.RetryInfo the Retry-After header HTTP clients and proxies
// read: whole seconds, rounded up, at least 1.
func setRetryAfter(h http.Header, code int, st *status.Status) {
	if code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
		return
	}
	for _, d := range st.Details() {
		ri, ok := d.(*errdetails.RetryInfo)
		if !ok || ri.GetRetryDelay() == nil {
			continue
		}
		delay := ri.GetRetryDelay().AsDuration()
		secs := max(1, int64((delay+time.Second-1)/time.Second))
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		return
	}
}

// gatewayError is the gateway's runtime.WithErrorHandler: every error of a
// matched route, raised by the gateway (a body it cannot decode) or by the
// service, is written in the one shape.
func (f *restFace) gatewayError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	f.noteGRPC(ctx)
	// The request id the service answered with, for the caller to quote,
	// as the gateway's own error handler forwards header metadata.
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		for _, id := range md.HeaderMD.Get(requestIDKey) {
			w.Header().Add(restRequestIDHeader, id)
		}
	}
	f.writeError(w, r, f.classify(ctx, err))
}

// restRequestIDHeader is the response header of a REST call's request id:
// the x-request-id header metadata, named as the gateway names the header
// metadata of a call that succeeded.
const restRequestIDHeader = runtime.MetadataHeaderPrefix + "X-Request-Id"

// classify turns a gateway error into a status with ErrorInfo, and with a
// snake_case BadRequest field for the decoding errors that name one.
func (f *restFace) classify(ctx context.Context, err error) *status.Status {
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		return rpcstatus.Refused(codes.InvalidArgument, f.domain, rpcstatus.ReasonMalformedBody,
			"invalid request path: "+hse.Err.Error(), nil)
	}
	st := status.Convert(err)
	if errorInfo(st) != nil {
		return st // the service's own error
	}
	if c := callFrom(ctx); c == nil || !c.reachedRP.Load() {
		if st.Code() == codes.InvalidArgument {
			var in *route
			if rpc, _ := runtime.RPCMethod(ctx); rpc != "" {
				in = f.routes.byRPC(rpc)
			} else if c != nil {
				// A direct call's context has no gateway RPC method.
				in = c.matched
			}
			return decodeError(f.domain, in, st.Message())
		}
	}
	return rpcstatus.FromError(err, f.domain)
}

// routingError is the gateway's runtime.WithRoutingErrorHandler: a path no
// route serves, or serves for other methods.
func (f *restFace) routingError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		_, allowed := f.routes.match(r.Method, r.URL.EscapedPath())
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
		}
		f.writeError(w, r, methodNotAllowed(f.domain, r.Method, allowed))
	case http.StatusNotFound:
		f.writeError(w, r, rpcstatus.Refused(codes.NotFound, f.domain, rpcstatus.ReasonRouteNotFound,
			fmt.Sprintf("no route serves %s %s", r.Method, r.URL.Path), nil))
	default:
		f.writeError(w, r, rpcstatus.Refused(codes.InvalidArgument, f.domain, rpcstatus.ReasonMalformedBody,
			http.StatusText(httpStatus), nil))
	}
}

func methodNotAllowed(domain, method string, allowed []string) *status.Status {
	return rpcstatus.Refused(codes.Unimplemented, domain, rpcstatus.ReasonMethodNotAllowed,
		fmt.Sprintf("method %s is not allowed here; allowed: %s", method, strings.Join(allowed, ", ")),
		map[string]string{"allow": strings.Join(allowed, ",")})
}

// jsonMarshaler is the JSON the REST face speaks: snake_case field names out,
// either form in, unknown fields refused.
func jsonMarshaler() restJSON {
	return restJSON{&runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}}
}

// restJSON is the gateway's JSONPb, but Marshal returns protojson's
// encoding of a message as it is: JSONPb.Marshal writes it into a
// bytes.Buffer and returns the buffer's copy, a second allocation of every
// REST answer (776 of a REST GetOrder's 35,300 bytes).
type restJSON struct{ *runtime.JSONPb }

// Marshal implements runtime.Marshaler. A message is encoded into a
// buffer of the size its type's last encoding had: protojson grows its
// own from nothing, allocating about three times the answer's size.
func (j restJSON) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return j.JSONPb.Marshal(v)
	}
	name := m.ProtoReflect().Descriptor().FullName()
	hint := 0
	if last, ok := jsonSizes.Load(name); ok {
		hint = last.(int)
	}
	b, err := j.MarshalOptions.MarshalAppend(make([]byte, 0, hint+hint/8), m)
	if err == nil && len(b) != hint {
		jsonSizes.Store(name, len(b))
	}
	return b, err
}

// jsonSizes is the size of each message type's last JSON encoding, by
// full name: a bounded set, the messages the services answer with.
var jsonSizes sync.Map

// WriteError writes st in the REST face's error shape (a google.rpc.Status
// in snake_case JSON) with its HTTP status, for the handlers of
// Options.WrapREST and Options.ExtraHTTP that answer a request themselves.
func WriteError(w http.ResponseWriter, st *status.Status) {
	body, err := jsonMarshaler().Marshal(st.Proto())
	if err != nil {
		body = []byte(`{"code": 13, "message": "failed to marshal error message"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	code := httpStatus(st)
	setRetryAfter(w.Header(), code, st)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
