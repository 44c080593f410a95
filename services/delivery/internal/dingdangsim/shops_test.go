package dingdangsim

import (
	"encoding/json"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// shopHeaders is a valid createUpdateN request.
func shopHeaders(isadd, perUserID string) map[string]string {
	return map[string]string{
		"appid":             "app-1",
		"area_name":         "贺兰县",
		"cargotype_code":    "1",
		"city_name":         "银川市",
		"contact_name":      "王宏雁",
		"isadd":             isadd,
		"lat":               "38.554563",
		"lng":               "106.349802",
		"mobile":            "13895666331",
		"mode_distribution": "1",
		"password":          "s3cret",
		"per_userid":        perUserID,
		"phone":             "13895666331",
		"station_address":   "银川市贺兰县朔方北街与兴贸路交叉口",
		"station_name":      "新百联超市朔方北街店",
		"upmobile":          "",
		"username":          "test",
	}
}

func with(h map[string]string, kv ...string) map[string]string {
	out := maps.Clone(h)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestCreateUpdateN(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	// Sequential: adds and updates build on each other.
	tests := []struct {
		name    string
		headers map[string]string
		msg     string
		code    int
		result  string
	}{
		{name: "mobile 10 digits", headers: with(shopHeaders("1", "u1"), "mobile", "1389566633"),
			msg: "手机号码填写错误!", result: `"手机号码填写错误!"`},
		{name: "mobile not digits", headers: with(shopHeaders("1", "u1"), "mobile", "1389566633x"),
			msg: "手机号码填写错误!", result: `"手机号码填写错误!"`},
		{name: "mobile missing", headers: with(shopHeaders("1", "u1"), "mobile", ""),
			msg: "手机号码填写错误!", result: `"手机号码填写错误!"`},
		{name: "isadd invalid", headers: with(shopHeaders("2", "u1")), msg: "参数无效", result: `"参数无效"`},
		{name: "mode invalid", headers: with(shopHeaders("1", "u1"), "mode_distribution", "7"),
			msg: "参数无效", result: `"参数无效"`},
		{name: "add without station_name", headers: with(shopHeaders("1", "u1"), "station_name", ""),
			msg: "参数无效", result: `"参数无效"`},
		{name: "update unknown", headers: shopHeaders("0", "u1"), msg: "用户不存在", result: `"用户不存在"`},
		{name: "add", headers: shopHeaders("1", "u1"), msg: "添加成功", code: 1, result: "[]"},
		{name: "add again", headers: shopHeaders("1", "u1"), msg: "用户已存在", result: `"用户已存在"`},
		{name: "update", headers: with(shopHeaders("0", "u1"), "station_name", "新店名", "mode_distribution", "3"),
			msg: "更新成功", code: 1, result: "[]"},
		{name: "update only some fields", headers: map[string]string{"isadd": "0", "per_userid": "u1",
			"mobile": "13895666331", "contact_name": "李四"}, msg: "更新成功", code: 1, result: "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, PathCreateUpdate, tt.headers, nil)
			r.want(t, tt.msg, tt.code, tt.result)
			if r.contentType != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", r.contentType)
			}
		})
	}
	info := fetchShopInfo(t, f, "u1", "test")
	if info["station_name"] != "新店名" || info["contact_name"] != "李四" || info["mode_distribution"] != 3.0 ||
		info["area_name"] != "贺兰县" {
		t.Errorf("got %v, want the updates applied and the rest kept", info)
	}
}

func fetchShopInfo(t *testing.T, f *fixture, perUserID, username string) map[string]any {
	t.Helper()
	r := f.do(t, PathGetShopInfo, map[string]string{"per_userid": perUserID, "username": username}, nil)
	r.want(t, "成功", 1, "")
	var info map[string]any
	if err := json.Unmarshal(r.result, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func TestGetShopInfo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.do(t, PathCreateUpdate, shopHeaders("1", "multi_toozan_729"), nil).want(t, "添加成功", 1, "[]")
	tests := []struct {
		name                    string
		hq, perUserID, username string
		wantFail                bool
	}{
		{name: "unknown per_userid", perUserID: "nobody", username: "test", wantFail: true},
		{name: "username mismatch", perUserID: "multi_toozan_729", username: "other", wantFail: true},
		{name: "headquarters mismatch", hq: "1", perUserID: "multi_toozan_729", username: "test", wantFail: true},
		{name: "known", perUserID: "multi_toozan_729", username: "test"},
		{name: "known with headquarters_id", hq: "1771", perUserID: "multi_toozan_729", username: "test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.do(t, PathGetShopInfo, map[string]string{
				"headquarters_id": tt.hq, "per_userid": tt.perUserID, "username": tt.username}, nil)
			if r.contentType != "text/html; charset=UTF-8" {
				t.Errorf("got Content-Type %q, want text/html", r.contentType)
			}
			if tt.wantFail {
				r.want(t, "失败", 0, `"格式错误"`)
				return
			}
			r.want(t, "成功", 1, "")
			var info map[string]any
			if err := json.Unmarshal(r.result, &info); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"id": 1771.0, "money": 100.0, "adminmoney": "0.00", "fee": "0.00", "status": 1.0,
				"mode_distribution": 1.0, "created_at": nil, "updated_at": unix(t0), "isHasshop": 1.0,
				"per_userid": "multi_toozan_729", "username": "test", "city_name": "银川市",
				"station_address": "银川市贺兰县朔方北街与兴贸路交叉口", "cargotype_code": "1",
			}
			for k, v := range want {
				if got, present := info[k]; !present || got != v {
					t.Errorf("got %s %#v, want %#v", k, got, v)
				}
			}
			if len(info) != 20 {
				t.Errorf("got %d keys, want the sample's 20: %v", len(info), info)
			}
			if code, _ := info["code"].(string); !strings.HasPrefix(code, "MD") {
				t.Errorf("got code %q, want MD…", code)
			}
		})
	}
}

func TestShopChargedForOrders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.do(t, PathCreateUpdate, shopHeaders("1", "payer"), nil).want(t, "添加成功", 1, "[]")
	code := fetchShopInfo(t, f, "payer", "test")["code"].(string)
	f.mustCreateOrder(t, "paid-1", func(h map[string]string, form url.Values) {
		form.Set("shop_no", code)
		h["receiver_lat"], h["receiver_lng"] = "38.561", "106.342"
	})
	rec := f.record(t, "paid-1")
	if rec["station_address"] != "银川市贺兰县朔方北街与兴贸路交叉口" || rec["lat"] != "38.554563" {
		t.Errorf("got station_address %v lat %v, want the shop's", rec["station_address"], rec["lat"])
	}
	fee, err := strconv.ParseFloat(rec["deliverFee"].(string), 64)
	if err != nil {
		t.Fatal(err)
	}
	info := fetchShopInfo(t, f, "payer", "test")
	if info["money"] != 100-fee || info["fee"] != rec["deliverFee"] {
		t.Errorf("got money %v fee %v, want %v and %v", info["money"], info["fee"], 100-fee, rec["deliverFee"])
	}
	f.do(t, PathOrderCancel, map[string]string{"origin_id": "paid-1", "cancel_id": "1"}, nil).
		want(t, "取消成功", 1, "[]")
	if info := fetchShopInfo(t, f, "payer", "test"); info["money"] != 100.0 || info["fee"] != "0.00" {
		t.Errorf("got money %v fee %v after cancel, want refunded", info["money"], info["fee"])
	}
}

func TestGetToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.do(t, PathCreateUpdate, shopHeaders("1", "u-token"), nil).want(t, "添加成功", 1, "[]")
	valid := map[string]string{"mobile": "13895666331", "password": "s3cret", "per_userid": "u-token",
		"timestamp": unix(t0), "username": "test"}
	tests := []struct {
		name    string
		headers map[string]string
		result  string // "" means success
	}{
		{name: "valid", headers: valid},
		{name: "clock 4 minutes behind", headers: with(valid, "timestamp", unix(t0.Add(-4*time.Minute)))},
		{name: "empty mobile", headers: with(valid, "mobile", ""), result: "手机号不能为空"},
		{name: "unknown user", headers: with(valid, "per_userid", "nobody"), result: "用户名或密码错误"},
		{name: "wrong username", headers: with(valid, "username", "other"), result: "用户名或密码错误"},
		{name: "wrong password", headers: with(valid, "password", "guess"), result: "用户名或密码错误"},
		{name: "wrong mobile", headers: with(valid, "mobile", "13800000000"), result: "用户名或密码错误"},
		{name: "timestamp 6 minutes old", headers: with(valid, "timestamp", unix(t0.Add(-6*time.Minute))),
			result: "时间戳错误"},
		{name: "timestamp in the future", headers: with(valid, "timestamp", unix(t0.Add(6*time.Minute))),
			result: "时间戳错误"},
		{name: "timestamp in ms", headers: with(valid, "timestamp", strconv.FormatInt(t0.UnixMilli(), 10)),
			result: "时间戳错误"},
		{name: "timestamp garbage", headers: with(valid, "timestamp", "now"), result: "时间戳错误"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.do(t, PathGetToken, tt.headers, nil)
			if tt.result != "" {
				r.want(t, "失败", 0, strconv.Quote(tt.result))
				return
			}
			r.want(t, "成功", 1, "")
			var token string
			if err := json.Unmarshal(r.result, &token); err != nil || len(token) < 16 {
				t.Errorf("got result %s, want a token string", r.result)
			}
		})
	}
}
