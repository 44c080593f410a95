package dingdangsim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Order statuses. The vendor publishes only samples ("0" new, "4" delivering,
// "5" with a cancel time); the simulator moves an order 0 → 4 → 3 and uses 5
// for a cancelled one.
const (
	statusWaiting    = "0"
	statusFinished   = "3"
	statusDelivering = "4"
	statusCancelled  = "5"
)

// notYet is the vendor's value for a time that has not happened yet.
const notYet = "2147483647"

// The createOrder rules from the parameter table: door_time is on a 10-minute
// grid at least 20 minutes ahead; "1" means "publish now".
const (
	doorTimeNow  = "1"
	doorTimeGrid = 600
	doorTimeLead = 20 * time.Minute
	sourceFixed  = "5"
)

// otherReasonID is the cancel reason "其他", which needs a free-text cancelReason.
const otherReasonID = "10000"

type point struct{ lat, lng float64 }

// carrier is one delivery company the aggregator dispatches to.
type carrier struct{ name, code string }

// order is one dispatched order and everything orderRecord reports about it.
type order struct {
	seq                                      int64
	originID, orderNumber, clientID          string
	carrier                                  carrier
	shopNo, city, cityName                   string
	cargoPrice, bigNumb, goods, goodsSummary string
	weight, info, mode, doorTime, callback   string
	receiverName, receiverAddress            string
	receiverPhone, receiverMobile            string
	receiverLat, receiverLng                 string // as sent
	receiver, shopPos                        point
	stationAddress, contactName, phone       string
	distance                                 int // metres, shop to receiver
	feeCents                                 int64
	chargedShop                              string // per_userid of the shop that paid, "" if none
	status                                   string
	created, publishAt                       time.Time
	accepted, fetched, finished, cancelled   time.Time
	riderName, riderMobile                   string
	cancelID, cancelReason                   string
}

func (o *order) terminal() bool {
	return o.status == statusFinished || o.status == statusCancelled
}

// cancelReasons is the vendor's list from the Reason sample.
func cancelReasons() []reasonItem {
	return []reasonItem{
		{Reason: "没有配送员接单", ID: 1},
		{Reason: "配送员没来取货", ID: 2},
		{Reason: "配送员态度太差", ID: 3},
		{Reason: "顾客取消订单", ID: 4},
		{Reason: "订单填写错误", ID: 5},
		{Reason: "配送员让我取消此单", ID: 34},
		{Reason: "配送员不愿上门取货", ID: 35},
		{Reason: "我不需要配送了", ID: 36},
		{Reason: "配送员以各种理由表示无法完成订单", ID: 37},
		{Reason: "其他", ID: 10000},
	}
}

type reasonItem struct {
	Reason string `json:"reason"`
	ID     int    `json:"id"`
}

// riders are the simulated riders' names, assigned round-robin.
func riders() []string {
	return []string{"外卖小哥", "王师傅", "李骑手", "张小哥", "陈师傅"}
}

// pickCarrier chooses a carrier for a delivery mode: 3 (fastest) goes to
// 闪送, 1 (cheapest) alternates between 达达 and 点我达.
func pickCarrier(mode string, seq int64) carrier {
	if mode == "3" {
		return carrier{name: "闪送", code: "shansong"}
	}
	if seq%2 == 0 {
		return carrier{name: "达达", code: "dada"}
	}
	return carrier{name: "点我达", code: "dianwoda"}
}

// createOrder is /open/order/createOrder: headers callback, info,
// mode_distribution, receiver_lat, receiver_lng; the rest in a form body.
func (s *Simulator) createOrder(r *http.Request) response {
	if err := r.ParseForm(); err != nil {
		s.log.Debug("dingdangsim: createOrder body", "err", err)
		return fail(msgInvalid)
	}
	now := s.now()
	o, why := parseOrder(r, now)
	if why != "" {
		s.log.Debug("dingdangsim: createOrder rejected", "reason", why)
		return fail(msgInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.orders[o.originID]; dup {
		return fail(msgDuplicate)
	}
	s.seq++
	o.seq = s.seq
	o.orderNumber = fmt.Sprintf("OID%d%04d", now.Unix(), o.seq)
	o.clientID = fmt.Sprintf("3203684%011d", o.seq)
	o.carrier = pickCarrier(o.mode, o.seq)
	o.cityName = o.city
	// Without a known shop the pickup point is a few hundred metres away.
	o.shopPos = point{lat: o.receiver.lat + 0.0018, lng: o.receiver.lng - 0.0021}
	sh := s.shops[s.shopCodes[o.shopNo]]
	if sh != nil {
		if sh.hasPos {
			o.shopPos = sh.pos
		}
		o.stationAddress, o.contactName, o.phone = sh.stationAddress, sh.contactName, sh.phone
		if sh.cityName != "" {
			o.cityName = sh.cityName
		}
	}
	o.distance = int(math.Round(haversine(o.shopPos, o.receiver)))
	o.feeCents = fee(o.distance, o.mode)
	// The balance is charged but never refuses an order: the vendor's
	// message for an empty balance is not published.
	if sh != nil {
		sh.moneyCents -= o.feeCents
		sh.feeCents += o.feeCents
		o.chargedShop = sh.perUserID
	}
	s.evictOrderLocked()
	s.orders[o.originID] = o
	s.orderIDs = append(s.orderIDs, o.originID)
	s.log.Debug("dingdangsim: order created", "origin_id", o.originID, "ordernumber", o.orderNumber)
	return okMsg(msgOK, []struct{}{})
}

// parseOrder validates a createOrder request; why is "" when it is valid.
func parseOrder(r *http.Request, now time.Time) (o *order, why string) {
	h, f := r.Header, r.PostForm
	o = &order{
		originID:        f.Get("origin_id"),
		shopNo:          f.Get("shop_no"),
		city:            f.Get("city"),
		cargoPrice:      f.Get("cargo_price"),
		bigNumb:         f.Get("bigNumb"),
		goods:           f.Get("goods"),
		weight:          f.Get("weight"),
		doorTime:        f.Get("door_time"),
		receiverName:    f.Get("receiver_name"),
		receiverAddress: f.Get("receiver_address"),
		receiverPhone:   f.Get("receiver_phone"),
		receiverMobile:  f.Get("receiver_mobile"),
		receiverLat:     h.Get("receiver_lat"),
		receiverLng:     h.Get("receiver_lng"),
		mode:            h.Get("mode_distribution"),
		info:            h.Get("info"),
		callback:        h.Get("callback"),
		status:          statusWaiting,
		created:         now,
		publishAt:       now,
	}
	required := []struct{ name, value string }{
		{"origin_id", o.originID}, {"shop_no", o.shopNo}, {"city", o.city}, {"receiver_name", o.receiverName},
		{"receiver_address", o.receiverAddress}, {"receiver_phone", o.receiverPhone},
	}
	for _, p := range required {
		if strings.TrimSpace(p.value) == "" {
			return nil, "missing " + p.name
		}
	}
	if !isDecimal(o.cargoPrice) {
		return nil, "cargo_price is not a decimal"
	}
	var okLat, okLng bool
	o.receiver.lat, okLat = parseCoord(o.receiverLat, 90)
	o.receiver.lng, okLng = parseCoord(o.receiverLng, 180)
	if !okLat || !okLng {
		return nil, "bad receiver_lat/receiver_lng"
	}
	if o.mode != "1" && o.mode != "3" {
		return nil, "mode_distribution not 1 or 3"
	}
	if f.Get("source") != sourceFixed {
		return nil, "source is not 5"
	}
	w, err := strconv.ParseFloat(o.weight, 64)
	if err != nil || math.IsNaN(w) || math.IsInf(w, 0) || w <= 0 {
		return nil, "weight is not > 0"
	}
	o.weight = strconv.FormatFloat(w, 'f', -1, 64)
	if o.doorTime != doorTimeNow {
		at, err := strconv.ParseInt(o.doorTime, 10, 64)
		if err != nil || at%doorTimeGrid != 0 || time.Unix(at, 0).Before(now.Add(doorTimeLead)) {
			return nil, "door_time is not 1 or a 10-minute step 20 minutes ahead"
		}
		o.publishAt = time.Unix(at, 0)
	}
	summary, isArray := goodsSummary(o.goods)
	if !isArray {
		return nil, "goods is not a JSON array"
	}
	o.goodsSummary = summary
	if o.callback != "" {
		u, err := url.Parse(o.callback)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, "callback is not an http(s) URL"
		}
	}
	return o, ""
}

// goodsSummary checks that goods is a JSON array and joins its items' names,
// which is what orderRecord's "goods" shows.
func goodsSummary(goods string) (string, bool) {
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(goods), &items); err != nil || items == nil {
		return "", false
	}
	var names []string
	for _, raw := range items {
		var item struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(raw, &item) == nil && item.Name != "" {
			names = append(names, item.Name)
		}
	}
	return strings.Join(names, ","), true
}

// isDecimal accepts "12", "12.5", "12.50".
func isDecimal(v string) bool {
	whole, frac, hasDot := strings.Cut(v, ".")
	return isDigits(whole) && (!hasDot || isDigits(frac))
}

func isDigits(v string) bool {
	if v == "" {
		return false
	}
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parseCoord(v string, limit float64) (float64, bool) {
	c, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(c) || c < -limit || c > limit {
		return 0, false
	}
	return c, true
}

// haversine is the great-circle distance in metres.
func haversine(a, b point) float64 {
	const earth = 6371000.0
	rad := math.Pi / 180
	dLat := (b.lat - a.lat) * rad
	dLng := (b.lng - a.lng) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(a.lat*rad)*math.Cos(b.lat*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earth * math.Asin(math.Sqrt(min(h, 1)))
}

// fee is the simulator's tariff: ¥8 up to 3 km, ¥2 per started km beyond,
// ¥3 more for the fastest mode.
func fee(distance int, mode string) int64 {
	cents := int64(800)
	if extra := distance - 3000; extra > 0 {
		cents += int64((extra+999)/1000) * 200
	}
	if mode == "3" {
		cents += 300
	}
	return cents
}

// evictOrderLocked forgets the oldest finished or cancelled order (or else the
// oldest order) when the store is full.
func (s *Simulator) evictOrderLocked() {
	if len(s.orderIDs) < maxOrders {
		return
	}
	idx := 0
	for i, id := range s.orderIDs {
		if s.orders[id].terminal() {
			idx = i
			break
		}
	}
	s.log.Debug("dingdangsim: order store full, forgetting an order", "origin_id", s.orderIDs[idx])
	delete(s.orders, s.orderIDs[idx])
	s.orderIDs = slices.Delete(s.orderIDs, idx, idx+1)
}

// advance moves o through its statuses up to now and returns one callback
// form per status change. The change times are the scheduled ones, not now,
// so a late read sees the same history as a ticker would have produced.
func (o *order) advance(now time.Time, step time.Duration) []url.Values {
	var forms []url.Values
	for {
		switch o.status {
		case statusWaiting:
			at := o.publishAt.Add(step)
			if now.Before(at) {
				return forms
			}
			names := riders()
			o.status = statusDelivering
			o.accepted, o.fetched = at, at
			o.riderName = names[int(o.seq%int64(len(names)))]
			o.riderMobile = fmt.Sprintf("187%08d", o.seq%100000000)
		case statusDelivering:
			at := o.accepted.Add(step)
			if now.Before(at) {
				return forms
			}
			o.status = statusFinished
			o.finished = at
		default:
			return forms
		}
		forms = append(forms, o.callbackForm())
	}
}

// callbackForm is the status push. Its body is not published; the simulator
// sends the order's identity, status, rider and times as a form.
func (o *order) callbackForm() url.Values {
	v := url.Values{}
	v.Set("origin_id", o.originID)
	v.Set("ordernumber", o.orderNumber)
	v.Set("order_status", o.status)
	v.Set("name", o.carrier.name)
	v.Set("psy_name", o.riderName)
	v.Set("psy_mobile", o.riderMobile)
	v.Set("acceptTime", unixOrNotYet(o.accepted))
	v.Set("fetchTime", unixOrNotYet(o.fetched))
	v.Set("finishTime", unixOrNotYet(o.finished))
	v.Set("cancelTime", unixOrNotYet(o.cancelled))
	if o.status == statusCancelled {
		v.Set("cancel_id", o.cancelID)
		v.Set("cancelReason", o.cancelReason)
	}
	return v
}

func unixOrNotYet(t time.Time) string {
	if t.IsZero() {
		return notYet
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func unixOrNull(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

// riderPos is where the rider is at now: moving from the shop to the
// receiver while delivering, at the receiver once finished.
func (o *order) riderPos(now time.Time, step time.Duration) (point, bool) {
	switch o.status {
	case statusDelivering:
		frac := min(max(float64(now.Sub(o.accepted))/float64(step), 0), 1)
		return point{
			lat: o.shopPos.lat + (o.receiver.lat-o.shopPos.lat)*frac,
			lng: o.shopPos.lng + (o.receiver.lng-o.shopPos.lng)*frac,
		}, true
	case statusFinished:
		return o.receiver, true
	default:
		return point{}, false
	}
}

func coord(c float64) string { return strconv.FormatFloat(c, 'f', 6, 64) }

// RecordResult is orderRecord's result, shaped like the document's sample
// (exported for BenchmarkGetOrder's baseline, which decodes it plainly):
// every value a string, "2147483647" for times that have not happened.
type RecordResult struct {
	OrderNumber      string `json:"ordernumber"`
	InsertTime       string `json:"inserttime"`
	Lng              string `json:"lng"`
	Lat              string `json:"lat"`
	Name             string `json:"name"`
	OriginID         string `json:"origin_id"`
	Info             string `json:"info"`
	Distance         string `json:"distance"`
	DeliverFee       string `json:"deliverFee"`
	ClientID         string `json:"client_id"`
	OrderStatus      string `json:"order_status"`
	PsyName          string `json:"psy_name"`
	PsyMobile        string `json:"psy_mobile"`
	AcceptTime       string `json:"acceptTime"`
	FinishTime       string `json:"finishTime"`
	FetchTime        string `json:"fetchTime"`
	StationAddress   string `json:"station_address"`
	ContactName      string `json:"contact_name"`
	Phone            string `json:"phone"`
	Goods            string `json:"goods"`
	DelayPublishTime string `json:"delay_publish_time"`
	ReceiverLat      string `json:"receiver_lat"`
	ReceiverLng      string `json:"receiver_lng"`
	ReceiverName     string `json:"receiver_name"`
	ReceiverAddress  string `json:"receiver_address"`
	ReceiverPhone    string `json:"receiver_phone"`
	Weight           string `json:"weight"`
	ModeDistribution string `json:"mode_distribution"`
	Icon             string `json:"icon"`
	TransporterLng   string `json:"transporterLng"`
	TransporterLat   string `json:"transporterLat"`
	Juli             string `json:"juli"`
}

// orderRecord is /open/order/orderRecord: header origin_id.
func (s *Simulator) orderRecord(r *http.Request) response {
	id := r.Header.Get("origin_id")
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[id]
	if o == nil {
		return fail(msgInvalid)
	}
	rec := RecordResult{
		OrderNumber:      o.orderNumber,
		InsertTime:       strconv.FormatInt(o.created.Unix(), 10),
		Lng:              coord(o.shopPos.lng),
		Lat:              coord(o.shopPos.lat),
		Name:             o.carrier.name,
		OriginID:         o.originID,
		Info:             o.info,
		Distance:         strconv.Itoa(o.distance),
		DeliverFee:       fmt.Sprintf("%d.%02d", o.feeCents/100, o.feeCents%100),
		ClientID:         o.clientID,
		OrderStatus:      o.status,
		PsyName:          o.riderName,
		PsyMobile:        o.riderMobile,
		AcceptTime:       unixOrNotYet(o.accepted),
		FinishTime:       unixOrNotYet(o.finished),
		FetchTime:        unixOrNotYet(o.fetched),
		StationAddress:   o.stationAddress,
		ContactName:      o.contactName,
		Phone:            o.phone,
		Goods:            o.goodsSummary,
		DelayPublishTime: o.doorTime,
		ReceiverLat:      o.receiverLat,
		ReceiverLng:      o.receiverLng,
		ReceiverName:     o.receiverName,
		ReceiverAddress:  o.receiverAddress,
		ReceiverPhone:    o.receiverPhone,
		Weight:           o.weight,
		ModeDistribution: o.mode,
		Icon:             "https://dingdangsim.invalid/upload/" + o.carrier.code + ".png",
	}
	if p, known := o.riderPos(now, s.step); known {
		rec.TransporterLat, rec.TransporterLng = coord(p.lat), coord(p.lng)
		rec.Juli = strconv.Itoa(int(math.Round(haversine(p, o.receiver))))
	}
	return ok(rec)
}

// listItem is one element of the list result, shaped like the sample: times
// are numbers or null, order_status a string.
type listItem struct {
	OriginID     string `json:"origin_id"`
	Name         string `json:"name"`
	OrderNumber  string `json:"ordernumber"`
	ReceiverName string `json:"receiver_name"`
	City         string `json:"city"`
	OrderStatus  string `json:"order_status"`
	AcceptTime   *int64 `json:"acceptTime"`
	FetchTime    *int64 `json:"fetchTime"`
	FinishTime   *int64 `json:"finishTime"`
	CancelTime   *int64 `json:"cancelTime"`
	CityName     string `json:"city_name"`
}

// orderList is /open/order/list: header types (1 waiting, 2 accepted,
// 3 done, 4 cancelled, anything else all), oldest first.
func (s *Simulator) orderList(r *http.Request) response {
	types := r.Header.Get("types")
	s.mu.Lock()
	defer s.mu.Unlock()
	items := []listItem{}
	for _, id := range s.orderIDs {
		o := s.orders[id]
		if !matchesType(types, o.status) {
			continue
		}
		items = append(items, listItem{
			OriginID:     o.originID,
			Name:         o.carrier.name,
			OrderNumber:  o.orderNumber,
			ReceiverName: o.receiverName,
			City:         o.city,
			OrderStatus:  o.status,
			AcceptTime:   unixOrNull(o.accepted),
			FetchTime:    unixOrNull(o.fetched),
			FinishTime:   unixOrNull(o.finished),
			CancelTime:   unixOrNull(o.cancelled),
			CityName:     o.cityName,
		})
	}
	return ok(items)
}

func matchesType(types, status string) bool {
	switch types {
	case "1":
		return status == statusWaiting
	case "2":
		return status == statusDelivering
	case "3":
		return status == statusFinished
	case "4":
		return status == statusCancelled
	default:
		return true
	}
}

// reason is /open/order/Reason: header origin_id, which must be known.
func (s *Simulator) reason(r *http.Request) response {
	id := r.Header.Get("origin_id")
	s.mu.Lock()
	_, known := s.orders[id]
	s.mu.Unlock()
	if !known {
		return fail(msgInvalid)
	}
	return ok(cancelReasons())
}

// orderCancel is /open/order/orderCancel: headers origin_id, cancel_id and
// cancelReason (required for 10000 "其他").
func (s *Simulator) orderCancel(r *http.Request) response {
	id := r.Header.Get("origin_id")
	cancelID := r.Header.Get("cancel_id")
	text := r.Header.Get("cancelReason")
	reasonText := ""
	for _, c := range cancelReasons() {
		if strconv.Itoa(c.ID) == cancelID {
			reasonText = c.Reason
		}
	}
	if reasonText == "" || (cancelID == otherReasonID && strings.TrimSpace(text) == "") {
		return fail(msgInvalid)
	}
	if text == "" {
		text = reasonText
	}
	now := s.now()
	s.mu.Lock()
	o := s.orders[id]
	if o == nil {
		s.mu.Unlock()
		return fail(msgInvalid)
	}
	if o.terminal() {
		s.mu.Unlock()
		return fail(msgNotCancelable)
	}
	o.status = statusCancelled
	o.cancelled = now
	o.cancelID, o.cancelReason = cancelID, text
	if sh := s.shops[o.chargedShop]; sh != nil {
		sh.moneyCents += o.feeCents
		sh.feeCents -= o.feeCents
	}
	if o.callback != "" {
		s.enqueueLocked([]pendingCallback{{url: o.callback, forms: []url.Values{o.callbackForm()}}})
	}
	s.mu.Unlock()
	s.log.Debug("dingdangsim: order cancelled", "origin_id", id, "cancel_id", cancelID)
	return okMsg(msgCancelled, []struct{}{})
}

// StatusMap is the DINGDANG_STATUS_MAP that names the simulator's
// order_status codes, the delivered one ("3") included.
const StatusMap = statusWaiting + "=WAITING," + statusFinished + "=DELIVERED," + statusDelivering + "=DELIVERING," + statusCancelled + "=CANCELLED"
