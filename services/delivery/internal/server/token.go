package server

import (
	"encoding/base64"
	"encoding/json"
)

// encodeToken makes an opaque page token of v.
func encodeToken(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// v is one of this package's plain structs: it always marshals.
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken reads a page token into v; an empty token leaves v as is.
func decodeToken(token string, v any) error {
	if token == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return badToken("is not a token this service issued")
	}
	return nil
}
