package server

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dispatch"
)

// StatusMap maps the vendor's raw order_status to OrderStatus. The vendor
// has not published its mapping, so it is configuration.
type StatusMap map[string]deliveryv1.OrderStatus

// DefaultStatusMap holds the only codes the vendor's samples show.
const DefaultStatusMap = "0=WAITING,4=DELIVERING,5=CANCELLED"

// ParseStatusMap parses "raw=NAME,…" where NAME is an OrderStatus without
// its ORDER_STATUS_ prefix, e.g. "0=WAITING,4=DELIVERING".
func ParseStatusMap(s string) (StatusMap, error) {
	m := StatusMap{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		raw, name, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("status map entry %q: want raw=NAME", pair)
		}
		v, ok := deliveryv1.OrderStatus_value["ORDER_STATUS_"+strings.ToUpper(strings.TrimSpace(name))]
		if !ok || v == 0 {
			return nil, fmt.Errorf("status map entry %q: unknown status %q", pair, name)
		}
		m[strings.TrimSpace(raw)] = deliveryv1.OrderStatus(v)
	}
	return m, nil
}

func (m StatusMap) status(raw string) deliveryv1.OrderStatus {
	if raw == "" {
		return deliveryv1.OrderStatus_ORDER_STATUS_UNSPECIFIED
	}
	if st, ok := m[raw]; ok {
		return st
	}
	return deliveryv1.OrderStatus_ORDER_STATUS_OTHER
}

// Cancelled reports whether an order with the raw status is cancelled;
// known is false for a status the map does not name.
func (m StatusMap) Cancelled(raw string) (cancelled, known bool) {
	st := m.status(raw)
	return st == deliveryv1.OrderStatus_ORDER_STATUS_CANCELLED,
		st != deliveryv1.OrderStatus_ORDER_STATUS_OTHER && st != deliveryv1.OrderStatus_ORDER_STATUS_UNSPECIFIED
}

// Final reports whether an order with the raw status will change no more:
// it maps to DELIVERED or CANCELLED.
func (m StatusMap) Final(raw string) bool {
	st := m.status(raw)
	return st == deliveryv1.OrderStatus_ORDER_STATUS_DELIVERED || st == deliveryv1.OrderStatus_ORDER_STATUS_CANCELLED
}

// timestamp returns nil for the zero time: the vendor had none.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func latLng(p *dispatch.LatLng) *deliveryv1.LatLng {
	if p == nil {
		return nil
	}
	return &deliveryv1.LatLng{Latitude: p.Lat, Longitude: p.Lng}
}

func newOrder(r *deliveryv1.CreateOrderRequest) dispatch.NewOrder {
	o := dispatch.NewOrder{
		OriginID: r.GetOriginId(), ShopNo: r.GetShopNo(), City: r.GetCity(), DailySerial: r.GetDailySerial(),
		CargoPrice: r.GetCargoPrice(), WeightKg: r.GetWeightKg(), ReceiverName: r.GetReceiverName(),
		ReceiverAddress: r.GetReceiverAddress(), ReceiverPhone: r.GetReceiverPhone(),
		ReceiverExtension: r.GetReceiverPhoneExtension(),
		Receiver:          dispatch.LatLng{Lat: r.GetReceiverLocation().GetLatitude(), Lng: r.GetReceiverLocation().GetLongitude()},
		Mode:              int(r.GetMode()), Remark: r.GetRemark(),
	}
	if r.GetDoorTime() != nil {
		o.DoorTime = r.GetDoorTime().AsTime()
	}
	for _, g := range r.GetGoods() {
		o.Goods = append(o.Goods, dispatch.Goods{Name: g.GetName(), Quantity: g.GetQuantity(), Price: g.GetPrice()})
	}
	return o
}

func (s *Server) order(o *dispatch.Order) *deliveryv1.Order {
	out := &deliveryv1.Order{
		OriginId: o.OriginID, VendorOrderNumber: o.VendorOrderNumber, Carrier: o.Carrier,
		CarrierIconUrl: o.CarrierIcon, Status: s.statuses.status(o.RawStatus), RawStatus: o.RawStatus,
		Remark: o.Remark, DistanceMeters: o.DistanceMeters, DeliveryFee: o.DeliveryFee,
		VendorClientId: o.ClientID, CreateTime: timestamp(o.CreateTime), AcceptTime: timestamp(o.AcceptTime),
		FetchTime: timestamp(o.FetchTime), FinishTime: timestamp(o.FinishTime), ShopAddress: o.ShopAddress,
		ShopContactName: o.ShopContact, ShopPhone: o.ShopPhone, Goods: o.Goods, ReceiverName: o.ReceiverName,
		ReceiverAddress: o.ReceiverAddress, ReceiverPhone: o.ReceiverPhone,
		ReceiverLocation: latLng(o.ReceiverLocation), ShopLocation: latLng(o.ShopLocation),
		WeightKg: o.WeightKg, Mode: deliveryv1.DeliveryMode(o.Mode), Scheduled: o.Scheduled,
	}
	if o.RiderName != "" || o.RiderPhone != "" || o.RiderLocation != nil {
		out.Rider = &deliveryv1.Rider{Name: o.RiderName, Phone: o.RiderPhone,
			Location: latLng(o.RiderLocation), DistanceText: o.RiderDistance}
	}
	return out
}

func (s *Server) orderSummary(o *dispatch.OrderSummary) *deliveryv1.OrderSummary {
	return &deliveryv1.OrderSummary{
		OriginId: o.OriginID, VendorOrderNumber: o.VendorOrderNumber, Carrier: o.Carrier,
		ReceiverName: o.ReceiverName, City: o.City, Status: s.statuses.status(o.RawStatus), RawStatus: o.RawStatus,
		AcceptTime: timestamp(o.AcceptTime), FetchTime: timestamp(o.FetchTime),
		FinishTime: timestamp(o.FinishTime), CancelTime: timestamp(o.CancelTime),
	}
}

func shopUpsert(r *deliveryv1.UpsertShopRequest) dispatch.ShopUpsert {
	return dispatch.ShopUpsert{
		Create: r.GetCreate(), PerUserID: r.GetPerUserid(), Username: r.GetUsername(), Password: r.GetPassword(),
		Mobile: r.GetMobile(), Phone: r.GetPhone(), ContactName: r.GetContactName(), ShopName: r.GetShopName(),
		ShopAddress: r.GetShopAddress(), CityName: r.GetCityName(), AreaName: r.GetAreaName(),
		Location:      dispatch.LatLng{Lat: r.GetLocation().GetLatitude(), Lng: r.GetLocation().GetLongitude()},
		CargoTypeCode: r.GetCargoTypeCode(), Mode: int(r.GetMode()), FranchiseAppID: r.GetFranchiseAppId(),
		HeadquartersMobile: r.GetHeadquartersMobile(),
	}
}

func shopProto(s *dispatch.Shop) *deliveryv1.Shop {
	return &deliveryv1.Shop{
		Id: s.ID, PerUserid: s.PerUserID, Username: s.Username, Balance: s.Balance, AdminBalance: s.AdminBalance,
		Fee: s.Fee, ShopName: s.ShopName, ShopCode: s.ShopCode, CargoTypeCode: s.CargoTypeCode,
		CityName: s.CityName, AreaName: s.AreaName, ShopAddress: s.ShopAddress, ContactName: s.ContactName,
		Mobile: s.Mobile, Phone: s.Phone, Status: s.Status, Mode: deliveryv1.ShopDeliveryMode(s.Mode),
		HasShop: s.HasShop, CreateTime: timestamp(s.CreateTime), UpdateTime: timestamp(s.UpdateTime),
	}
}

// createdProto is CreateOrder's answer for a dispatch.
func createdProto(c dispatch.Created) *deliveryv1.CreateOrderResponse {
	return &deliveryv1.CreateOrderResponse{OriginId: c.OriginID, VendorMessage: c.VendorMessage}
}
