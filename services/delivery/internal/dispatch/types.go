package dispatch

import (
	"time"

	"github.com/vendorgate/vendorgate/services/delivery/internal/store"
)

// The delivery domain's types: what a dispatch, an order and a shop are to
// the service, whatever the vendor calls them. The vendor client returns
// them and the server maps them to and from the protos. The comments name
// the vendor's parameters they travel in.

// LatLng is a GCJ-02 point.
type LatLng struct {
	// Lat is the latitude in degrees.
	Lat float64
	// Lng is the longitude in degrees.
	Lng float64
}

// Goods is one line of an order's goods.
type Goods struct {
	// Name of the item.
	Name string
	// Quantity of the item.
	Quantity uint32
	// Price of one item in yuan, optional.
	Price string
}

// NewOrder is an order to dispatch.
type NewOrder struct {
	OriginID          string    // origin_id: the caller's order id
	ShopNo            string    // shop_no
	City              string    // city
	DailySerial       string    // bigNumb
	CargoPrice        string    // cargo_price, yuan
	WeightKg          float64   // weight
	DoorTime          time.Time // door_time; zero dispatches now
	ReceiverName      string    // receiver_name
	ReceiverAddress   string    // receiver_address
	ReceiverPhone     string    // receiver_phone
	ReceiverExtension string    // receiver_mobile: a virtual number's extension
	Receiver          LatLng    // receiver_lat, receiver_lng
	Mode              int       // mode_distribution: 1 cheapest, 3 fastest
	Remark            string    // info
	Goods             []Goods   // goods
	Callback          string    // callback: this order's status push URL; "" means the vendor client's default
}

// Order is one order's delivery detail (orderRecord).
type Order struct {
	OriginID          string
	VendorOrderNumber string
	Carrier           string
	CarrierIcon       string
	RawStatus         string
	Remark            string
	DistanceMeters    int64
	DeliveryFee       string
	ClientID          string
	RiderName         string
	RiderPhone        string
	RiderDistance     string
	RiderLocation     *LatLng
	CreateTime        time.Time // zero when unknown, like the other times
	AcceptTime        time.Time
	FetchTime         time.Time
	FinishTime        time.Time
	ShopAddress       string
	ShopContact       string
	ShopPhone         string
	ShopLocation      *LatLng
	Goods             string
	ReceiverName      string
	ReceiverAddress   string
	ReceiverPhone     string
	ReceiverLocation  *LatLng
	WeightKg          float64
	Mode              int
	Scheduled         string
}

// OrderSummary is one row of the order list.
type OrderSummary struct {
	OriginID          string
	VendorOrderNumber string
	Carrier           string
	ReceiverName      string
	City              string
	RawStatus         string
	AcceptTime        time.Time
	FetchTime         time.Time
	FinishTime        time.Time
	CancelTime        time.Time
}

// CancelReason is a reason an order can be cancelled with.
type CancelReason struct {
	ID   uint32
	Text string
}

// ShopUpsert creates (Create) or updates a merchant user and its shop.
type ShopUpsert struct {
	Create             bool   // isadd: 1 create, 0 update
	PerUserID          string // per_userid
	Username           string // username
	Password           string // password
	Mobile             string // mobile
	Phone              string // phone
	ContactName        string // contact_name
	ShopName           string // station_name
	ShopAddress        string // station_address
	CityName           string // city_name
	AreaName           string // area_name
	Location           LatLng // lat, lng
	CargoTypeCode      string // cargotype_code
	Mode               int    // mode_distribution: 0 any … 4 other
	FranchiseAppID     string // appid
	HeadquartersMobile string // upmobile
}

// Shop is a merchant's shop and account.
type Shop struct {
	ID            int64
	PerUserID     string
	Username      string
	Balance       string // yuan
	AdminBalance  string // yuan
	Fee           string // yuan
	ShopName      string
	ShopCode      string
	CargoTypeCode string
	CityName      string
	AreaName      string
	ShopAddress   string
	ContactName   string
	Mobile        string
	Phone         string
	Status        int32
	Mode          int
	HasShop       bool
	CreateTime    time.Time // zero when unknown
	UpdateTime    time.Time // zero when unknown
}

// TokenRequest identifies a merchant for IssueToken.
type TokenRequest struct {
	PerUserID string // per_userid
	Username  string // username
	Mobile    string // mobile
	Password  string // password
}

// Event is one recorded status change of an order, as order tracking
// (internal/tracking) hands it out: its record in the store.
type Event = store.Event

// Source says how the service learnt of a status change.
type Source = store.Source

// The event sources.
const (
	// SourcePush is a vendor push, confirmed by reading the order back.
	SourcePush = store.SourcePush
	// SourcePoll is a periodic read of the order.
	SourcePoll = store.SourcePoll
	// SourceRead is a read by the service itself.
	SourceRead = store.SourceRead
)
