// Package server holds the logistics service's gRPC handlers,
// ParcelService (over internal/parcels, damaijia's gift parcels) and
// BillingService (over internal/billing, 30post's money movements), and
// their proto ↔ domain mapping; the rules are the use-case packages'. It
// runs the request_id engine (internal/idempotency), whose records are
// protos. Handlers return Go errors; internal/serve's interceptor alone
// turns them into statuses.
package server

import (
	"fmt"

	"github.com/vendorgate/vendorgate/internal/pagetoken"
)

// Domain is the google.rpc.ErrorInfo domain of the logistics service.
const Domain = "logistics.vendorgate.dev"

// Page sizes.
const (
	defaultParcelPageSize = 20
)

// vendorPage is a page token over a vendor's numbered pages.
type vendorPage struct {
	Page int `json:"p"`
	Size int `json:"s"`
	// Query fingerprints the other request fields: a token is valid only
	// for the request that earned it (AIP-158).
	Query string `json:"q"`
}

// pageOf resolves page_size and page_token into a vendor page.
func pageOf(size int32, token, query string) (vendorPage, error) {
	p := vendorPage{Page: 1, Size: int(size), Query: query}
	if p.Size == 0 {
		p.Size = defaultParcelPageSize
	}
	if token == "" {
		return p, nil
	}
	var t vendorPage
	if err := pagetoken.Decode(token, &t); err != nil {
		return p, err
	}
	if t.Page < 2 || t.Query != query || t.Size != p.Size {
		return p, pagetoken.Invalid(fmt.Sprintf("belongs to another request (its page_size was %d)", t.Size))
	}
	return t, nil
}

// next is the token of the page after p when total says there is one.
func (p vendorPage) next(total int) string {
	if p.Page*p.Size >= total {
		return ""
	}
	return pagetoken.Encode(vendorPage{Page: p.Page + 1, Size: p.Size, Query: p.Query})
}
