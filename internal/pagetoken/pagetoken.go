// Package pagetoken makes the opaque AIP-158 page tokens of the services'
// List RPCs: a cursor struct as JSON in unpadded URL-safe base64, and the
// one INVALID_ARGUMENT a token that does not read back gets.
package pagetoken

import (
	"encoding/base64"
	"encoding/json"

	"github.com/vendorgate/vendorgate/internal/domainerr"
)

// Encode makes the page token of cursor, a plain struct of the caller's.
func Encode(cursor any) string {
	b, err := json.Marshal(cursor)
	if err != nil {
		// A plain struct of strings and numbers always marshals.
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads token into cursor; an empty token leaves cursor as it is. A
// token that is not one Encode made is Invalid.
func Decode(token string, cursor any) error {
	if token == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		err = json.Unmarshal(b, cursor)
	}
	if err != nil {
		return Invalid("is not a token this service issued")
	}
	return nil
}

// Invalid is the INVALID_ARGUMENT of a page_token the service cannot use,
// saying why (e.g. "was issued for another order").
func Invalid(why string) error {
	return domainerr.InvalidArgument("page_token", "PAGE_TOKEN_INVALID", why)
}
