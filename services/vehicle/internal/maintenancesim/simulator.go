// Package maintenancesim is an in-repo simulator of the vehicle
// maintenance-record API (车辆维修保养记录) as it is reached through the
// cloud-market API gateway. Tests talk to it over real HTTP; the vehicle
// service runs it in-process in sandbox mode.
//
// It answers with the vendor document's own response samples (samples/),
// so the drift between them reaches the client unchanged: resultCode is the
// number 1200 in a purchase and the string "1205" in a report. What the
// document does not show is the simulator's own choice, said where it is
// made: the answer while a report is being prepared, and the answer for an
// order id it never sold.
package maintenancesim

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
)

// The API paths the simulator serves. A "/release" prefix (the stage in the
// vendor's base URL) is accepted as well.
const (
	PathOrder  = "/maintenance/order"
	PathReport = "/maintenance_report/get"
)

const stagePrefix = "/release"

// SampleVIN is a well-formed 17-character VIN that fits the masked VIN of
// the document's report sample ("SA******02383"). The simulator knows it.
const SampleVIN = "SALWA2FK7EA402383"

// LostReplyVIN is a VIN whose purchases the simulator sells and then
// loses the answer to (a gateway 502), for trying the operator flow in the
// sandbox. The n-th such order's id is LostOrderID(n), as the vendor's
// console would show it to an operator; its report has records.
const LostReplyVIN = "LFV2A21K6A3100999"

// LostOrderID is the vendor's order id of the n-th purchase (from 1) of
// LostReplyVIN.
func LostOrderID(n int) string { return fmt.Sprintf("sandbox-lost-order-%d", n) }

// DocVIN is the VIN of the document's request samples exactly as printed
// there. It has 16 characters, so the vehicle service rejects it before
// calling the vendor; the simulator knows it all the same.
const DocVIN = "SBL666666BM9D933"

// sampleOrderID and sampleMaskedVIN are the values the simulator replaces
// in the samples.
const (
	sampleOrderID   = `"e192e8de8e6660****46f41b"`
	sampleMaskedVIN = `"SA******02383"`
)

//go:embed samples/*.json
var samples embed.FS

// The vendor document's response samples, by name.
const (
	// SampleOrderBought is maintenance/order's success (resultCode the number 1200).
	SampleOrderBought = "order_bought"
	// SampleOrderMissingVIN is maintenance/order's failure (code 20704).
	SampleOrderMissingVIN = "order_missing_vin"
	// SampleReportReady is maintenance_report/get's ready report (resultCode "1205").
	SampleReportReady = "report_ready"
	// SampleReportNoRecords is maintenance_report/get's "no records" ("1206").
	SampleReportNoRecords = "report_no_records"
)

// Sample returns a response sample of the vendor document exactly as
// printed there, by name (SampleOrderBought…); nil for an unknown name.
func Sample(name string) []byte {
	b, err := samples.ReadFile("samples/" + name + ".json")
	if err != nil {
		return nil
	}
	return b
}

// Answers the document has no sample for, written like its samples.
const (
	// bodyOrderMissing is 20804 from the report's code table.
	bodyOrderMissing = `{"code":"20804","message":"订单号不能为空","result":{}}`
	// bodyPending is the simulator's choice: the document shows no answer
	// for a report still being prepared, only that other result codes mean
	// "not ready yet".
	bodyPending = `{"code":"0","message":"成功","data":{"result":"3","description":"查询成功,报告生成中","detail":{"resultCode":"1204","resultMsg":"报告生成中"}}}`
	// bodyUnknownOrder is the simulator's choice for an order id it never
	// sold: the code table's -1.
	bodyUnknownOrder = `{"code":"-1","message":"订单不存在","result":{}}`
	// contentType is what the gateway labels the JSON with (返回类型:HTML).
	contentType = "text/html; charset=UTF-8"
)

// Options configures a Simulator.
type Options struct {
	// Keys maps the cloud-market secret ids the gateway accepts to their
	// secret keys.
	Keys map[string]string
	// ReadyAfter is how long after its purchase a report becomes ready; 0
	// makes it ready at once.
	ReadyAfter time.Duration
	// OrderLatency is how long a purchase takes to answer, after it is
	// sold; 0 answers at once. Tests widen races with it.
	OrderLatency time.Duration
	// Now is the clock of the simulator and its gateway; nil means time.Now.
	Now func() time.Time
}

// Fault replaces the answer to one request, after the signature check.
type Fault struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Code and Message, when Code is set, answer with a vendor refusal
	// {"code":Code,"message":Message,"result":{}}, e.g. Code "-1".
	Code, Message string
	// Body is the raw answer when Code is empty, e.g. "<html>bad gateway</html>".
	Body string
	// AfterHandling serves the request first (a purchase is sold and
	// counted) and then answers with the fault: the vendor acted and its
	// answer was lost.
	AfterHandling bool
}

// Simulator is the simulated maintenance-record API. It is safe for
// concurrent use.
type Simulator struct {
	opts    Options
	handler http.Handler

	mu        sync.Mutex
	known     map[string]bool    // VINs that have records
	orders    map[string]order   // by order id
	faults    map[string][]Fault // by path, each used once
	holds     map[string][]hold  // by path, each used once
	purchases int
	lost      int // purchases of LostReplyVIN
	calls     int
	callsTo   map[string]int // by path
}

// hold keeps one request waiting until release is closed.
type hold struct {
	entered, release chan struct{}
}

type order struct {
	vin     string
	readyAt time.Time
}

// New returns a simulator that knows SampleVIN and DocVIN and has sold nothing.
func New(opts Options) *Simulator {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Simulator{
		opts:    opts,
		known:   map[string]bool{SampleVIN: true, DocVIN: true, LostReplyVIN: true},
		orders:  make(map[string]order),
		faults:  make(map[string][]Fault),
		holds:   make(map[string][]hold),
		callsTo: make(map[string]int),
	}
	mux := http.NewServeMux()
	for _, prefix := range []string{"", stagePrefix} {
		mux.HandleFunc("GET "+prefix+PathOrder, s.serveOrder)
		mux.HandleFunc("GET "+prefix+PathReport, s.serveReport)
	}
	gw := &cloudmarket.Gateway{Keys: opts.Keys, Now: opts.Now}
	s.handler = gw.Wrap(s.faulty(mux))
	return s
}

// Handler returns the API behind the cloud-market signature check.
func (s *Simulator) Handler() http.Handler { return s.handler }

// AddVIN makes vin known: its reports have records (the document's sample
// report, with the VIN's own mask).
func (s *Simulator) AddVIN(vin string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known[vin] = true
}

// Inject queues f as the answer to the next request for path (PathOrder or
// PathReport); faults queued for one path are used in order, once each.
func (s *Simulator) Inject(path string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], f)
}

// Hold makes the next request for path (PathOrder or PathReport) wait,
// after the signature check and before it is served, until release is
// called; entered is closed once the request is waiting. Tests keep a
// purchase in flight with it.
func (s *Simulator) Hold(path string) (entered <-chan struct{}, release func()) {
	h := hold{entered: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	s.holds[path] = append(s.holds[path], h)
	s.mu.Unlock()
	return h.entered, sync.OnceFunc(func() { close(h.release) })
}

// Purchases returns how many reports the simulator has sold.
func (s *Simulator) Purchases() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.purchases
}

// OrdersFor returns the ids of the orders sold for vin, as the vendor's own
// order list would show them to an operator.
func (s *Simulator) OrdersFor(vin string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, o := range s.orders {
		if o.vin == vin {
			ids = append(ids, id)
		}
	}
	return ids
}

// Calls returns how many requests passed the signature check.
func (s *Simulator) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// CallsTo returns how many requests for path (PathOrder or PathReport)
// passed the signature check, faults included: the vendor's own count of
// the calls it would bill.
func (s *Simulator) CallsTo(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsTo[path]
}

// faulty counts calls and answers with a queued fault instead of next.
func (s *Simulator) faulty(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, stagePrefix)
		s.mu.Lock()
		s.calls++
		s.callsTo[path]++
		var held *hold
		if q := s.holds[path]; len(q) > 0 {
			held, s.holds[path] = &q[0], q[1:]
		}
		s.mu.Unlock()
		if held != nil {
			close(held.entered)
			select {
			case <-held.release:
			case <-r.Context().Done():
			}
		}
		s.mu.Lock()
		f, ok := s.nextFault(path)
		s.mu.Unlock()
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if f.AfterHandling {
			next.ServeHTTP(httptest.NewRecorder(), r)
		}
		body := []byte(f.Body)
		if f.Code != "" {
			body, _ = json.Marshal(map[string]any{"code": f.Code, "message": f.Message, "result": struct{}{}})
		}
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		write(w, status, body)
	})
}

// nextFault pops path's next fault; s.mu must be held.
func (s *Simulator) nextFault(path string) (Fault, bool) {
	q := s.faults[path]
	if len(q) == 0 {
		return Fault{}, false
	}
	s.faults[path] = q[1:]
	return q[0], true
}

func (s *Simulator) serveOrder(w http.ResponseWriter, r *http.Request) {
	vin := strings.TrimSpace(r.URL.Query().Get("vin"))
	if vin == "" {
		write(w, http.StatusOK, Sample(SampleOrderMissingVIN))
		return
	}
	id := newOrderID()
	s.mu.Lock()
	lost := vin == LostReplyVIN
	if lost {
		s.lost++
		id = LostOrderID(s.lost)
	}
	s.orders[id] = order{vin: vin, readyAt: s.opts.Now().Add(s.opts.ReadyAfter)}
	s.purchases++
	s.mu.Unlock()
	if lost {
		write(w, http.StatusBadGateway, []byte("<html>502 Bad Gateway</html>"))
		return
	}
	if s.opts.OrderLatency > 0 {
		select {
		case <-time.After(s.opts.OrderLatency):
		case <-r.Context().Done():
		}
	}
	write(w, http.StatusOK, bytes.Replace(Sample(SampleOrderBought), []byte(sampleOrderID), []byte(`"`+id+`"`), 1))
}

func (s *Simulator) serveReport(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSpace(r.URL.Query().Get("order_id"))
	if id == "" {
		write(w, http.StatusOK, []byte(bodyOrderMissing))
		return
	}
	s.mu.Lock()
	o, sold := s.orders[id]
	known := s.known[o.vin]
	now := s.opts.Now()
	s.mu.Unlock()
	switch {
	case !sold:
		write(w, http.StatusOK, []byte(bodyUnknownOrder))
	case now.Before(o.readyAt):
		write(w, http.StatusOK, []byte(bodyPending))
	case known:
		write(w, http.StatusOK, bytes.Replace(Sample(SampleReportReady), []byte(sampleMaskedVIN), []byte(`"`+mask(o.vin)+`"`), 1))
	default:
		write(w, http.StatusOK, Sample(SampleReportNoRecords))
	}
}

// mask prints a VIN the way the report sample does: the first two and the
// last five characters, six stars between.
func mask(vin string) string {
	if len(vin) <= 7 {
		return vin
	}
	return vin[:2] + "******" + vin[len(vin)-5:]
}

func newOrderID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func write(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
