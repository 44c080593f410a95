package dingdangsim

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestCreateOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	set := func(key, value string) func(map[string]string, url.Values) {
		return func(_ map[string]string, form url.Values) { form.Set(key, value) }
	}
	setHeader := func(key, value string) func(map[string]string, url.Values) {
		return func(h map[string]string, _ url.Values) { h[key] = value }
	}
	tests := []struct {
		name string
		edit func(map[string]string, url.Values)
		msg  string
		code int
	}{
		{name: "valid", msg: "成功", code: 1},
		{name: "cheapest mode", edit: setHeader("mode_distribution", "1"), msg: "成功", code: 1},
		{name: "integer price and fractional weight", edit: func(_ map[string]string, form url.Values) {
			form.Set("cargo_price", "25")
			form.Set("weight", "0.5")
		}, msg: "成功", code: 1},
		{name: "door_time 20 minutes ahead", edit: set("door_time", unix(t0.Add(20*time.Minute))), msg: "成功", code: 1},
		{name: "callback url", edit: setHeader("callback", "https://example.com/cb?x=1"), msg: "成功", code: 1},
		{name: "empty goods array", edit: set("goods", "[]"), msg: "成功", code: 1},
		{name: "missing origin_id", edit: set("origin_id", ""), msg: "参数无效"},
		{name: "missing shop_no", edit: set("shop_no", ""), msg: "参数无效"},
		{name: "missing city", edit: set("city", ""), msg: "参数无效"},
		{name: "missing receiver_name", edit: set("receiver_name", " "), msg: "参数无效"},
		{name: "missing receiver_address", edit: set("receiver_address", ""), msg: "参数无效"},
		{name: "missing receiver_phone", edit: set("receiver_phone", ""), msg: "参数无效"},
		{name: "cargo_price not decimal", edit: set("cargo_price", "12.5元"), msg: "参数无效"},
		{name: "cargo_price negative", edit: set("cargo_price", "-1"), msg: "参数无效"},
		{name: "cargo_price missing", edit: set("cargo_price", ""), msg: "参数无效"},
		{name: "receiver_lat missing", edit: setHeader("receiver_lat", ""), msg: "参数无效"},
		{name: "receiver_lat out of range", edit: setHeader("receiver_lat", "91"), msg: "参数无效"},
		{name: "receiver_lng garbage", edit: setHeader("receiver_lng", "东经121"), msg: "参数无效"},
		{name: "mode_distribution 2", edit: setHeader("mode_distribution", "2"), msg: "参数无效"},
		{name: "mode_distribution in body not header", edit: func(h map[string]string, form url.Values) {
			delete(h, "mode_distribution")
			form.Set("mode_distribution", "3")
		}, msg: "参数无效"},
		{name: "source not 5", edit: set("source", "4"), msg: "参数无效"},
		{name: "weight zero", edit: set("weight", "0"), msg: "参数无效"},
		{name: "weight NaN", edit: set("weight", "NaN"), msg: "参数无效"},
		{name: "weight garbage", edit: set("weight", "1kg"), msg: "参数无效"},
		{name: "door_time off grid", edit: set("door_time", unix(t0.Add(30*time.Minute+time.Minute))), msg: "参数无效"},
		{name: "door_time too soon", edit: set("door_time", unix(t0.Add(10*time.Minute))), msg: "参数无效"},
		{name: "door_time empty", edit: set("door_time", ""), msg: "参数无效"},
		{name: "goods object", edit: set("goods", `{"name":"x"}`), msg: "参数无效"},
		{name: "goods text", edit: set("goods", "宫保鸡丁"), msg: "参数无效"},
		{name: "callback not http", edit: setHeader("callback", "ftp://example.com/cb"), msg: "参数无效"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := "create-" + strconv.Itoa(i)
			r := f.createOrder(t, id, func(h map[string]string, form url.Values) {
				if tt.edit != nil {
					tt.edit(h, form)
				}
			})
			r.want(t, tt.msg, tt.code, "[]")
			if r.contentType != "text/html; charset=UTF-8" {
				t.Errorf("got Content-Type %q, want text/html; charset=UTF-8", r.contentType)
			}
		})
	}
}

func TestCreateOrderDuplicate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.mustCreateOrder(t, "dup-1", nil)
	f.createOrder(t, "dup-1", nil).want(t, "订单号重复", 0, "[]")
	// An invalid duplicate is still invalid first: validation precedes the lookup.
	f.createOrder(t, "dup-1", func(_ map[string]string, form url.Values) { form.Set("source", "1") }).
		want(t, "参数无效", 0, "[]")
}

func TestChineseHeadersRoundTrip(t *testing.T) {
	t.Parallel()
	rcv := newCallbackReceiver(t)
	f := newFixture(t, Options{})
	const remark = "请放门口，不要按门铃（谢谢）"
	const reason = "顾客临时改约，地址变更"
	f.mustCreateOrder(t, "cn-1", func(h map[string]string, _ url.Values) {
		h["info"] = remark
		h["callback"] = rcv.srv.URL + "/cb"
	})
	rec := f.record(t, "cn-1")
	if rec["info"] != remark || rec["receiver_name"] != "林冲" || rec["goods"] != "宫保鸡丁" {
		t.Errorf("got info %q receiver_name %q goods %q, want %q 林冲 宫保鸡丁",
			rec["info"], rec["receiver_name"], rec["goods"], remark)
	}
	f.do(t, PathOrderCancel, map[string]string{"origin_id": "cn-1", "cancel_id": "10000", "cancelReason": reason}, nil).
		want(t, "取消成功", 1, "[]")
	waitCallbacks(t, f.sim)
	got := rcv.received()
	if len(got) != 1 || got[0].Get("order_status") != "5" || got[0].Get("cancelReason") != reason ||
		got[0].Get("cancel_id") != "10000" {
		t.Errorf("got callbacks %v, want one with order_status 5 and cancelReason %q", got, reason)
	}
}

// sampleRecordKeys are the keys of the document's orderRecord sample.
func sampleRecordKeys() []string {
	keys := []string{"ordernumber", "inserttime", "lng", "lat", "name", "origin_id", "info", "distance",
		"deliverFee", "client_id", "order_status", "psy_name", "psy_mobile", "acceptTime", "finishTime",
		"fetchTime", "station_address", "contact_name", "phone", "goods", "delay_publish_time",
		"receiver_lat", "receiver_lng", "receiver_name", "receiver_address", "receiver_phone", "weight",
		"mode_distribution", "icon", "transporterLng", "transporterLat", "juli"}
	slices.Sort(keys)
	return keys
}

func TestOrderRecord(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.mustCreateOrder(t, "rec-1", func(_ map[string]string, form url.Values) { form.Set("weight", "1.50") })
	tests := []struct {
		name     string
		originID string
		msg      string
		want     map[string]string
	}{
		{name: "unknown", originID: "nope", msg: "参数无效"},
		{name: "empty", originID: "", msg: "参数无效"},
		{name: "waiting", originID: "rec-1", msg: "成功", want: map[string]string{
			"origin_id": "rec-1", "inserttime": unix(t0), "order_status": "0", "info": "1号",
			"acceptTime": "2147483647", "fetchTime": "2147483647", "finishTime": "2147483647",
			"transporterLat": "", "transporterLng": "", "juli": "", "psy_name": "", "psy_mobile": "",
			"receiver_lat": "31.238808", "receiver_lng": "121.323932", "weight": "1.5",
			"mode_distribution": "3", "delay_publish_time": "1", "name": "闪送", "deliverFee": "11.00",
			"goods": "宫保鸡丁", "receiver_phone": "18942249050",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.do(t, PathOrderRecord, map[string]string{"origin_id": tt.originID}, nil)
			if tt.want == nil {
				r.want(t, tt.msg, 0, "[]")
				return
			}
			r.want(t, tt.msg, 1, "")
			var rec map[string]any
			if err := json.Unmarshal(r.result, &rec); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k, v := range rec {
				keys = append(keys, k)
				if _, isString := v.(string); !isString {
					t.Errorf("got %s = %v (%T), want a string like the sample", k, v, v)
				}
			}
			slices.Sort(keys)
			if !slices.Equal(keys, sampleRecordKeys()) {
				t.Errorf("got keys %v, want the sample's %v", keys, sampleRecordKeys())
			}
			for k, want := range tt.want {
				if rec[k] != want {
					t.Errorf("got %s %q, want %q", k, rec[k], want)
				}
			}
			if on, _ := rec["ordernumber"].(string); len(on) < 4 || on[:3] != "OID" {
				t.Errorf("got ordernumber %q, want OID…", on)
			}
			if d, err := strconv.Atoi(rec["distance"].(string)); err != nil || d <= 0 {
				t.Errorf("got distance %q, want positive metres", rec["distance"])
			}
		})
	}
}

func TestStatusProgression(t *testing.T) {
	t.Parallel()
	const step = 30 * time.Second
	door := t0.Add(30 * time.Minute)
	type check struct {
		at                              time.Duration // since t0
		status, accept, fetch, finish   string
		riderAssigned, transporterKnown bool
	}
	tests := []struct {
		name   string
		edit   func(map[string]string, url.Values)
		checks []check
	}{
		{
			name: "immediate",
			checks: []check{
				{at: 0, status: "0", accept: notYet, fetch: notYet, finish: notYet},
				{at: step - time.Second, status: "0", accept: notYet, fetch: notYet, finish: notYet},
				{at: step, status: "4", accept: unix(t0.Add(step)), fetch: unix(t0.Add(step)), finish: notYet,
					riderAssigned: true, transporterKnown: true},
				{at: 2*step - time.Second, status: "4", accept: unix(t0.Add(step)), fetch: unix(t0.Add(step)),
					finish: notYet, riderAssigned: true, transporterKnown: true},
				{at: 2 * step, status: "3", accept: unix(t0.Add(step)), fetch: unix(t0.Add(step)),
					finish: unix(t0.Add(2 * step)), riderAssigned: true, transporterKnown: true},
				{at: time.Hour, status: "3", accept: unix(t0.Add(step)), fetch: unix(t0.Add(step)),
					finish: unix(t0.Add(2 * step)), riderAssigned: true, transporterKnown: true},
			},
		},
		{
			name: "scheduled waits for door_time",
			edit: func(_ map[string]string, form url.Values) { form.Set("door_time", unix(door)) },
			checks: []check{
				{at: 5 * step, status: "0", accept: notYet, fetch: notYet, finish: notYet},
				{at: 30*time.Minute + step - time.Second, status: "0", accept: notYet, fetch: notYet, finish: notYet},
				{at: 30*time.Minute + step, status: "4", accept: unix(door.Add(step)), fetch: unix(door.Add(step)),
					finish: notYet, riderAssigned: true, transporterKnown: true},
				{at: 30*time.Minute + 2*step, status: "3", accept: unix(door.Add(step)), fetch: unix(door.Add(step)),
					finish: unix(door.Add(2 * step)), riderAssigned: true, transporterKnown: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Options{StatusStep: step})
			f.mustCreateOrder(t, "prog", tt.edit)
			for _, c := range tt.checks {
				f.clock.Set(t0.Add(c.at))
				rec := f.record(t, "prog")
				got := check{at: c.at, status: rec["order_status"].(string), accept: rec["acceptTime"].(string),
					fetch: rec["fetchTime"].(string), finish: rec["finishTime"].(string),
					riderAssigned:    rec["psy_name"] != "" && rec["psy_mobile"] != "",
					transporterKnown: rec["transporterLat"] != "" && rec["transporterLng"] != ""}
				if got != c {
					t.Errorf("at +%v got %+v, want %+v", c.at, got, c)
				}
			}
		})
	}
}

func TestOrderList(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{StatusStep: 30 * time.Second})
	f.mustCreateOrder(t, "done", nil)
	f.clock.Add(60 * time.Second)
	f.mustCreateOrder(t, "delivering", nil)
	f.clock.Add(30 * time.Second)
	f.mustCreateOrder(t, "waiting", nil)
	f.mustCreateOrder(t, "cancelled", nil)
	f.do(t, PathOrderCancel, map[string]string{"origin_id": "cancelled", "cancel_id": "1"}, nil).
		want(t, "取消成功", 1, "[]")
	all := []string{"done", "delivering", "waiting", "cancelled"}
	tests := []struct {
		types string
		want  []string
	}{
		{types: "1", want: []string{"waiting"}},
		{types: "2", want: []string{"delivering"}},
		{types: "3", want: []string{"done"}},
		{types: "4", want: []string{"cancelled"}},
		{types: "", want: all},
		{types: "0", want: all},
		{types: "全部", want: all},
	}
	for _, tt := range tests {
		t.Run("types="+tt.types, func(t *testing.T) {
			t.Parallel()
			r := f.do(t, PathOrderList, map[string]string{"types": tt.types}, nil)
			r.want(t, "成功", 1, "")
			var items []map[string]any
			if err := json.Unmarshal(r.result, &items); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, it := range items {
				ids = append(ids, it["origin_id"].(string))
				if len(it) != 11 {
					t.Errorf("got %d keys %v, want the sample's 11", len(it), it)
				}
				if _, isString := it["order_status"].(string); !isString {
					t.Errorf("got order_status %v, want a string", it["order_status"])
				}
				if it["city"] != "上海" || it["city_name"] != "上海" || it["name"] != "闪送" {
					t.Errorf("got city %v city_name %v name %v", it["city"], it["city_name"], it["name"])
				}
				wantTimes := map[string][]string{
					"done":       {"acceptTime", "fetchTime", "finishTime"},
					"delivering": {"acceptTime", "fetchTime"},
					"cancelled":  {"cancelTime"},
				}[it["origin_id"].(string)]
				for _, k := range []string{"acceptTime", "fetchTime", "finishTime", "cancelTime"} {
					_, isNumber := it[k].(float64)
					if want := slices.Contains(wantTimes, k); isNumber != want || (!want && it[k] != nil) {
						t.Errorf("%s: got %s %v, want number %v or null", it["origin_id"], k, it[k], want)
					}
				}
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("got %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestReason(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.mustCreateOrder(t, "reason-1", nil)
	tests := []struct {
		originID string
		msg      string
		code     int
	}{
		{originID: "reason-1", msg: "成功", code: 1},
		{originID: "unknown", msg: "参数无效"},
		{originID: "", msg: "参数无效"},
	}
	for _, tt := range tests {
		t.Run(tt.originID, func(t *testing.T) {
			t.Parallel()
			r := f.do(t, PathReason, map[string]string{"origin_id": tt.originID}, nil)
			if tt.code == 0 {
				r.want(t, tt.msg, 0, "[]")
				return
			}
			r.want(t, tt.msg, 1, "")
			var reasons []struct {
				Reason string `json:"reason"`
				ID     int    `json:"id"`
			}
			if err := json.Unmarshal(r.result, &reasons); err != nil {
				t.Fatal(err)
			}
			var ids []int
			for _, x := range reasons {
				ids = append(ids, x.ID)
			}
			if want := []int{1, 2, 3, 4, 5, 34, 35, 36, 37, 10000}; !slices.Equal(ids, want) {
				t.Errorf("got ids %v, want %v", ids, want)
			}
			if reasons[0].Reason != "没有配送员接单" || reasons[9].Reason != "其他" {
				t.Errorf("got reasons %v", reasons)
			}
		})
	}
}

func TestOrderCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{StatusStep: 30 * time.Second})
	f.mustCreateOrder(t, "finished", nil)
	f.clock.Add(time.Minute)
	f.mustCreateOrder(t, "open", nil)
	f.mustCreateOrder(t, "other", nil)
	// Sequential: the later cases depend on the earlier ones.
	tests := []struct {
		name                        string
		originID, cancelID, reason  string
		msg                         string
		code                        int
		wantStatusAfter, checkOrder string
	}{
		{name: "unknown order", originID: "nope", cancelID: "1", msg: "参数无效"},
		{name: "unknown cancel_id", originID: "open", cancelID: "99", msg: "参数无效"},
		{name: "empty cancel_id", originID: "open", cancelID: "", msg: "参数无效"},
		{name: "other without reason", originID: "other", cancelID: "10000", reason: " ", msg: "参数无效",
			checkOrder: "other", wantStatusAfter: "0"},
		{name: "other with reason", originID: "other", cancelID: "10000", reason: "不要了", msg: "取消成功", code: 1,
			checkOrder: "other", wantStatusAfter: "5"},
		{name: "cancel", originID: "open", cancelID: "1", msg: "取消成功", code: 1,
			checkOrder: "open", wantStatusAfter: "5"},
		{name: "cancel twice", originID: "open", cancelID: "1", msg: "订单状态不可取消"},
		{name: "finished", originID: "finished", cancelID: "4", msg: "订单状态不可取消",
			checkOrder: "finished", wantStatusAfter: "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"origin_id": tt.originID, "cancel_id": tt.cancelID}
			if tt.reason != "" {
				h["cancelReason"] = tt.reason
			}
			f.do(t, PathOrderCancel, h, nil).want(t, tt.msg, tt.code, "[]")
			if tt.checkOrder != "" {
				if got := f.record(t, tt.checkOrder)["order_status"]; got != tt.wantStatusAfter {
					t.Errorf("got order_status %v, want %s", got, tt.wantStatusAfter)
				}
			}
		})
	}
	// A cancelled order no longer advances.
	f.clock.Add(time.Hour)
	if got := f.record(t, "open")["order_status"]; got != "5" {
		t.Errorf("got order_status %v an hour after cancel, want 5", got)
	}
}
