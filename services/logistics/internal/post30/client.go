// Package post30 is the HTTP client of 30post.cn's billing API: its
// MD5-signed forms (through internal/formsign), its JSON data field and
// its replies. Every call is a mutation sent once through
// internal/vendorcall: 30post has no way to ask whether a movement
// happened, so a lost reply is vendorerr.KindOutcomeUnknown and is never
// re-sent here. Proto types never reach it.
package post30

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vendorgate/vendorgate/internal/formsign"
	"github.com/vendorgate/vendorgate/internal/vendorcall"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/internal/vendorjson"
)

// Vendor names 30post in errors, logs and metrics.
const Vendor = "30post"

// The default paths; the money paths are unpublished and configurable.
const (
	DefaultRechargePath   = "/api/bill/recharge"
	DefaultDeductPath     = "/api/bill/deduction"
	DefaultCloseBatchPath = "/api/bill/closebatch"
)

// Options configures a Client.
type Options struct {
	// AccessKey and SecretKey sign every call (POST30_ACCESS_KEY,
	// POST30_SECRET_KEY).
	AccessKey, SecretKey string
	// SignEncoding is the encoding of the signed bytes
	// (POST30_SIGN_ENCODING); "" means SignUTF8.
	SignEncoding SignEncoding
	// Location is the zone of the timer field; nil means UTC. The vendor
	// does not say; Asia/Shanghai is the configured default (an assumption).
	Location *time.Location
	// RechargePath, DeductPath and CloseBatchPath override the defaults.
	RechargePath, DeductPath, CloseBatchPath string
	// Call configures the vendor call layer.
	Call vendorcall.Config
	// Registerer receives the vendor-call metrics; nil records none.
	Registerer prometheus.Registerer
	// Logger receives vendor-call failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe learns of every call sent (the usage ledger's Observe); nil
	// records none.
	Observe func(ctx context.Context, o vendorcall.Observation) int64
}

// Client calls 30post. It is safe for concurrent use.
type Client struct {
	base   string
	opts   Options
	caller *vendorcall.Caller
	// rejected counts the signatures 30post refused; nil without a
	// Registerer.
	rejected prometheus.Counter
	// rejectedLogged is when a refused signature was last logged (unix
	// nanoseconds): at most once a minute.
	rejectedLogged atomic.Int64
}

// New returns a Client over hc and baseURL, e.g. "http://captureupload.30post.cn".
func New(hc *http.Client, baseURL string, opts Options) (*Client, error) {
	caller, err := vendorcall.New(Vendor, opts.Call, vendorcall.Options{
		HTTPClient: hc, Registerer: opts.Registerer, Logger: opts.Logger, Observe: opts.Observe,
	})
	if err != nil {
		return nil, err
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RechargePath == "" {
		opts.RechargePath = DefaultRechargePath
	}
	if opts.DeductPath == "" {
		opts.DeductPath = DefaultDeductPath
	}
	if opts.CloseBatchPath == "" {
		opts.CloseBatchPath = DefaultCloseBatchPath
	}
	if opts.SignEncoding == "" {
		opts.SignEncoding = SignUTF8
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), opts: opts, caller: caller}
	if opts.Registerer != nil {
		vec := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendorgate_vendor_signature_rejected_total",
			Help: "Calls a vendor refused for vendorgate's signature: its keys or signing settings are wrong.",
		}, []string{"vendor"})
		if err := opts.Registerer.Register(vec); err != nil {
			are, ok := err.(prometheus.AlreadyRegisteredError)
			if !ok {
				return nil, err
			}
			vec = are.ExistingCollector.(*prometheus.CounterVec)
		}
		c.rejected = vec.WithLabelValues(Vendor)
	}
	return c, nil
}

// Account names a customer account by phone, e-mail or both.
type Account struct {
	Phone, Email string
}

// Type is the vendor's Type: 1 phone, 2 e-mail, 3 both.
func (a Account) Type() int {
	switch {
	case a.Phone != "" && a.Email != "":
		return 3
	case a.Email != "":
		return 2
	default:
		return 1
	}
}

// Reply is a successful reply.
type Reply struct {
	// Message is the vendor's message, if any.
	Message string
	// ExpressNo is the deduction's echoed tracking number (Expressno).
	ExpressNo string
}

// Recharge adds amount (a decimal string) to a's balance.
func (c *Client) Recharge(ctx context.Context, a Account, amount string) (Reply, error) {
	return c.send(ctx, c.opts.RechargePath, map[string]any{
		"Type": a.Type(), "Telephone": a.Phone, "E_mail": a.Email, "RechargeTotal": json.Number(amount),
	})
}

// Deduct takes amount from a's balance for the shipment expressNo.
func (c *Client) Deduct(ctx context.Context, a Account, amount, expressNo string) (Reply, error) {
	return c.send(ctx, c.opts.DeductPath, map[string]any{
		"Type": a.Type(), "Telephone": a.Phone, "E_mail": a.Email, "DeductionsTotal": json.Number(amount), "Expressno": expressNo,
	})
}

// CloseBatch closes the batch batchName.
func (c *Client) CloseBatch(ctx context.Context, batchName string) (Reply, error) {
	return c.send(ctx, c.opts.CloseBatchPath, map[string]any{"batch_name": batchName})
}

// send signs data into a form and sends it once.
func (c *Client) send(ctx context.Context, path string, data map[string]any) (Reply, error) {
	js, err := json.Marshal(data)
	if err == nil {
		var req *http.Request
		req, err = formsign.NewRequest(http.MethodPost, c.base+path, url.Values{"data": {string(js)}},
			Sign(c.opts.AccessKey, c.opts.SecretKey, c.opts.Now(), c.opts.Location, c.opts.SignEncoding))
		if err == nil {
			return c.mutate(ctx, path, req)
		}
	}
	// Nothing left: the movement certainly did not apply.
	out := &vendorerr.Error{Kind: vendorerr.KindUnsendable, Vendor: Vendor, Endpoint: path, NotSent: true,
		Message: "the request cannot be built", Err: err}
	if errors.Is(err, ErrUnencodable) {
		out.Field, out.Message = "data", "holds a character that POST30_SIGN_ENCODING="+string(c.opts.SignEncoding)+" cannot encode"
	}
	return Reply{}, out
}

// mutate sends req once and decodes its reply.
func (c *Client) mutate(ctx context.Context, path string, req *http.Request) (Reply, error) {
	var r Reply
	err := c.caller.Mutate(ctx, path, req, func(body []byte) error {
		var err error
		r, err = decodeReply(path, body)
		return err
	})
	if ve, ok := vendorerr.As(err); ok && ve.Reason == ReasonSignatureRejected {
		c.signatureRejected(ctx, ve)
	}
	return r, err
}

// signatureRejected counts a refused signature and logs it at ERROR, at
// most once a minute: every call fails until the keys or the encoding are
// fixed.
func (c *Client) signatureRejected(ctx context.Context, ve *vendorerr.Error) {
	if c.rejected != nil {
		c.rejected.Inc()
	}
	now, last := time.Now().UnixNano(), c.rejectedLogged.Load()
	if now-last < int64(time.Minute) || !c.rejectedLogged.CompareAndSwap(last, now) {
		return
	}
	if c.opts.Logger != nil {
		c.opts.Logger.ErrorContext(ctx, "30post rejected vendorgate's signature: check "+signatureConfig,
			"vendor", Vendor, "endpoint", ve.Endpoint, "vendor_message", ve.Message, "sign_encoding", string(c.opts.SignEncoding))
	}
}

// ReasonSignatureRejected is the ErrorInfo reason of a call 30post
// refused for its signature (FAILED_PRECONDITION).
const ReasonSignatureRejected = "VENDOR_SIGNATURE_REJECTED"

// signatureRejected is 30post's message for a wrong sign (签名错误).
const signatureRejected = "签名错误"

// signatureConfig names the settings a wrong sign comes from.
const signatureConfig = "POST30_ACCESS_KEY, POST30_SECRET_KEY, POST30_SIGN_ENCODING"

// The reply's success values.
const (
	replySucceeded = 1
	replyRefused   = "0"
)

// replyJSON is every reply: {"success": 1|0, "message", "Expressno"}.
type replyJSON struct {
	Success   *vendorjson.Int   `json:"success"`
	Message   vendorjson.String `json:"message"`
	ExpressNo vendorjson.String `json:"Expressno"`
}

// decodeReply decodes a reply; success 0 is a KindRefused with the
// vendor's message, a reply without success is undecodable.
func decodeReply(endpoint string, body []byte) (Reply, error) {
	var r replyJSON
	if err := vendorjson.Decode(body, &r); err != nil {
		return Reply{}, err
	}
	if r.Success == nil {
		return Reply{}, errors.New("post30: reply has no success field")
	}
	if *r.Success != replySucceeded {
		e := &vendorerr.Error{Kind: vendorerr.KindRefused, Vendor: Vendor, Endpoint: endpoint, Code: replyRefused, Message: string(r.Message)}
		if strings.Contains(string(r.Message), signatureRejected) {
			// Our keys or signing settings are wrong: nothing a caller can
			// fix, and nothing was applied. The status's message is the
			// vendor's, so the variables to check go in it.
			e.Reason, e.Config = ReasonSignatureRejected, signatureConfig
			e.Message = string(r.Message) + " (30post rejected vendorgate's signature: check " + signatureConfig + ")"
		}
		return Reply{}, e
	}
	return Reply{Message: string(r.Message), ExpressNo: string(r.ExpressNo)}, nil
}
