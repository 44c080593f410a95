// Package vendorcall is the layer every vendor HTTP call goes through: a
// pooled keep-alive transport, a per-vendor timeout under the caller's
// deadline, a response size limit, classification of transport and HTTP
// failures into vendorerr kinds, per-endpoint Prometheus metrics and logs
// that never hold a header value.
package vendorcall

import (
	"net"
	"net/http"
	"time"
)

// NewTransport returns a keep-alive transport sized for many concurrent
// calls to one vendor host.
func NewTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
