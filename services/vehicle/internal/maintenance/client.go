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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
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
	// Call configures the vendor call layer (timeout, size limits, rate
	// limit, breaker).
	Call vendorcall.Config
	// Registerer receives the vendor-call metrics; nil records none.
	Registerer prometheus.Registerer
	// ReportRetry bounds the retries of a report fetch after a transport
	// failure, a 5xx or the vendor's -1; zero values mean vendorcall's
	// defaults. A caller that polls (and so owns the retrying) passes
	// vendorcall.NoRetry. A purchase is never retried.
	ReportRetry vendorcall.RetryPolicy
	// Logger receives vendor-call failures; nil discards them.
	Logger *slog.Logger
	// Observe, when set, learns of every call sent (the usage ledger's
	// usage.Ledger.Observe).
	Observe func(ctx context.Context, o vendorcall.Observation) int64
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
// It fails only when the call layer's metrics cannot be registered.
func New(hc *http.Client, baseURL string, opts Options) (*Client, error) {
	caller, err := vendorcall.New(Vendor, opts.Call, vendorcall.Options{
		HTTPClient: hc,
		Classify:   cloudmarket.Classify,
		Registerer: opts.Registerer,
		Logger:     opts.Logger,
		Observe:    opts.Observe,
	})
	if err != nil {
		return nil, err
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), caller: caller, retry: opts.ReportRetry}, nil
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
// vendor may cost money, so it is a vendorcall mutation, sent at most once
// (not even replayed by the transport on a broken keep-alive connection): a
// failure after the request may have left is vendorerr.KindOutcomeUnknown,
// and it is then unknown whether the report was bought.
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
	err = c.caller.Mutate(ctx, PathOrder, req, func(body []byte) error {
		o, err = DecodeOrder(body)
		return err
	})
	return o, err
}

// Report fetches an order's report, or its state while it is not ready.
// It is a read, retried under Options.ReportRetry when the vendor may not
// have seen it: for a one-off fetch.
func (c *Client) Report(ctx context.Context, orderID string) (Result, error) {
	return c.report(ctx, orderID, c.retry)
}

// PollReport is Report sent once, for a caller whose own poll loop owns the
// retrying: one retry policy per call, never one nested in another.
func (c *Client) PollReport(ctx context.Context, orderID string) (Result, error) {
	return c.report(ctx, orderID, vendorcall.NoRetry)
}

func (c *Client) report(ctx context.Context, orderID string, p vendorcall.RetryPolicy) (Result, error) {
	var res Result
	err := c.caller.Read(ctx, PathReport, p,
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
