package dingdang

import (
	"context"
	"strconv"
	"strings"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/internal/vendorjson"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
)

// UpsertShop creates or updates a shop and returns the vendor's message.
// It is never retried: a create is not safe to repeat.
func (c *Client) UpsertShop(ctx context.Context, s dispatch.ShopUpsert) (string, error) {
	isadd := "0"
	if s.Create {
		isadd = "1"
	}
	return c.write(ctx, pathShopUpsert, []header{
		{"appid", "franchise_app_id", s.FranchiseAppID},
		{"area_name", "area_name", s.AreaName},
		{"cargotype_code", "cargo_type_code", s.CargoTypeCode},
		{"city_name", "city_name", s.CityName},
		{"contact_name", "contact_name", s.ContactName},
		{"isadd", "create", isadd},
		{"lat", "location.latitude", formatCoord(s.Location.Lat)},
		{"lng", "location.longitude", formatCoord(s.Location.Lng)},
		{"mobile", "mobile", s.Mobile},
		{"mode_distribution", "mode", strconv.Itoa(s.Mode)},
		{"password", "password", s.Password},
		{"per_userid", "per_userid", s.PerUserID},
		{"phone", "phone", s.Phone},
		{"station_address", "shop_address", s.ShopAddress},
		{"station_name", "shop_name", s.ShopName},
		{"upmobile", "headquarters_mobile", s.HeadquartersMobile},
		{"username", "username", s.Username},
	}, nil, nil, nil)
}

// shopJSON is getShopInfo's result.
type shopJSON struct {
	ID             vendorjson.Int      `json:"id"`
	Money          vendorjson.String   `json:"money"`
	AdminMoney     vendorjson.String   `json:"adminmoney"`
	Username       vendorjson.String   `json:"username"`
	StationName    vendorjson.String   `json:"station_name"`
	CargoTypeCode  vendorjson.String   `json:"cargotype_code"`
	CityName       vendorjson.String   `json:"city_name"`
	AreaName       vendorjson.String   `json:"area_name"`
	StationAddress vendorjson.String   `json:"station_address"`
	ContactName    vendorjson.String   `json:"contact_name"`
	Mobile         vendorjson.String   `json:"mobile"`
	Phone          vendorjson.String   `json:"phone"`
	Status         vendorjson.Int      `json:"status"`
	Mode           vendorjson.Int      `json:"mode_distribution"`
	CreatedAt      vendorjson.UnixTime `json:"created_at"`
	UpdatedAt      vendorjson.UnixTime `json:"updated_at"`
	PerUserID      vendorjson.String   `json:"per_userid"`
	IsHasShop      vendorjson.Bool     `json:"isHasshop"`
	Code           vendorjson.String   `json:"code"`
	Fee            vendorjson.String   `json:"fee"`
}

// unknownMerchant reclassifies getShopInfo's 格式错误 as KindNotFound: the
// service validated the parameters' format before the call, and the
// vendor answers so when per_userid, username and headquarters_id name no
// shop of ours.
func unknownMerchant(ve *vendorerr.Error) {
	if ve.Kind == vendorerr.KindRefused && strings.HasSuffix(ve.Message, msgBadFormat) {
		ve.Kind = vendorerr.KindNotFound
	}
}

// GetShop returns a merchant's shop; an unknown merchant is KindNotFound.
func (c *Client) GetShop(ctx context.Context, perUserID, username, headquartersID string) (*dispatch.Shop, error) {
	var res vendorjson.Object[shopJSON]
	err := c.read(ctx, pathShopInfo, []header{
		{"headquarters_id", "headquarters_id", headquartersID},
		{"per_userid", "per_userid", perUserID},
		{"username", "username", username},
	}, &res, unknownMerchant)
	if err != nil {
		return nil, err
	}
	if !res.Present {
		return nil, &vendorerr.Error{Kind: vendorerr.KindNotFound, Vendor: Vendor, Endpoint: pathShopInfo,
			Message: "the vendor returned no shop for per_userid " + perUserID}
	}
	r := res.Value
	return &dispatch.Shop{
		ID: int64(r.ID), PerUserID: string(r.PerUserID), Username: string(r.Username), Balance: string(r.Money),
		AdminBalance: string(r.AdminMoney), Fee: string(r.Fee), ShopName: string(r.StationName),
		ShopCode: string(r.Code), CargoTypeCode: string(r.CargoTypeCode), CityName: string(r.CityName),
		AreaName: string(r.AreaName), ShopAddress: string(r.StationAddress), ContactName: string(r.ContactName),
		Mobile: string(r.Mobile), Phone: string(r.Phone), Status: int32(r.Status), Mode: int(r.Mode),
		HasShop: bool(r.IsHasShop), CreateTime: timeOf(r.CreatedAt), UpdateTime: timeOf(r.UpdatedAt),
	}, nil
}

// IssueToken returns a merchant console login token.
func (c *Client) IssueToken(ctx context.Context, t dispatch.TokenRequest) (string, error) {
	var token vendorjson.String
	_, err := c.write(ctx, pathToken, []header{
		{"mobile", "mobile", t.Mobile},
		{"password", "password", t.Password},
		{"per_userid", "per_userid", t.PerUserID},
		{"timestamp", "", strconv.FormatInt(c.opts.Now().Unix(), 10)},
		{"username", "username", t.Username},
	}, nil, &token, nil)
	if err != nil {
		return "", err
	}
	if token == "" {
		return "", &vendorerr.Error{Kind: vendorerr.KindUnavailable, Vendor: Vendor, Endpoint: pathToken,
			Message: "the vendor returned an empty token"}
	}
	return string(token), nil
}
