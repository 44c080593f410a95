package dingdangsim

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Shop rules the simulator applies.
const (
	firstShopID    = 1771  // the id in the document's sample
	newShopMoney   = 10000 // cents: new shops start with ¥100
	tokenMaxSkew   = 5 * time.Minute
	mobileDigits   = 11
	maxModeSetting = 4 // mode_distribution 0 any … 4 other
)

// shop is a merchant user with its one store, as createUpdateN stores it.
type shop struct {
	id                                     int
	code                                   string
	perUserID, username, password          string
	mobile, phone, upmobile, appid         string
	stationName, stationAddress            string
	cityName, areaName, contactName, cargo string
	pos                                    point
	hasPos                                 bool
	mode                                   int
	moneyCents, adminMoneyCents, feeCents  int64
	updated                                time.Time
}

// shopInput is createUpdateN's headers.
type shopInput struct {
	appid, areaName, cargo, cityName, contactName, isadd string
	lat, lng, mobile, mode, password, perUserID, phone   string
	stationAddress, stationName, upmobile, username      string
}

func readShopInput(h http.Header) shopInput {
	return shopInput{
		appid:          h.Get("appid"),
		areaName:       h.Get("area_name"),
		cargo:          h.Get("cargotype_code"),
		cityName:       h.Get("city_name"),
		contactName:    h.Get("contact_name"),
		isadd:          h.Get("isadd"),
		lat:            h.Get("lat"),
		lng:            h.Get("lng"),
		mobile:         h.Get("mobile"),
		mode:           h.Get("mode_distribution"),
		password:       h.Get("password"),
		perUserID:      h.Get("per_userid"),
		phone:          h.Get("phone"),
		stationAddress: h.Get("station_address"),
		stationName:    h.Get("station_name"),
		upmobile:       h.Get("upmobile"),
		username:       h.Get("username"),
	}
}

// createUpdate is /open/shop/createUpdateN ("返回类型:JSON"): isadd=1 adds a
// user and shop, isadd=0 updates the one with that per_userid (non-empty
// headers overwrite). Failures carry the message as result too.
func (s *Simulator) createUpdate(r *http.Request) response {
	in := readShopInput(r.Header)
	if len(in.mobile) != mobileDigits || !isDigits(in.mobile) {
		return jsonFail(msgBadMobile)
	}
	mode, modeOK := 0, true
	if in.mode != "" {
		var err error
		mode, err = strconv.Atoi(in.mode)
		modeOK = err == nil && mode >= 0 && mode <= maxModeSetting
	}
	var pos point
	var latOK, lngOK bool
	pos.lat, latOK = parseCoord(in.lat, 90)
	pos.lng, lngOK = parseCoord(in.lng, 180)
	posGiven := in.lat != "" || in.lng != ""
	if !modeOK || strings.TrimSpace(in.perUserID) == "" || (in.isadd != "0" && in.isadd != "1") ||
		(posGiven && (!latOK || !lngOK)) {
		return jsonFail(msgInvalid)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shops[in.perUserID]
	if in.isadd == "0" {
		if sh == nil {
			return jsonFail(msgNoUser)
		}
		sh.update(in, mode, pos, posGiven, now)
		s.log.Debug("dingdangsim: shop updated", "per_userid", in.perUserID)
		return jsonOK(msgUpdated)
	}
	if sh != nil {
		return jsonFail(msgUserExists)
	}
	for _, v := range []string{in.username, in.password, in.stationName, in.stationAddress, in.cityName, in.contactName} {
		if strings.TrimSpace(v) == "" {
			return jsonFail(msgInvalid)
		}
	}
	if !posGiven {
		return jsonFail(msgInvalid)
	}
	if len(s.shops) >= maxShops {
		return jsonFail(msgTooManyUsers)
	}
	s.lastShopID = max(s.lastShopID+1, firstShopID)
	sh = &shop{
		id:         s.lastShopID,
		code:       fmt.Sprintf("MD%d%03d", now.Unix(), s.lastShopID),
		perUserID:  in.perUserID,
		moneyCents: newShopMoney,
	}
	sh.update(in, mode, pos, true, now)
	s.shops[sh.perUserID] = sh
	s.shopCodes[sh.code] = sh.perUserID
	s.log.Debug("dingdangsim: shop added", "per_userid", in.perUserID, "code", sh.code)
	return jsonOK(msgAdded)
}

// update overwrites the fields given (non-empty) in in.
func (sh *shop) update(in shopInput, mode int, pos point, posGiven bool, now time.Time) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&sh.username, in.username)
	set(&sh.password, in.password)
	set(&sh.mobile, in.mobile)
	set(&sh.phone, in.phone)
	set(&sh.upmobile, in.upmobile)
	set(&sh.appid, in.appid)
	set(&sh.stationName, in.stationName)
	set(&sh.stationAddress, in.stationAddress)
	set(&sh.cityName, in.cityName)
	set(&sh.areaName, in.areaName)
	set(&sh.contactName, in.contactName)
	set(&sh.cargo, in.cargo)
	if in.mode != "" {
		sh.mode = mode
	}
	if posGiven {
		sh.pos, sh.hasPos = pos, true
	}
	sh.updated = now
}

func jsonOK(msg string) response {
	return response{contentType: contentTypeJSON, env: envelope{Msg: msg, Code: 1, Result: []struct{}{}}}
}

func jsonFail(msg string) response {
	return response{contentType: contentTypeJSON, env: envelope{Msg: msg, Code: 0, Result: msg}}
}

// shopInfo is getShopInfo's result with the sample's drift: id, money,
// status and mode_distribution are numbers, adminmoney and fee strings,
// created_at null and updated_at a string of unix seconds.
type shopInfo struct {
	ID               int     `json:"id"`
	Money            float64 `json:"money"`
	AdminMoney       string  `json:"adminmoney"`
	Username         string  `json:"username"`
	StationName      string  `json:"station_name"`
	CargotypeCode    string  `json:"cargotype_code"`
	CityName         string  `json:"city_name"`
	AreaName         string  `json:"area_name"`
	StationAddress   string  `json:"station_address"`
	ContactName      string  `json:"contact_name"`
	Mobile           string  `json:"mobile"`
	Phone            string  `json:"phone"`
	Status           int     `json:"status"`
	ModeDistribution int     `json:"mode_distribution"`
	CreatedAt        *string `json:"created_at"`
	UpdatedAt        string  `json:"updated_at"`
	PerUserID        string  `json:"per_userid"`
	IsHasshop        int     `json:"isHasshop"`
	Code             string  `json:"code"`
	Fee              string  `json:"fee"`
}

func yuan(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

// getShopInfo is /open/shop/getShopInfo: headers per_userid and username
// must name a shop; headquarters_id, when given, must be its id.
func (s *Simulator) getShopInfo(r *http.Request) response {
	per := r.Header.Get("per_userid")
	user := r.Header.Get("username")
	hq := r.Header.Get("headquarters_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shops[per]
	if sh == nil || sh.username != user || (hq != "" && hq != strconv.Itoa(sh.id)) {
		return failText(msgFailed, msgBadFormat)
	}
	return ok(shopInfo{
		ID:               sh.id,
		Money:            float64(sh.moneyCents) / 100,
		AdminMoney:       yuan(sh.adminMoneyCents),
		Username:         sh.username,
		StationName:      sh.stationName,
		CargotypeCode:    sh.cargo,
		CityName:         sh.cityName,
		AreaName:         sh.areaName,
		StationAddress:   sh.stationAddress,
		ContactName:      sh.contactName,
		Mobile:           sh.mobile,
		Phone:            sh.phone,
		Status:           1,
		ModeDistribution: sh.mode,
		UpdatedAt:        strconv.FormatInt(sh.updated.Unix(), 10),
		PerUserID:        sh.perUserID,
		IsHasshop:        1,
		Code:             sh.code,
		Fee:              yuan(sh.feeCents),
	})
}

// getToken is /open/token/getToken: headers mobile, password, per_userid,
// username and timestamp (unix seconds within 5 minutes of now).
func (s *Simulator) getToken(r *http.Request) response {
	h := r.Header
	mobile := h.Get("mobile")
	if mobile == "" {
		return failText(msgFailed, msgNoMobile)
	}
	s.mu.Lock()
	sh := s.shops[h.Get("per_userid")]
	known := sh != nil && sh.username == h.Get("username") && sh.mobile == mobile &&
		subtle.ConstantTimeCompare([]byte(sh.password), []byte(h.Get("password"))) == 1
	s.mu.Unlock()
	if !known {
		return failText(msgFailed, msgBadLogin)
	}
	ts, err := strconv.ParseInt(h.Get("timestamp"), 10, 64)
	if d := s.now().Sub(time.Unix(ts, 0)); err != nil || d > tokenMaxSkew || d < -tokenMaxSkew {
		return failText(msgFailed, msgBadTimestamp)
	}
	return ok(rand.Text())
}
