// Package damaijiasim simulates damaijia168 over real HTTP for tests and
// SANDBOX=1: login with tokens that expire, warehouses and their goods,
// orders and their packages (which ship after a delay), a balance that
// each order draws on, and the vendor's status codes: 200 for a token it
// does not know, 160 when called too fast, 209 when the balance runs out,
// 234 for a repeated site_order_id, 213 when cancelling a shipped package,
// 422 for a missing field. Tests can make each login revoke the older
// tokens (Options.RevokeOnLogin) and expire every token on demand
// (ExpireTokens).
package damaijiasim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Simulator.
type Options struct {
	// AppID and AppSecret are the credentials user_login accepts.
	AppID, AppSecret string
	// TokenTTL is how long a token is accepted; 0 means an hour.
	TokenTTL time.Duration
	// ShipAfter is how long after its order a package ships; 0 means a minute.
	ShipAfter time.Duration
	// MinInterval, when positive, answers 160 to a call that comes sooner
	// than this after the previous one with the same token.
	MinInterval time.Duration
	// Balance is the account's balance in fen; each parcel costs its
	// product's price. 0 means ¥10000.
	Balance int64
	// RevokeOnLogin makes each login revoke every token issued before it,
	// as a vendor that allows one live token per app does.
	RevokeOnLogin bool
	// TimeFormat is how package_get_list sends create_time: TimeUnix
	// (the default), TimeUnixMillis, TimeText ("2026-12-06 12:19:24",
	// China time), or TimeDrifted (a value no decoder can read, for
	// tests).
	TimeFormat TimeFormat
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TimeFormat is a form of damaijia's times.
type TimeFormat string

// The time forms.
const (
	TimeUnix       TimeFormat = ""
	TimeUnixMillis TimeFormat = "ms"
	TimeText       TimeFormat = "text"
	TimeDrifted    TimeFormat = "drifted"
)

// timeValue is t as the simulator is told to send it.
func (s *Simulator) timeValue(t time.Time) any {
	switch s.opts.TimeFormat {
	case TimeUnixMillis:
		return strconv.FormatInt(t.UnixMilli(), 10)
	case TimeText:
		return t.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05")
	case TimeDrifted:
		return "yesterday afternoon"
	}
	return t.Unix()
}

// Product is a simulated good.
type Product struct {
	ID, Name string
	// PriceFen is the price of one in fen.
	PriceFen int64
	Weight   string
}

// Warehouse is a simulated warehouse.
type Warehouse struct {
	ID, ExpressName string
	BlockedRegions  []string
	Products        []Product
}

// SampleWarehouses are the warehouses a new Simulator holds.
func SampleWarehouses() []Warehouse {
	var ps []Product
	for i := 1; i <= 25; i++ {
		ps = append(ps, Product{ID: fmt.Sprintf("P%03d", i), Name: fmt.Sprintf("礼品%d号", i), PriceFen: int64(100 * i), Weight: "0.10"})
	}
	return []Warehouse{
		{ID: "1", ExpressName: "圆通快递", BlockedRegions: []string{"西藏", "新疆"}, Products: ps},
		{ID: "2", ExpressName: "韵达快递", Products: ps[:3]},
	}
}

type pkg struct {
	packageSN, orderSN, siteOrderID string
	consignee, mobile               string
	created                         time.Time
	cancelled                       bool
}

type order struct {
	orderSN, siteOrderID string
	created              time.Time
}

// Simulator is a damaijia168 simulator. It is safe for concurrent use.
type Simulator struct {
	opts    Options
	logins  atomic.Int64
	creates atomic.Int64
	cancels atomic.Int64

	mu         sync.Mutex
	received   map[string]int64     // path → requests, whatever their fate
	tokens     map[string]time.Time // token → expiry
	issued     []string             // every token ever issued
	lastCall   map[string]time.Time // token → previous call
	warehouses []Warehouse
	orders     map[string]*order // by site_order_id
	packages   []*pkg
	balance    int64
	seq        int
}

// New returns a Simulator holding SampleWarehouses.
func New(opts Options) *Simulator {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.ShipAfter <= 0 {
		opts.ShipAfter = time.Minute
	}
	if opts.Balance == 0 {
		opts.Balance = 1_000_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Simulator{opts: opts, tokens: map[string]time.Time{}, lastCall: map[string]time.Time{}, received: map[string]int64{},
		warehouses: SampleWarehouses(), orders: map[string]*order{}, balance: opts.Balance}
}

// Logins returns how many logins succeeded.
func (s *Simulator) Logins() int64 { return s.logins.Load() }

// Creates returns how many order_create calls reached the order logic
// with a valid token, accepted or refused.
func (s *Simulator) Creates() int64 { return s.creates.Load() }

// Cancels returns how many cancel calls arrived with a valid token.
func (s *Simulator) Cancels() int64 { return s.cancels.Load() }

// Received returns how many HTTP requests arrived at path (e.g.
// "/v1/order_create", without the query), whatever their answer: what the
// vendor would count.
func (s *Simulator) Received(path string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[path]
}

// Issued returns every token issued so far, for tests that check no log
// or error quotes one.
func (s *Simulator) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// ExpireTokens expires every token issued so far: the next call with any
// of them is refused with status 200, as when the vendor's lifetime ends.
func (s *Simulator) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// Balance returns the balance in fen.
func (s *Simulator) Balance() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.balance
}

// Handler serves the vendor's endpoints at the root of the base URL.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /user_login", s.login)
	mux.HandleFunc("GET /v1/warehouse_get_list", s.authed(s.warehouseList))
	mux.HandleFunc("GET /v1/product_get_list", s.authed(s.productList))
	mux.HandleFunc("POST /v1/order_create", s.authed(s.orderCreate))
	mux.HandleFunc("POST /package_get_list", s.authed(s.packageList))
	mux.HandleFunc("POST /v1/order_cancel", s.authed(s.orderCancel))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.received[r.URL.Path]++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

func reply(w http.ResponseWriter, status int, data any, msg string) {
	w.Header().Set("Content-Type", "application/json")
	body := map[string]any{"status": status, "msg": msg}
	if data != nil {
		body["data"] = data
	}
	_ = json.NewEncoder(w).Encode(body)
}

func invalid(w http.ResponseWriter, detail string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": 422, "msg": "参数列表不合法", "err": detail})
}

func (s *Simulator) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID     string `json:"app_id"`
		AppSecret string `json:"app_secret"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		reply(w, 132, nil, "请求格式必须为JSON")
		return
	}
	if in.AppID != s.opts.AppID || in.AppSecret != s.opts.AppSecret {
		reply(w, 200, nil, "认证失败,app_id或app_secret错误")
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	s.mu.Lock()
	if s.opts.RevokeOnLogin {
		clear(s.tokens)
	}
	s.tokens[token] = s.opts.Now().Add(s.opts.TokenTTL)
	s.issued = append(s.issued, token)
	s.mu.Unlock()
	s.logins.Add(1)
	reply(w, 0, map[string]string{"access_token": token}, "")
}

// authed checks the token (200 when unknown or expired) and the call rate
// (160), then runs h under the lock.
func (s *Simulator) authed(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("Authorization")
		now := s.opts.Now()
		s.mu.Lock()
		defer s.mu.Unlock()
		exp, ok := s.tokens[token]
		if !ok || !now.Before(exp) {
			delete(s.tokens, token)
			reply(w, 200, nil, "认证失败,Authorization填写错误")
			return
		}
		if s.opts.MinInterval > 0 {
			if last, ok := s.lastCall[token]; ok && now.Sub(last) < s.opts.MinInterval {
				reply(w, 160, nil, "您的请求太过频繁,请稍后再试")
				return
			}
			s.lastCall[token] = now
		}
		h(w, r)
	}
}

func (s *Simulator) warehouseList(w http.ResponseWriter, _ *http.Request) {
	out := make([]map[string]any, 0, len(s.warehouses))
	for _, wh := range s.warehouses {
		out = append(out, map[string]any{"id": wh.ID, "expressName": wh.ExpressName, "blockedRegions": wh.BlockedRegions})
	}
	reply(w, 0, out, "")
}

func (s *Simulator) productList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	size, _ := strconv.Atoi(q.Get("pageSize"))
	if page < 1 || size < 1 {
		invalid(w, "page and pageSize must be positive")
		return
	}
	wh := s.warehouse(q.Get("id"))
	if wh == nil {
		reply(w, 227, nil, "仓库已下架,请联系客服")
		return
	}
	out := []map[string]any{}
	for i := (page - 1) * size; i < page*size && i < len(wh.Products); i++ {
		p := wh.Products[i]
		out = append(out, map[string]any{"id": p.ID, "name": p.Name, "price": fmt.Sprintf("%d.%02d", p.PriceFen/100, p.PriceFen%100), "weight": p.Weight})
	}
	reply(w, 0, map[string]any{"list": out, "total": len(wh.Products)}, "")
}

func (s *Simulator) warehouse(id string) *Warehouse {
	for i := range s.warehouses {
		if s.warehouses[i].ID == id {
			return &s.warehouses[i]
		}
	}
	return nil
}

func (s *Simulator) product(id string) *Product {
	for _, wh := range s.warehouses {
		for i := range wh.Products {
			if wh.Products[i].ID == id {
				return &wh.Products[i]
			}
		}
	}
	return nil
}

func (s *Simulator) orderCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ProductID     string `json:"product_id"`
		SiteOrderID   string `json:"site_order_id"`
		ProductNumber int    `json:"product_number"`
		Source        string `json:"source"`
		Consignees    []struct {
			Consignee, Mobile, Province, City, District, Address string
		} `json:"consignees"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		reply(w, 132, nil, "请求格式必须为JSON")
		return
	}
	s.creates.Add(1)
	switch {
	case in.SiteOrderID == "":
		invalid(w, "site_order_id 不能为空")
		return
	case in.ProductNumber < 1:
		invalid(w, "product_number 必须大于0")
		return
	case len(in.Consignees) == 0:
		invalid(w, "consignees 不能为空")
		return
	}
	switch in.Source {
	case "taobao", "tmall", "jd", "pdd", "other":
	default:
		invalid(w, "source 不合法")
		return
	}
	if _, dup := s.orders[in.SiteOrderID]; dup {
		reply(w, 234, nil, "site_order_id已存在")
		return
	}
	p := s.product(in.ProductID)
	if p == nil {
		reply(w, 226, nil, "商品已下架,请联系客服")
		return
	}
	cost := p.PriceFen * int64(in.ProductNumber) * int64(len(in.Consignees))
	if cost > s.balance {
		reply(w, 209, nil, "账户余额不足,请先充值")
		return
	}
	s.balance -= cost
	s.seq++
	now := s.opts.Now()
	o := &order{orderSN: fmt.Sprintf("DMJ%08d", s.seq), siteOrderID: in.SiteOrderID, created: now}
	s.orders[in.SiteOrderID] = o
	for i, c := range in.Consignees {
		s.packages = append(s.packages, &pkg{packageSN: fmt.Sprintf("%s-%d", o.orderSN, i+1), orderSN: o.orderSN,
			siteOrderID: in.SiteOrderID, consignee: c.Consignee, mobile: c.Mobile, created: now})
	}
	reply(w, 0, map[string]string{"order_sn": o.orderSN}, "")
}

func (s *Simulator) status(p *pkg, now time.Time) string {
	switch {
	case p.cancelled:
		return "c"
	case now.Sub(p.created) >= s.opts.ShipAfter:
		return "s"
	default:
		return "p"
	}
}

func (s *Simulator) packageList(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Range  []int `json:"range"`
		Filter struct {
			CreateTime  []int64 `json:"create_time"`
			Mobile      string  `json:"mobile"`
			OrderSN     string  `json:"order_sn"`
			SiteOrderID string  `json:"site_order_id"`
			Status      string  `json:"status"`
		} `json:"filter"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		reply(w, 132, nil, "请求格式必须为JSON")
		return
	}
	if len(in.Range) != 2 || in.Range[0] < 1 || in.Range[1] < 1 {
		invalid(w, "range 不合法")
		return
	}
	now := s.opts.Now()
	var match []map[string]any
	for _, p := range s.packages {
		st := s.status(p, now)
		f := in.Filter
		if (f.Status != "" && f.Status != st) || (f.Mobile != "" && f.Mobile != p.mobile) ||
			(f.OrderSN != "" && f.OrderSN != p.orderSN) || (f.SiteOrderID != "" && f.SiteOrderID != p.siteOrderID) {
			continue
		}
		if len(f.CreateTime) == 2 && ((f.CreateTime[0] != 0 && p.created.Unix() < f.CreateTime[0]) ||
			(f.CreateTime[1] != 0 && p.created.Unix() >= f.CreateTime[1])) {
			continue
		}
		item := map[string]any{"package_sn": p.packageSN, "order_sn": p.orderSN, "site_order_id": p.siteOrderID,
			"status": st, "consignee": p.consignee, "mobile": p.mobile, "create_time": s.timeValue(p.created), "express_no": ""}
		if st == "s" {
			item["express_no"] = "YT" + p.packageSN
		}
		match = append(match, item)
	}
	page, size := in.Range[0], in.Range[1]
	out := []map[string]any{}
	for i := (page - 1) * size; i < page*size && i < len(match); i++ {
		out = append(out, match[i])
	}
	reply(w, 0, map[string]any{"list": out, "total": len(match)}, "")
}

func (s *Simulator) orderCancel(w http.ResponseWriter, r *http.Request) {
	var in struct {
		OrderSN     string `json:"order_sn"`
		SiteOrderID string `json:"site_order_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		reply(w, 132, nil, "请求格式必须为JSON")
		return
	}
	s.cancels.Add(1)
	now := s.opts.Now()
	var found []*pkg
	for _, p := range s.packages {
		if (in.SiteOrderID != "" && p.siteOrderID == in.SiteOrderID) || (in.OrderSN != "" && p.orderSN == in.OrderSN) {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		reply(w, 208, nil, "取消订单失败,请联系客服")
		return
	}
	for _, p := range found {
		if s.status(p, now) == "s" {
			reply(w, 213, nil, "包裹已发货,无法取消")
			return
		}
	}
	for _, p := range found {
		p.cancelled = true
	}
	reply(w, 0, nil, "")
}
