package dingdang

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/internal/vendorjson"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
)

// Order is dispatch.Order under the name internal/tracking knows it by.
type Order = dispatch.Order

// ReasonOther is the cancel reason id that needs a free-text reason.
const ReasonOther = 10000

// CreateOrder dispatches o and returns the vendor's message. It is sent
// once: a failure comes back as the call layer classified it, and one of
// unknown outcome (vendorerr.KindOutcomeUnknown) is for the caller to
// resolve by reading the order back by origin_id (GetOrder), never by
// sending it again. The vendor's duplicate refusal (订单号重复) is
// KindAlreadyExists.
func (c *Client) CreateOrder(ctx context.Context, o dispatch.NewOrder) (string, error) {
	callback := o.Callback
	if callback == "" {
		callback = c.opts.CallbackURL
	}
	headers, form, err := createParams(o, callback)
	if err != nil {
		return "", err
	}
	return c.write(ctx, pathCreate, headers, form, nil, nil)
}

// goodsJSON is one line of createOrder's goods parameter, a JSON array.
type goodsJSON struct {
	Name     string `json:"name"`
	Quantity uint32 `json:"quantity"`
	Price    string `json:"price,omitempty"`
}

// DuplicateOrigin is the refusal createOrder gives a second order under
// originID (订单号重复): KindAlreadyExists. It answers a dispatch found,
// by reading its origin_id back, to have lost its id to another order.
func (c *Client) DuplicateOrigin(originID string) error {
	return &vendorerr.Error{Kind: vendorerr.KindAlreadyExists, Vendor: Vendor, Endpoint: pathCreate,
		Message: "origin_id " + originID + " is another order's"}
}

// SuccessMessage is the vendor's message for a call that succeeded (成功),
// given for a dispatch confirmed by reading it back rather than by its own
// answer.
func (c *Client) SuccessMessage() string { return msgSuccess }

func createParams(o dispatch.NewOrder, callback string) ([]header, map[string][]string, error) {
	lines := make([]goodsJSON, 0, len(o.Goods))
	for _, g := range o.Goods {
		lines = append(lines, goodsJSON(g))
	}
	goods, err := json.Marshal(lines)
	if err != nil {
		return nil, nil, err
	}
	door := doorTimeNow
	if !o.DoorTime.IsZero() {
		door = strconv.FormatInt(o.DoorTime.Unix(), 10)
	}
	headers := []header{
		{"info", "remark", o.Remark},
		{"mode_distribution", "mode", strconv.Itoa(o.Mode)},
		{"receiver_lat", "receiver_location.latitude", formatCoord(o.Receiver.Lat)},
		{"receiver_lng", "receiver_location.longitude", formatCoord(o.Receiver.Lng)},
	}
	if callback != "" {
		headers = append(headers, header{"callback", "", callback})
	}
	form := map[string][]string{
		"bigNumb":          {o.DailySerial},
		"cargo_price":      {o.CargoPrice},
		"city":             {o.City},
		"door_time":        {door},
		"goods":            {string(goods)},
		"origin_id":        {o.OriginID},
		"receiver_address": {o.ReceiverAddress},
		"receiver_mobile":  {o.ReceiverExtension},
		"receiver_name":    {o.ReceiverName},
		"receiver_phone":   {o.ReceiverPhone},
		"shop_no":          {o.ShopNo},
		"source":           {orderSource},
		"weight":           {strconv.FormatFloat(o.WeightKg, 'f', -1, 64)},
	}
	return headers, form, nil
}

func formatCoord(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

// recordJSON is orderRecord's result.
type recordJSON struct {
	OrderNumber      vendorjson.String   `json:"ordernumber"`
	InsertTime       vendorjson.UnixTime `json:"inserttime"`
	Lng              vendorjson.String   `json:"lng"`
	Lat              vendorjson.String   `json:"lat"`
	Name             vendorjson.String   `json:"name"`
	OriginID         vendorjson.String   `json:"origin_id"`
	Info             vendorjson.String   `json:"info"`
	Distance         vendorjson.Int      `json:"distance"`
	DeliverFee       vendorjson.String   `json:"deliverFee"`
	ClientID         vendorjson.String   `json:"client_id"`
	OrderStatus      vendorjson.String   `json:"order_status"`
	PsyName          vendorjson.String   `json:"psy_name"`
	PsyMobile        vendorjson.String   `json:"psy_mobile"`
	AcceptTime       vendorjson.UnixTime `json:"acceptTime"`
	FinishTime       vendorjson.UnixTime `json:"finishTime"`
	FetchTime        vendorjson.UnixTime `json:"fetchTime"`
	StationAddress   vendorjson.String   `json:"station_address"`
	ContactName      vendorjson.String   `json:"contact_name"`
	Phone            vendorjson.String   `json:"phone"`
	Goods            vendorjson.String   `json:"goods"`
	DelayPublishTime vendorjson.String   `json:"delay_publish_time"`
	ReceiverLat      vendorjson.String   `json:"receiver_lat"`
	ReceiverLng      vendorjson.String   `json:"receiver_lng"`
	ReceiverName     vendorjson.String   `json:"receiver_name"`
	ReceiverAddress  vendorjson.String   `json:"receiver_address"`
	ReceiverPhone    vendorjson.String   `json:"receiver_phone"`
	Weight           vendorjson.Float    `json:"weight"`
	Mode             vendorjson.Int      `json:"mode_distribution"`
	Icon             vendorjson.String   `json:"icon"`
	TransporterLng   vendorjson.String   `json:"transporterLng"`
	TransporterLat   vendorjson.String   `json:"transporterLat"`
	Juli             vendorjson.String   `json:"juli"`
}

// GetOrder returns one order's delivery detail.
func (c *Client) GetOrder(ctx context.Context, originID string) (*dispatch.Order, error) {
	var res vendorjson.Object[recordJSON]
	if err := c.read(ctx, pathRecord, []header{{"origin_id", "origin_id", originID}}, &res, unknownOrder); err != nil {
		return nil, err
	}
	if !res.Present {
		return nil, &vendorerr.Error{Kind: vendorerr.KindNotFound, Vendor: Vendor, Endpoint: pathRecord,
			Message: "the vendor returned no order for origin_id " + originID}
	}
	r := res.Value
	o := &dispatch.Order{
		OriginID: string(r.OriginID), VendorOrderNumber: string(r.OrderNumber), Carrier: string(r.Name),
		CarrierIcon: string(r.Icon), RawStatus: string(r.OrderStatus), Remark: string(r.Info),
		DistanceMeters: int64(r.Distance), DeliveryFee: string(r.DeliverFee), ClientID: string(r.ClientID),
		RiderName: string(r.PsyName), RiderPhone: string(r.PsyMobile), RiderDistance: string(r.Juli),
		RiderLocation: parseLatLng(r.TransporterLat, r.TransporterLng),
		CreateTime:    timeOf(r.InsertTime), AcceptTime: timeOf(r.AcceptTime), FetchTime: timeOf(r.FetchTime),
		FinishTime: timeOf(r.FinishTime), ShopAddress: string(r.StationAddress), ShopContact: string(r.ContactName),
		ShopPhone: string(r.Phone), ShopLocation: parseLatLng(r.Lat, r.Lng), Goods: string(r.Goods),
		ReceiverName: string(r.ReceiverName), ReceiverAddress: string(r.ReceiverAddress),
		ReceiverPhone: string(r.ReceiverPhone), ReceiverLocation: parseLatLng(r.ReceiverLat, r.ReceiverLng),
		WeightKg: float64(r.Weight), Mode: int(r.Mode), Scheduled: string(r.DelayPublishTime),
	}
	return o, nil
}

// unknownOrder reclassifies 参数无效 from a lookup by origin_id as
// KindNotFound: the service validated every other parameter before the
// call, so the invalid one is the order id the vendor does not know. It
// runs inside the call's Decoder, so the metric counts VENDOR_NOT_FOUND too.
func unknownOrder(ve *vendorerr.Error) {
	if ve.Kind == vendorerr.KindRefused && ve.Message == msgInvalidParams {
		ve.Kind = vendorerr.KindNotFound
	}
}

// notYet is the value Dingdang sends for a time that has not happened.
const notYet = 2147483647

// timeOf returns the zero time for a time the vendor did not send or sent
// as notYet.
func timeOf(u vendorjson.UnixTime) time.Time {
	if !u.Valid || u.Time.Unix() == notYet {
		return time.Time{}
	}
	return u.Time
}

// parseLatLng returns nil unless both coordinates are numbers.
func parseLatLng(lat, lng vendorjson.String) *dispatch.LatLng {
	if lat == "" || lng == "" {
		// No rider yet: strconv's error for "" is an allocation.
		return nil
	}
	la, err1 := strconv.ParseFloat(string(lat), 64)
	ln, err2 := strconv.ParseFloat(string(lng), 64)
	if err1 != nil || err2 != nil {
		return nil
	}
	return &dispatch.LatLng{Lat: la, Lng: ln}
}

// listJSON is one element of order/list's result.
type listJSON struct {
	OriginID    vendorjson.String   `json:"origin_id"`
	Name        vendorjson.String   `json:"name"`
	OrderNumber vendorjson.String   `json:"ordernumber"`
	Receiver    vendorjson.String   `json:"receiver_name"`
	City        vendorjson.String   `json:"city"`
	CityName    vendorjson.String   `json:"city_name"`
	OrderStatus vendorjson.String   `json:"order_status"`
	AcceptTime  vendorjson.UnixTime `json:"acceptTime"`
	FetchTime   vendorjson.UnixTime `json:"fetchTime"`
	FinishTime  vendorjson.UnixTime `json:"finishTime"`
	CancelTime  vendorjson.UnixTime `json:"cancelTime"`
}

// ListOrders lists orders; types is the vendor filter (1 waiting,
// 2 accepted, 3 done, 4 cancelled, 0 all).
func (c *Client) ListOrders(ctx context.Context, types int) ([]dispatch.OrderSummary, error) {
	filter := ""
	if types > 0 {
		filter = strconv.Itoa(types)
	}
	var rows vendorjson.List[listJSON]
	if err := c.read(ctx, pathList, []header{{"types", "filter", filter}}, &rows, nil); err != nil {
		return nil, err
	}
	out := make([]dispatch.OrderSummary, 0, len(rows))
	for _, r := range rows {
		city := string(r.City)
		if city == "" {
			city = string(r.CityName)
		}
		out = append(out, dispatch.OrderSummary{
			OriginID: string(r.OriginID), VendorOrderNumber: string(r.OrderNumber), Carrier: string(r.Name),
			ReceiverName: string(r.Receiver), City: city, RawStatus: string(r.OrderStatus),
			AcceptTime: timeOf(r.AcceptTime), FetchTime: timeOf(r.FetchTime),
			FinishTime: timeOf(r.FinishTime), CancelTime: timeOf(r.CancelTime),
		})
	}
	return out, nil
}

// reasonJSON is one element of order/Reason's result.
type reasonJSON struct {
	Reason vendorjson.String `json:"reason"`
	ID     vendorjson.Int    `json:"id"`
}

// ListCancelReasons lists the reasons originID can be cancelled with.
func (c *Client) ListCancelReasons(ctx context.Context, originID string) ([]dispatch.CancelReason, error) {
	var rows vendorjson.List[reasonJSON]
	if err := c.read(ctx, pathReason, []header{{"origin_id", "origin_id", originID}}, &rows, unknownOrder); err != nil {
		return nil, err
	}
	out := make([]dispatch.CancelReason, 0, len(rows))
	for _, r := range rows {
		out = append(out, dispatch.CancelReason{ID: uint32(r.ID), Text: string(r.Reason)})
	}
	return out, nil
}

// CancelOrder cancels originID with a reason id (and text for ReasonOther)
// and returns the vendor's message. The vendor answers 参数无效 both for an
// unknown order and for an unknown reason id; CancelOrder tells them apart
// by asking for the order's cancel reasons (a read): an unknown order is
// KindNotFound, an unknown reason KindInvalidArgument.
func (c *Client) CancelOrder(ctx context.Context, originID string, reasonID uint32, reason string) (string, error) {
	return c.write(ctx, pathCancel, []header{
		{"origin_id", "origin_id", originID},
		{"cancel_id", "reason_id", strconv.FormatUint(uint64(reasonID), 10)},
		{"cancelReason", "reason", reason},
	}, nil, nil, func(ve *vendorerr.Error) { c.whyCancelRefused(ctx, ve, originID, reasonID) })
}

// whyCancelRefused refines a cancel's 参数无效, inside the cancel's Decoder
// so that its metric counts the same reason as the status.
func (c *Client) whyCancelRefused(ctx context.Context, ve *vendorerr.Error, originID string, reasonID uint32) {
	if ve.Kind != vendorerr.KindRefused || ve.Message != msgInvalidParams {
		return
	}
	reasons, err := c.ListCancelReasons(ctx, originID)
	switch {
	case vendorerr.IsKind(err, vendorerr.KindNotFound):
		ve.Kind = vendorerr.KindNotFound
		ve.Message += ": no order with this origin_id"
	case err != nil:
		return
	case !slices.ContainsFunc(reasons, func(r dispatch.CancelReason) bool { return r.ID == reasonID }):
		ve.Kind = vendorerr.KindInvalidArgument
		ve.Message += ": cancel_id is not one of the order's cancel reasons"
	}
}
