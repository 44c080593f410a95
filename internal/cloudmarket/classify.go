package cloudmarket

import (
	"encoding/json"
	"net/http"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// Classify recognises the gateway's own replies, for
// vendorcall.Options.Classify: its {"message": "…"} error bodies, 401/403
// for a signature or key it rejects (our misconfiguration), 429 when it
// throttles us, and 5xx when the vendor behind it is down. It returns nil
// for any other reply, leaving it to the call layer's default.
func Classify(status int, _ http.Header, body []byte) *vendorerr.Error {
	var kind vendorerr.Kind
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		kind = vendorerr.KindAuth
	case status == http.StatusTooManyRequests:
		kind = vendorerr.KindThrottled
	case status >= 500:
		kind = vendorerr.KindUnavailable
	default:
		return nil
	}
	var reply struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &reply)
	return &vendorerr.Error{Kind: kind, Message: reply.Message}
}
