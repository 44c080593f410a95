// Package damaijia is the HTTP client of damaijia168 (大麦家), the gift
// parcel shipper: its login token, its JSON endpoints, its status codes.
// Every call goes through internal/vendorcall, and its token through
// internal/tokenbroker. Its types are the logistics domain's; proto types
// never reach it.
package damaijia

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/tokenbroker"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// Vendor names damaijia in errors, logs and metrics.
const Vendor = "damaijia"

// Options configures a Client beyond its transport and base URL.
type Options struct {
	// AppID and AppSecret log in (DAMAIJIA_APP_ID, DAMAIJIA_APP_SECRET).
	AppID, AppSecret string
	// CancelPath is the cancel endpoint; empty means DefaultCancelPath.
	CancelPath string
	// Call configures the vendor call layer.
	Call vendorcall.Config
	// SharedToken, when set, shares the access token with the service's
	// other replicas (one login per expiry among them); nil keeps it in
	// this process.
	SharedToken tokenbroker.Shared
	// Registerer receives the vendor-call and login metrics; nil records none.
	Registerer prometheus.Registerer
	// Logger receives vendor-call failures and logins; nil discards them.
	Logger *slog.Logger
	// Observe learns of every call sent (the usage ledger's Observe); nil
	// records none.
	Observe func(ctx context.Context, o vendorcall.Observation) int64
}

// Client calls damaijia. It is safe for concurrent use.
type Client struct {
	// china is Asia/Shanghai, the zone of the times damaijia sends as
	// text.
	china  *time.Location
	base   string
	opts   Options
	caller *vendorcall.Caller
	broker *tokenbroker.Broker
}

// New returns a Client over hc (a plain transport: damaijia signs nothing,
// the token goes in the Authorization header) and baseURL, e.g.
// "http://www.damaijia168.com/vv/external".
func New(hc *http.Client, baseURL string, opts Options) (*Client, error) {
	caller, err := vendorcall.New(Vendor, opts.Call, vendorcall.Options{
		HTTPClient: hc, Registerer: opts.Registerer, Logger: opts.Logger, Observe: opts.Observe,
	})
	if err != nil {
		return nil, err
	}
	if opts.CancelPath == "" {
		opts.CancelPath = DefaultCancelPath
	}
	// The binaries embed time/tzdata: this loads in a container without
	// zoneinfo too.
	china, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return nil, fmt.Errorf("damaijia: China time: %w", err)
	}
	c := &Client{china: china, base: strings.TrimRight(baseURL, "/"), opts: opts, caller: caller}
	c.broker, err = tokenbroker.New(tokenbroker.Options{
		Vendor: Vendor, Login: c.login, Shared: opts.SharedToken, Registerer: opts.Registerer, Logger: opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// login obtains a token. A refusal names the variables to check; the
// secret and the token are never in an error or a log.
func (c *Client) login(ctx context.Context) (string, error) {
	body, err := json.Marshal(loginJSON{AppID: c.opts.AppID, AppSecret: c.opts.AppSecret})
	if err != nil {
		return "", err
	}
	var out loginData
	err = c.caller.Read(ctx, PathLogin, vendorcall.RetryPolicy{},
		func() (*http.Request, error) { return c.jsonRequest(http.MethodPost, PathLogin, body) },
		decodeInto(PathLogin, &out))
	if ve, ok := vendorerr.As(err); ok && (ve.Kind == vendorerr.KindAuth || ve.Kind == vendorerr.KindInvalidArgument) {
		ve.Kind = vendorerr.KindAuth
		ve.Message = "login refused: check DAMAIJIA_APP_ID and DAMAIJIA_APP_SECRET"
		// The status names them too, not only the logged cause.
		ve.Config = "DAMAIJIA_APP_ID, DAMAIJIA_APP_SECRET"
		return "", ve
	}
	if err != nil {
		return "", err
	}
	return string(out.AccessToken), nil
}

// jsonRequest builds a request with a JSON body (nil for none).
func (c *Client) jsonRequest(method, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// read runs a read of path (with query, if any) with the token, retried
// by the default policy. Metrics and the usage ledger name the path
// without its query.
func (c *Client) read(ctx context.Context, method, path string, query url.Values, body []byte, out any) error {
	target := path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	return c.broker.Do(ctx, func(ctx context.Context, token string) error {
		return c.caller.Read(ctx, path, vendorcall.RetryPolicy{}, func() (*http.Request, error) {
			req, err := c.jsonRequest(method, target, body)
			if err != nil {
				return nil, err
			}
			req.Header.Set(headerToken, token)
			return req, nil
		}, decodeInto(path, out))
	})
}

// mutate sends a mutation once with the token. The broker re-sends it only
// when the vendor refused the token, which means it was not applied.
func (c *Client) mutate(ctx context.Context, path string, body []byte, out any) error {
	return c.broker.Do(ctx, func(ctx context.Context, token string) error {
		req, err := c.jsonRequest(http.MethodPost, path, body)
		if err != nil {
			return err
		}
		req.Header.Set(headerToken, token)
		return c.caller.Mutate(ctx, path, req, decodeInto(path, out))
	})
}

// ListWarehouses returns every warehouse.
func (c *Client) ListWarehouses(ctx context.Context) ([]Warehouse, error) {
	var out []warehouseJSON
	if err := c.read(ctx, http.MethodGet, PathWarehouses, nil, nil, &out); err != nil {
		return nil, err
	}
	ws := make([]Warehouse, 0, len(out))
	for _, w := range out {
		ws = append(ws, w.domain())
	}
	return ws, nil
}

// ListProducts returns page (from 1) of warehouseID's products, size per
// page, and the vendor's total count.
func (c *Client) ListProducts(ctx context.Context, warehouseID string, page, size int) ([]Product, int, error) {
	q := productsQuery(warehouseID, page, size)
	var out pageJSON[productJSON]
	if err := c.read(ctx, http.MethodGet, PathProducts, q, nil, &out); err != nil {
		return nil, 0, err
	}
	ps := make([]Product, 0, len(out.List))
	for _, p := range out.List {
		ps = append(ps, p.domain())
	}
	return ps, int(out.Total), nil
}

// ListPackages returns the packages f selects and the vendor's total count.
func (c *Client) ListPackages(ctx context.Context, f PackageFilter) ([]Package, int, error) {
	body, err := json.Marshal(f.json())
	if err != nil {
		return nil, 0, err
	}
	var out pageJSON[packageJSON]
	if err := c.read(ctx, http.MethodPost, PathPackages, nil, body, &out); err != nil {
		return nil, 0, err
	}
	ps := make([]Package, 0, len(out.List))
	for _, p := range out.List {
		ps = append(ps, p.domain(c.china))
	}
	return ps, int(out.Total), nil
}

// CreateOrder orders parcels and returns the vendor's order number.
//
// It is a mutation, sent once: a lost reply is vendorerr.KindOutcomeUnknown
// and is never re-sent here. Whether it was applied is for FindOrder to
// tell, by site_order_id.
func (c *Client) CreateOrder(ctx context.Context, o Order) (string, error) {
	body, err := json.Marshal(o.json())
	if err != nil {
		return "", &vendorerr.Error{Kind: vendorerr.KindUnsendable, Vendor: Vendor, Endpoint: PathCreate, NotSent: true,
			Message: "the order cannot be encoded", Err: err}
	}
	var out createJSON
	if err := c.mutate(ctx, PathCreate, body, &out); err != nil {
		return "", err
	}
	return string(out.OrderSN), nil
}

// FindOrder returns the order number of the order siteOrderID, or "" when
// the vendor has none (a read: package_get_list by site_order_id). It is
// the one read-back of an order_create whose outcome is unknown.
func (c *Client) FindOrder(ctx context.Context, siteOrderID string) (string, error) {
	pkgs, _, err := c.ListPackages(ctx, PackageFilter{SiteOrderID: siteOrderID, Page: 1, Size: 1})
	if err != nil {
		return "", err
	}
	for _, p := range pkgs {
		// A package without site_order_id is taken at the filter's word.
		if p.SiteOrderID == siteOrderID || p.SiteOrderID == "" {
			return p.OrderSN, nil
		}
	}
	return "", nil
}

// CancelPath is the cancel endpoint (DAMAIJIA_CANCEL_PATH, or
// DefaultCancelPath), as errors and metrics name it.
func (c *Client) CancelPath() string { return c.opts.CancelPath }

// CancelOrder cancels the shipment of the order siteOrderID.
func (c *Client) CancelOrder(ctx context.Context, siteOrderID string) error {
	body, err := json.Marshal(cancelJSON{SiteOrderID: siteOrderID})
	if err != nil {
		return err
	}
	return c.mutate(ctx, c.opts.CancelPath, body, nil)
}
