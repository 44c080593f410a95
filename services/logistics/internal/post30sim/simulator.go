// Package post30sim simulates 30post.cn's billing API over real HTTP for
// tests and SANDBOX=1. It verifies the MD5 sign and the timer's expiry the
// way the vendor documents them, keeps a balance per account, and can be
// told to delay its replies or to drop a reply after applying the change
// (the lost reply that makes a money movement's outcome unknown).
package post30sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vendorgate/vendorgate/services/logistics/internal/post30"
)

// DropPhone is the sandbox's trigger: a recharge or deduction for this
// phone is applied and its reply is dropped (the connection closes without
// an answer).
const DropPhone = "+61400000999"

// Options configure a Simulator.
type Options struct {
	// Keys maps each access key to its secret key.
	Keys map[string]string
	// Location is the zone the timer is read in; nil means UTC.
	Location *time.Location
	// SignEncoding is the encoding the simulated server checks signatures
	// in: "" (or post30.SignUTF8) for UTF-8, post30.SignGBK for a server
	// whose Encoding.Default is GBK.
	SignEncoding post30.SignEncoding
	// Delay holds every reply back this long.
	Delay time.Duration
	// Drop, when it returns true for a call's data, applies the change and
	// drops the reply. nil drops the calls for DropPhone.
	Drop func(path string, data map[string]any) bool
	// Applied, when set, learns of every call applied, before its reply is
	// written (a test breaks the service's store there).
	Applied func(path string, data map[string]any)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Simulator is a 30post simulator. It is safe for concurrent use.
type Simulator struct {
	opts     Options
	calls    atomic.Int64
	dropNext atomic.Bool

	holdMu sync.Mutex
	hold   *hold

	mu       sync.Mutex
	received map[string]int64 // path → requests, whatever their fate
	balances map[string]int64 // account → fen
	closed   map[string]bool  // batch names
}

// New returns a Simulator.
func New(opts Options) *Simulator {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SignEncoding == "" {
		opts.SignEncoding = post30.SignUTF8
	}
	if opts.Drop == nil {
		opts.Drop = func(_ string, data map[string]any) bool { return data["Telephone"] == DropPhone }
	}
	return &Simulator{opts: opts, received: map[string]int64{}, balances: map[string]int64{}, closed: map[string]bool{}}
}

// hold is a call held until released.
type hold struct {
	entered chan struct{}
	release chan struct{}
}

// DropNext makes the next signed call apply and lose its reply.
func (s *Simulator) DropNext() { s.dropNext.Store(true) }

// HoldNext makes the next signed call wait, before it is applied, until
// release is called; entered is closed once the call arrived.
func (s *Simulator) HoldNext() (entered <-chan struct{}, release func()) {
	h := &hold{entered: make(chan struct{}), release: make(chan struct{})}
	s.holdMu.Lock()
	s.hold = h
	s.holdMu.Unlock()
	var once sync.Once
	return h.entered, func() { once.Do(func() { close(h.release) }) }
}

// takeHold returns the pending hold, if any, and clears it.
func (s *Simulator) takeHold() *hold {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	h := s.hold
	s.hold = nil
	return h
}

// Calls returns how many signed calls arrived.
func (s *Simulator) Calls() int64 { return s.calls.Load() }

// Received returns how many HTTP requests arrived at path (e.g.
// post30.DefaultRechargePath), signed or not: what the vendor would count.
func (s *Simulator) Received(path string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[path]
}

// Balance returns an account's balance in fen; the account is named by
// phone and e-mail as the calls name it.
func (s *Simulator) Balance(phone, email string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.balances[account(phone, email)]
}

// SetBalance sets an account's balance in fen.
func (s *Simulator) SetBalance(phone, email string, fen int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balances[account(phone, email)] = fen
}

func account(phone, email string) string { return phone + "|" + strings.ToLower(email) }

// Handler serves the default paths.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+post30.DefaultRechargePath, s.handle(s.recharge))
	mux.HandleFunc("POST "+post30.DefaultDeductPath, s.handle(s.deduct))
	mux.HandleFunc("POST "+post30.DefaultCloseBatchPath, s.handle(s.closeBatch))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.received[r.URL.Path]++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

type result struct {
	Success   int    `json:"success"`
	Message   string `json:"message,omitempty"`
	ExpressNo string `json:"Expressno,omitempty"`
}

func refuse(msg string) result { return result{Success: 0, Message: msg} }

// handle verifies the form, runs apply and replies, late or never as told.
func (s *Simulator) handle(apply func(data map[string]any) result) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, data := s.verify(r)
		if res == nil {
			s.calls.Add(1)
			if h := s.takeHold(); h != nil {
				close(h.entered)
				select {
				case <-h.release:
				case <-r.Context().Done():
					return
				}
			}
			out := apply(data)
			res = &out
			if s.opts.Applied != nil {
				s.opts.Applied(r.URL.Path, data)
			}
			if s.dropNext.CompareAndSwap(true, false) || s.opts.Drop(r.URL.Path, data) {
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					_ = conn.Close()
				}
				return
			}
		}
		if s.opts.Delay > 0 {
			select {
			case <-time.After(s.opts.Delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	}
}

// verify checks the signature and the timer as the vendor does; a nil
// result means the call may proceed with data.
func (s *Simulator) verify(r *http.Request) (*result, map[string]any) {
	if err := r.ParseForm(); err != nil {
		out := refuse("参数错误")
		return &out, nil
	}
	ak, timer, sign := r.PostForm.Get("external_company"), r.PostForm.Get("timer"), r.PostForm.Get("sign")
	sk, ok := s.opts.Keys[ak]
	if !ok {
		out := refuse("external_company 不存在")
		return &out, nil
	}
	want, err := post30.Signature(r.PostForm, timer, sk, s.opts.SignEncoding)
	if err != nil || want != strings.ToLower(sign) {
		out := refuse("签名错误")
		return &out, nil
	}
	exp, err := time.ParseInLocation(post30.TimerLayout, timer, s.opts.Location)
	if err != nil || !s.opts.Now().Before(exp) {
		out := refuse("签名已过期")
		return &out, nil
	}
	var data map[string]any
	dec := json.NewDecoder(strings.NewReader(r.PostForm.Get("data")))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		out := refuse("data 格式错误")
		return &out, nil
	}
	return nil, data
}

// fen parses a decimal amount with at most 2 decimals into fen.
func fen(v any) (int64, error) {
	s := fmt.Sprint(v)
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, fmt.Errorf("too many decimals in %q", s)
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || w < 0 {
		return 0, fmt.Errorf("bad amount %q", s)
	}
	return w*100 + f, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// accountOf checks Type against the fields it requires.
func accountOf(data map[string]any) (string, bool) {
	phone, email := str(data["Telephone"]), str(data["E_mail"])
	switch fmt.Sprint(data["Type"]) {
	case "1":
		return account(phone, ""), phone != "" && email == ""
	case "2":
		return account("", email), email != "" && phone == ""
	case "3":
		return account(phone, email), phone != "" && email != ""
	}
	return "", false
}

func (s *Simulator) recharge(data map[string]any) result {
	acct, ok := accountOf(data)
	if !ok {
		return refuse("Type 与账户不符")
	}
	amount, err := fen(data["RechargeTotal"])
	if err != nil || amount <= 0 {
		return refuse("金额不合法")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balances[acct] += amount
	return result{Success: 1}
}

func (s *Simulator) deduct(data map[string]any) result {
	acct, ok := accountOf(data)
	if !ok {
		return refuse("Type 与账户不符")
	}
	amount, err := fen(data["DeductionsTotal"])
	if err != nil || amount <= 0 {
		return refuse("金额不合法")
	}
	expressNo := str(data["Expressno"])
	if expressNo == "" {
		return refuse("Expressno 不能为空")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.balances[acct] < amount {
		return result{Success: 0, Message: "余额不足", ExpressNo: expressNo}
	}
	s.balances[acct] -= amount
	return result{Success: 1, ExpressNo: expressNo}
}

func (s *Simulator) closeBatch(data map[string]any) result {
	name := str(data["batch_name"])
	if name == "" {
		return refuse("batch_name 不能为空")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed[name] {
		return refuse("批次已关闭")
	}
	s.closed[name] = true
	return result{Success: 1, Message: "ok"}
}
