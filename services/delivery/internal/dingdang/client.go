// Package dingdang is the HTTP client of the 叮叮聚合配送 (Dingdang) delivery
// API behind the cloud-market gateway: its endpoints, its header-borne
// parameters, its JSON and its failure codes. It takes and returns the
// delivery domain's types (internal/dispatch); its JSON types stay
// unexported inside it, and proto types never reach it.
package dingdang

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/cloudmarket"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/internal/vendorjson"
)

// Vendor names Dingdang in errors, logs and metrics.
const Vendor = "dingdang"

// The vendor's endpoints, relative to the base URL.
const (
	pathList         = "/open/order/list"
	pathReason       = "/open/order/Reason"
	pathRecord       = "/open/order/orderRecord"
	pathCancel       = "/open/order/orderCancel"
	pathCreate       = "/open/order/createOrder"
	pathToken        = "/open/token/getToken"
	pathShopInfo     = "/open/shop/getShopInfo"
	pathShopUpsert   = "/open/shop/createUpdateN"
	orderSource      = "5" // createOrder's source: fixed by the vendor
	doorTimeNow      = "1" // createOrder's door_time for "dispatch now"
	codeSuccess      = 1
	msgSuccess       = "成功"
	msgDuplicate     = "订单号重复"
	msgInvalidParams = "参数无效"
	msgTooFrequent   = "频繁"
	msgBadFormat     = "格式错误"
)

// EndpointCreateOrder is createOrder, the paid dispatch, as the call layer
// names it in metrics and the usage ledger: the usage ledger's price of a
// dispatch is keyed Vendor+" "+EndpointCreateOrder.
const EndpointCreateOrder = pathCreate

// Options configures a Client beyond its transport and base URL.
type Options struct {
	// Call configures the vendor call layer (timeout, size limits, rate
	// limit, breaker).
	Call vendorcall.Config
	// Registerer receives the vendor-call metrics; nil records none.
	Registerer prometheus.Registerer
	// CallbackURL is sent as createOrder's callback; empty sends none.
	CallbackURL string
	// Now is the clock for getToken's timestamp; nil means time.Now.
	Now func() time.Time
	// Logger receives vendor-call failures; nil discards them.
	Logger *slog.Logger
	// Observe learns of every vendor call sent, e.g. the usage ledger's
	// usage.Ledger.Observe; nil records none.
	Observe func(context.Context, vendorcall.Observation) int64
}

// Client calls the Dingdang API.
type Client struct {
	base   string
	caller *vendorcall.Caller
	opts   Options
}

// New returns a Client. hc must sign requests (cloudmarket.Signer);
// baseURL is the API root, e.g. "https://service-…/release". It fails only
// when the call layer's metrics cannot be registered.
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
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), caller: caller, opts: opts}, nil
}

// header is one parameter the vendor takes in an HTTP header: the
// vendor's name for it, the request field it comes from as the service's
// API names it on the wire (e.g. "remark" for info; "" for a value the
// service makes itself), and its value.
type header struct{ name, field, value string }

// checkHeaders refuses, before anything is built or sent, a value no HTTP
// header can carry: an ASCII control character (tab included: none of the
// vendor's parameters holds one) or DEL. Such a value is the request's
// fault, never the vendor's, so it is vendorerr.KindUnsendable (INVALID_ARGUMENT
// naming the request's field): never sent, never retried, and never
// counted against the vendor's breaker. The call layer would refuse it too,
// but it knows only the header's name.
func checkHeaders(path string, headers []header) error {
	for _, h := range headers {
		for i := 0; i < len(h.value); i++ {
			if b := h.value[i]; b < 0x20 || b == 0x7f {
				return &vendorerr.Error{Kind: vendorerr.KindUnsendable, NotSent: true, Vendor: Vendor, Endpoint: path,
					Field: cmp.Or(h.field, h.name), Message: fmt.Sprintf("holds a control character (byte %d), "+
						"which cannot travel in the HTTP header %s the vendor reads it from", i, h.name)}
			}
		}
	}
	return nil
}

// request builds a POST to path with parameters in headers (as the vendor
// wants most of them) and, optionally, a form body.
func (c *Client) request(path string, headers []header, form url.Values) (*http.Request, error) {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, h := range headers {
		// The vendor reads lower-case, underscore names such as origin_id:
		// set them verbatim, not canonicalised.
		req.Header[h.name] = []string{h.value}
	}
	return req, nil
}

// envelope is every Dingdang response: {"msg","code","result"}. Result
// holds a pointer to decode result into, so a response is parsed once.
type envelope struct {
	Msg    vendorjson.String `json:"msg"`
	Code   vendorjson.Int    `json:"code"`
	Result any               `json:"result"`
}

// decodeInto returns a Decoder that checks the envelope and, on success,
// decodes result into out (nil to ignore it). msg receives the vendor's
// message when non-nil. The common case, success, parses the body once.
// classify, when not nil, refines a refusal for this call (e.g. an unknown
// order id as KindNotFound) inside the Decoder, so that the call layer's
// metric counts the same reason the caller gets.
func decodeInto(path string, out any, msg *string, classify func(*vendorerr.Error)) vendorcall.Decoder {
	return func(body []byte) error {
		var raw json.RawMessage
		env := envelope{Result: &raw}
		if out != nil {
			env.Result = out
		}
		if err := vendorjson.Decode(body, &env); err == nil && env.Code == codeSuccess {
			if msg != nil {
				*msg = string(env.Msg)
			}
			return nil
		}
		// A failure, or a result of an unexpected shape ([] or a string
		// where an object was expected): read the envelope with the result
		// raw, then decode the result with the tolerant types.
		env = envelope{Result: &raw}
		if err := vendorjson.Decode(body, &env); err != nil {
			return err
		}
		if msg != nil {
			*msg = string(env.Msg)
		}
		if env.Code != codeSuccess {
			ve := refusal(path, string(env.Msg), int64(env.Code), raw)
			if classify != nil {
				classify(ve)
			}
			return ve
		}
		if out == nil || len(raw) == 0 {
			return nil
		}
		return json.Unmarshal(raw, out)
	}
}

// refusal classifies a business failure (code ≠ 1).
func refusal(path, msg string, code int64, result json.RawMessage) *vendorerr.Error {
	var detail string
	if err := json.Unmarshal(result, &detail); err == nil && detail != "" && detail != msg {
		msg += ": " + detail
	}
	kind := vendorerr.KindRefused
	switch {
	case strings.Contains(msg, msgDuplicate):
		kind = vendorerr.KindAlreadyExists
	case strings.Contains(msg, msgTooFrequent):
		kind = vendorerr.KindThrottled
	}
	return &vendorerr.Error{Kind: kind, Vendor: Vendor, Endpoint: path,
		HTTPStatus: http.StatusOK, Code: strconv.FormatInt(code, 10), Message: msg}
}

// read sends a call that is safe to repeat, retrying transport failures
// with the call layer's default policy.
func (c *Client) read(ctx context.Context, path string, headers []header, out any, classify func(*vendorerr.Error)) error {
	if err := checkHeaders(path, headers); err != nil {
		return err
	}
	return c.caller.Read(ctx, path, vendorcall.RetryPolicy{},
		func() (*http.Request, error) { return c.request(path, headers, nil) },
		decodeInto(path, out, nil, classify))
}

// write sends a mutation, at most once: whatever becomes of it, it is
// never sent again by the client.
func (c *Client) write(ctx context.Context, path string, headers []header, form url.Values, out any, classify func(*vendorerr.Error)) (string, error) {
	if err := checkHeaders(path, headers); err != nil {
		return "", err
	}
	req, err := c.request(path, headers, form)
	if err != nil {
		return "", err
	}
	var msg string
	err = c.caller.Mutate(ctx, path, req, decodeInto(path, out, &msg, classify))
	return msg, err
}
