package vendorcall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/internal/vendorjson"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultMaxResponseBytes = 1 << 20
)

// Config tunes a Caller.
type Config struct {
	// Vendor names the vendor in errors, logs and metrics, e.g. "dingdang".
	Vendor string
	// Timeout bounds one call; the caller's deadline still applies when
	// shorter. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes bounds a response body. Zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Caller sends vendor requests through one http.Client.
type Caller struct {
	cfg     Config
	client  *http.Client
	metrics *Metrics
	log     *slog.Logger
}

// New returns a Caller. client carries the vendor's signing RoundTripper;
// metrics and log may be nil.
func New(client *http.Client, cfg Config, metrics *Metrics, log *slog.Logger) *Caller {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Caller{cfg: cfg, client: client, metrics: metrics, log: log}
}

// Decoder checks a 2xx response body and decodes it; it returns a
// *vendorerr.Error for a business refusal.
type Decoder func(body []byte) error

// Do sends req (built without a context; Do adds one bounded by the
// configured timeout) and hands a 2xx body to decode. Every failure comes
// back as a *vendorerr.Error, except the caller's own cancellation, which
// comes back as context.Canceled.
func (c *Caller) Do(ctx context.Context, endpoint string, req *http.Request, decode Decoder) error {
	start := time.Now()
	err := c.do(ctx, endpoint, req, decode)
	c.observe(endpoint, start, err)
	return err
}

func (c *Caller) do(ctx context.Context, endpoint string, req *http.Request, decode Decoder) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := c.client.Do(req.WithContext(ctx))
	if err != nil {
		return c.transportError(ctx, endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return c.transportError(ctx, endpoint, err)
	}
	if int64(len(body)) > c.cfg.MaxResponseBytes {
		return c.fail(vendorerr.KindUnavailable, endpoint, resp.StatusCode,
			fmt.Errorf("response larger than %d bytes", c.cfg.MaxResponseBytes))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.httpError(endpoint, resp.StatusCode, body)
	}
	if err := decode(body); err != nil {
		if _, ok := vendorerr.As(err); ok {
			return err
		}
		return c.fail(vendorerr.KindUnavailable, endpoint, resp.StatusCode, fmt.Errorf("undecodable response: %w", err))
	}
	return nil
}

func (c *Caller) transportError(ctx context.Context, endpoint string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled):
		return fmt.Errorf("%s %s: %w", c.cfg.Vendor, endpoint, context.Canceled)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return c.fail(vendorerr.KindTimeout, endpoint, 0, err)
	default:
		return c.fail(vendorerr.KindUnavailable, endpoint, 0, err)
	}
}

// gatewayMessage is the cloud-market gateway's error body.
type gatewayMessage struct {
	Message vendorjson.String `json:"message"`
}

func (c *Caller) httpError(endpoint string, status int, body []byte) error {
	var gm gatewayMessage
	_ = vendorjson.Decode(body, &gm)
	kind := vendorerr.KindUnknown
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		kind = vendorerr.KindAuth
	case status == http.StatusTooManyRequests:
		kind = vendorerr.KindThrottled
	case status >= 500:
		kind = vendorerr.KindUnavailable
	}
	e := &vendorerr.Error{Kind: kind, Vendor: c.cfg.Vendor, Endpoint: endpoint, HTTPStatus: status,
		Code: strconv.Itoa(status), Message: string(gm.Message)}
	if kind == vendorerr.KindAuth {
		// Our credentials or clock are wrong: nothing a caller can fix.
		c.log.Error("vendor gateway rejected our signature: check the vendor secret id/key and the clock",
			"vendor", c.cfg.Vendor, "endpoint", endpoint, "http_status", status, "gateway_message", e.Message)
	}
	return e
}

func (c *Caller) fail(kind vendorerr.Kind, endpoint string, status int, err error) error {
	return &vendorerr.Error{Kind: kind, Vendor: c.cfg.Vendor, Endpoint: endpoint, HTTPStatus: status, Err: err}
}

func (c *Caller) observe(endpoint string, start time.Time, err error) {
	elapsed := time.Since(start)
	outcome, code := "ok", ""
	if err != nil {
		outcome = "canceled"
		if ve, ok := vendorerr.As(err); ok {
			outcome, code = ve.Kind.String(), ve.Code
		}
		c.log.Warn("vendor call failed", "vendor", c.cfg.Vendor, "endpoint", endpoint,
			"duration_ms", elapsed.Milliseconds(), "error", err.Error())
	}
	if c.metrics == nil {
		return
	}
	c.metrics.requests.WithLabelValues(c.cfg.Vendor, endpoint, outcome).Inc()
	c.metrics.duration.WithLabelValues(c.cfg.Vendor, endpoint).Observe(elapsed.Seconds())
	if err != nil {
		c.metrics.failures.WithLabelValues(c.cfg.Vendor, endpoint, outcome, code).Inc()
	}
}
