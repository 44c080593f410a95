// Package maintenance is the HTTP client of the vehicle maintenance-record
// API (车辆维修保养记录) behind the cloud-market gateway: its two endpoints,
// its JSON with the drift its samples show, and its failure codes. Its types
// are the vehicle domain's; proto types never reach it.
package maintenance

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/vendorgate/vendorgate/internal/vendorcall"
)

// Vendor names the maintenance-record vendor in errors, logs and metrics.
const Vendor = "maintenance"

// The vendor's endpoints, relative to the base URL. Both are GETs.
const (
	// PathOrder buys a report (maintenance_order).
	PathOrder = "/maintenance/order"
	// PathReport fetches an order's report (maintenance_report).
	PathReport = "/maintenance_report/get"
)

// Options configures a Client beyond its transport and base URL.
type Options struct {
	// Call configures the vendor call layer (timeout, size limit); its
	// Vendor is always set to Vendor.
	Call vendorcall.Config
	// Metrics records vendor calls; nil records nothing.
	Metrics *vendorcall.Metrics
	// ReportRetry bounds the retries of a report fetch after a transport
	// failure, a 5xx or the vendor's -1; zero values mean vendorcall's
	// defaults. A purchase is never retried.
	ReportRetry vendorcall.RetryPolicy
	// Logger receives vendor-call failures; nil discards them.
	Logger *slog.Logger
}

// Client calls the maintenance-record API. It is safe for concurrent use.
type Client struct {
	base   string
	caller *vendorcall.Caller
	retry  vendorcall.RetryPolicy
}

// New returns a Client. hc must sign requests (cloudmarket.Signer);
// baseURL is the API root, e.g.
// "https://service-plb7hsqv-1257199080.ap-shanghai.apigateway.myqcloud.com/release".
func New(hc *http.Client, baseURL string, opts Options) *Client {
	opts.Call.Vendor = Vendor
	return &Client{
		base:   strings.TrimRight(baseURL, "/"),
		caller: vendorcall.New(hc, opts.Call, opts.Metrics, opts.Logger),
		retry:  opts.ReportRetry,
	}
}

// OrderRequest is what a purchase names.
type OrderRequest struct {
	// VIN is the vehicle identification number (vendor: vin), required.
	VIN string
	// EngineNumber is the engine number (vendor: engine_number), optional.
	EngineNumber string
	// PlateNumber is the licence plate (vendor: plate_number), optional.
	PlateNumber string
}

// Order buys a report and returns its order. Every call that reaches the
// vendor may cost money, so it is sent once and never retried: a failure
// after the request left (a timeout) leaves it unknown whether the report
// was bought.
func (c *Client) Order(ctx context.Context, r OrderRequest) (Order, error) {
	req, err := c.get(PathOrder, url.Values{
		"vin":           {r.VIN},
		"engine_number": {r.EngineNumber},
		"plate_number":  {r.PlateNumber},
	})
	if err != nil {
		return Order{}, err
	}
	var o Order
	err = c.caller.Do(ctx, PathOrder, req, func(body []byte) error {
		o, err = DecodeOrder(body)
		return err
	})
	return o, err
}

// Report fetches an order's report, or its state while it is not ready.
// It is a read, retried with back-off when the vendor may not have seen it.
func (c *Client) Report(ctx context.Context, orderID string) (Result, error) {
	var res Result
	err := c.caller.DoIdempotent(ctx, PathReport, c.retry,
		func() (*http.Request, error) {
			return c.get(PathReport, url.Values{"order_id": {orderID}})
		},
		func(body []byte) error {
			var err error
			res, err = DecodeResult(body)
			return err
		})
	return res, err
}

// get builds a GET of path with query parameters.
func (c *Client) get(path string, q url.Values) (*http.Request, error) {
	return http.NewRequest(http.MethodGet, c.base+path+"?"+q.Encode(), nil)
}
