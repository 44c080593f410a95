package links

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// PathPrefix is where the links are served, followed by the token.
const PathPrefix = "/v1/esign/links/"

// Links are the links a person opens to one contract.
type Links struct {
	// View opens the page that shows the contract.
	View string
	// Download downloads its PDF.
	Download string
	// ExpireTime is when both stop opening anything.
	ExpireTime time.Time
}

// Issuer makes links under a public origin.
type Issuer struct {
	base   string
	tokens *Tokens
}

// NewIssuer returns an Issuer of links under baseURL (ESIGN_LINK_BASE_URL:
// an http or https origin, optionally with a path prefix, e.g.
// "https://esign.example.com" or "https://api.example.com/esign").
func NewIssuer(baseURL string, tokens *Tokens) (*Issuer, error) {
	if err := CheckBaseURL(baseURL); err != nil {
		return nil, err
	}
	return &Issuer{base: strings.TrimRight(baseURL, "/"), tokens: tokens}, nil
}

// CheckBaseURL says what is wrong with a public origin for links, if
// anything: it must be an absolute http or https URL with a host, and no
// user, query or fragment.
func CheckBaseURL(baseURL string) error {
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("got scheme %q, want http or https", u.Scheme)
	case u.Host == "":
		return fmt.Errorf("got no host in %q", baseURL)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("want an origin and optional path, without user, query or fragment, got %q", baseURL)
	}
	return nil
}

// ContractLinks returns new links to contractID's pages.
func (i *Issuer) ContractLinks(contractID string) (Links, error) {
	expires := i.tokens.expiry()
	view, err := i.tokens.sign(contractID, View, expires)
	if err != nil {
		return Links{}, err
	}
	download, err := i.tokens.sign(contractID, Download, expires)
	if err != nil {
		return Links{}, err
	}
	return Links{View: i.base + PathPrefix + view, Download: i.base + PathPrefix + download, ExpireTime: expires}, nil
}
