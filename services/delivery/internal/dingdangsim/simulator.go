// Package dingdangsim is a stateful, in-repo simulator of the 叮叮聚合配送
// (Dingdang aggregated delivery) API as it is reached through the cloud-market
// API gateway. Tests talk to it over real HTTP; the delivery service runs it
// in-process in sandbox mode.
//
// It reproduces what the vendor document shows: parameters read from request
// headers (createOrder splits them between headers and a form body), the
// {"msg","code","result"} envelope served as text/html, the type drift of the
// response samples, and the Chinese failure messages. What the document does
// not publish (the full order_status mapping, the callback body) is the
// simulator's own choice, documented where it is made.
package dingdangsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
)

// The API paths the simulator serves. A "/release" prefix (the stage in the
// vendor's base URL) is accepted as well.
const (
	PathOrderList    = "/open/order/list"
	PathReason       = "/open/order/Reason"
	PathOrderRecord  = "/open/order/orderRecord"
	PathOrderCancel  = "/open/order/orderCancel"
	PathCreateOrder  = "/open/order/createOrder"
	PathGetToken     = "/open/token/getToken"
	PathGetShopInfo  = "/open/shop/getShopInfo"
	PathCreateUpdate = "/open/shop/createUpdateN"
)

// stagePrefix is the API-gateway stage that the vendor's base URL ends with.
const stagePrefix = "/release"

// Bounds that keep a long-running sandbox simulator from growing without limit.
const (
	maxOrders          = 10000   // beyond this the oldest finished/cancelled order is forgotten
	maxShops           = 10000   // beyond this createUpdateN refuses new users
	maxCallbackLog     = 1000    // Callbacks keeps the most recent ones
	maxWorkers         = 16      // concurrent callback deliveries
	maxQueuedCallbacks = 10000   // waiting callbacks; more are recorded as dropped
	maxFaultQueue      = 1024    // queued injections per path
	maxBodyBytes       = 1 << 20 // request form bodies
	defaultStep        = 30 * time.Second
	defaultCBTimeout   = 5 * time.Second
)

// Options configures a Simulator.
type Options struct {
	// Keys maps the cloud-market secret ids the gateway accepts to their secret keys.
	Keys map[string]string
	// Now is the clock of the simulator and its gateway; nil means time.Now.
	Now func() time.Time
	// StatusStep is the time between status advances of an order; 0 means 30s.
	StatusStep time.Duration
	// HTTPClient posts status callbacks; nil means a client with a 5s timeout.
	HTTPClient *http.Client
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// LoseReplyPrefix, when set, makes every createOrder of an origin_id
	// with this prefix (e.g. "LOST-") dispatch the order and lose the reply
	// (a gateway 502): the sandbox's way to show an unknown outcome.
	LoseReplyPrefix string
}

// Fault replaces or delays the answer to one request. It is applied inside
// the gateway, after the signature check.
type Fault struct {
	// Status is the HTTP status to answer with (e.g. 502, 429); 0 means 200.
	Status int
	// Body is the body to answer with (e.g. "<html>bad gateway</html>").
	Body string
	// ContentType is the answer's Content-Type; "" means "text/html; charset=UTF-8".
	ContentType string
	// Delay is slept before answering; the request's cancellation ends it early,
	// and then nothing is answered (and, unless AfterHandling, nothing is done).
	// A Fault with only Delay (and AfterHandling) set delays the real answer
	// instead of replacing it; set Status to 200 for an empty 200 answer.
	Delay time.Duration
	// AfterHandling handles the request normally first (its state changes
	// happen) and then answers with the fault: a response lost after the
	// vendor acted.
	AfterHandling bool

	// arrived, when set, is closed once the request has arrived; hold, when
	// set, keeps it waiting until hold is closed (see Hold).
	arrived chan struct{}
	hold    <-chan struct{}
}

// delayOnly reports whether f only slows the real answer down.
func (f Fault) delayOnly() bool {
	return f.Status == 0 && f.Body == "" && f.ContentType == ""
}

// Callback is one status push the simulator posted to an order's callback URL.
type Callback struct {
	// URL is the order's callback URL.
	URL string
	// Form is the form body that was posted.
	Form url.Values
	// Status is the receiver's HTTP status; 0 when the post failed.
	Status int
	// Err is the transport error, "" when the receiver answered.
	Err string
}

// Simulator is the simulated Dingdang API. It is safe for concurrent use.
type Simulator struct {
	now       func() time.Time
	step      time.Duration
	client    *http.Client
	cbTimeout time.Duration
	log       *slog.Logger
	handler   http.Handler
	routes    map[string]route
	losePfx   string

	mu          sync.Mutex
	orders      map[string]*order // by origin_id
	orderIDs    []string          // origin_ids in creation order
	shops       map[string]*shop  // by per_userid
	shopCodes   map[string]string // shop code (shop_no) → per_userid
	seq         int64             // numbers orders
	lastShopID  int
	faults      map[string][]Fault
	calls       map[string]int
	callbacks   []Callback
	queue       []pendingCallback // callbacks waiting for a worker
	queuedForms int
	workers     int
	idle        chan struct{} // closed while no callback worker runs
}

// route handles one endpoint: it reads the request, changes state and
// returns the answer, which the caller writes (or replaces with a fault).
type route func(r *http.Request) response

// New returns a simulator with no orders and no shops.
func New(opts Options) *Simulator {
	s := &Simulator{
		now:       opts.Now,
		step:      opts.StatusStep,
		client:    opts.HTTPClient,
		log:       opts.Logger,
		losePfx:   opts.LoseReplyPrefix,
		orders:    make(map[string]*order),
		shops:     make(map[string]*shop),
		shopCodes: make(map[string]string),
		faults:    make(map[string][]Fault),
		calls:     make(map[string]int),
		idle:      make(chan struct{}),
	}
	close(s.idle)
	if s.now == nil {
		s.now = time.Now
	}
	if s.step <= 0 {
		s.step = defaultStep
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: defaultCBTimeout}
	}
	s.cbTimeout = s.client.Timeout
	if s.cbTimeout <= 0 {
		s.cbTimeout = defaultCBTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.routes = map[string]route{
		PathOrderList:    s.orderList,
		PathReason:       s.reason,
		PathOrderRecord:  s.orderRecord,
		PathOrderCancel:  s.orderCancel,
		PathCreateOrder:  s.createOrder,
		PathGetToken:     s.getToken,
		PathGetShopInfo:  s.getShopInfo,
		PathCreateUpdate: s.createUpdate,
	}
	gw := &cloudmarket.Gateway{Keys: maps.Clone(opts.Keys), Now: s.now}
	s.handler = gw.Wrap(http.HandlerFunc(s.serve))
	return s
}

// Handler returns the API behind the cloud-market gateway check.
func (s *Simulator) Handler() http.Handler { return s.handler }

// Inject makes the next call to path (e.g. "/open/order/createOrder") answer
// with f, once. Several injections for one path are used in order.
func (s *Simulator) Inject(path string, f Fault) {
	path = canonicalPath(path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults[path]) >= maxFaultQueue {
		s.log.Warn("dingdangsim: fault queue full, injection ignored", "path", path)
		return
	}
	s.faults[path] = append(s.faults[path], f)
}

// Hold makes the next call to path wait, once it has arrived and before it
// is handled, until release is called; a caller that leaves meanwhile gets
// nothing, and nothing is done. entered is closed when the call arrives.
// release may be called more than once.
func (s *Simulator) Hold(path string) (entered <-chan struct{}, release func()) {
	arrived, hold := make(chan struct{}), make(chan struct{})
	s.Inject(path, Fault{arrived: arrived, hold: hold})
	var once sync.Once
	return arrived, func() { once.Do(func() { close(hold) }) }
}

// Calls returns how many requests reached path after the gateway check.
func (s *Simulator) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[canonicalPath(path)]
}

// Callbacks returns the status callbacks posted so far, oldest first (at most
// the most recent 1000).
func (s *Simulator) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Callback, len(s.callbacks))
	for i, c := range s.callbacks {
		c.Form = cloneValues(c.Form)
		out[i] = c
	}
	return out
}

func canonicalPath(p string) string {
	if rest, ok := strings.CutPrefix(p, stagePrefix); ok && strings.HasPrefix(rest, "/") {
		return rest
	}
	return p
}

func (s *Simulator) serve(w http.ResponseWriter, r *http.Request) {
	path := canonicalPath(r.URL.Path)
	h, ok := s.routes[path]
	if !ok {
		writeGatewayError(w, http.StatusNotFound, "There is no api match the request path")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeGatewayError(w, http.StatusMethodNotAllowed, "The request method is not allowed")
		return
	}
	// Reading the whole body first also lets the server notice a client that
	// hangs up, so a fault's Delay ends with the request's context.
	if r.Body == nil { // possible when the handler is called in-process
		r.Body = http.NoBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeGatewayError(w, http.StatusRequestEntityTooLarge, "Request body too large or unreadable")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.advance()
	fault, faulted := s.arrive(path)
	if fault.arrived != nil {
		close(fault.arrived)
	}
	if fault.hold != nil {
		select {
		case <-fault.hold:
		case <-r.Context().Done():
			s.log.Debug("dingdangsim: caller gone while held", "path", path)
			return
		}
	}
	if faulted && !fault.AfterHandling {
		if !sleep(r.Context(), fault.Delay) {
			s.log.Debug("dingdangsim: caller gone during fault delay", "path", path)
			return
		}
		if !fault.delayOnly() {
			s.writeFault(w, path, fault)
			return
		}
	}
	resp := h(r)
	s.log.Debug("dingdangsim: handled", "path", path, "code", resp.env.Code, "msg", resp.env.Msg)
	if path == PathCreateOrder && s.losePfx != "" && resp.env.Code == 1 && strings.HasPrefix(r.PostForm.Get("origin_id"), s.losePfx) {
		s.writeFault(w, path, Fault{Status: http.StatusBadGateway, Body: "<html>502 Bad Gateway</html>"})
		return
	}
	if faulted && fault.AfterHandling {
		if !sleep(r.Context(), fault.Delay) {
			s.log.Debug("dingdangsim: caller gone after handling", "path", path)
			return
		}
		if !fault.delayOnly() {
			s.writeFault(w, path, fault)
			return
		}
	}
	resp.write(w)
}

// arrive counts a request to path and takes the next injected fault, if any.
func (s *Simulator) arrive(path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[path]++
	q := s.faults[path]
	if len(q) == 0 {
		return Fault{}, false
	}
	f := q[0]
	if len(q) == 1 {
		delete(s.faults, path)
	} else {
		s.faults[path] = q[1:]
	}
	return f, true
}

func (s *Simulator) writeFault(w http.ResponseWriter, path string, f Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	ct := f.ContentType
	if ct == "" {
		ct = contentTypeHTML
	}
	s.log.Debug("dingdangsim: injected fault", "path", path, "status", status)
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(f.Body))
}

// sleep waits d or until ctx ends; it reports whether the full d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// writeGatewayError answers like the API gateway does for requests it cannot route.
func writeGatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
