package cloudmarket

import (
	"crypto/hmac"
	"encoding/json"
	"net/http"
	"regexp"
	"time"
)

// MaxSkew is how far X-Date may be from the gateway's clock.
const MaxSkew = 15 * time.Minute

var authPattern = regexp.MustCompile(`^hmac\s+id\s*=\s*"([^"]*)",\s*algorithm\s*=\s*"([^"]*)",\s*headers\s*=\s*"([^"]*)",\s*signature\s*=\s*"([^"]*)"$`)

// Gateway is http middleware that checks the cloud-market signature the way
// the vendors' API gateway does, answering 401/403 with {"message": "..."}.
// The in-repo simulators sit behind it.
type Gateway struct {
	// Keys maps secret ids to secret keys.
	Keys map[string]string
	// Now is the gateway's clock; nil means time.Now.
	Now func() time.Time
}

// Wrap returns next behind the signature check.
func (g *Gateway) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, msg := g.check(r); status != 0 {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) check(r *http.Request) (int, string) {
	auth := r.Header.Get("Authorization")
	date := r.Header.Get("X-Date")
	source := r.Header.Get("X-Source")
	if auth == "" || date == "" || source == "" {
		return http.StatusUnauthorized, "HMAC signature cannot be verified, missing authorization, x-date or x-source"
	}
	m := authPattern.FindStringSubmatch(auth)
	if m == nil {
		return http.StatusUnauthorized, "Invalid authorization header"
	}
	id, algorithm, headers, sig := m[1], m[2], m[3], m[4]
	if algorithm != "hmac-sha1" || headers != "x-date x-source" {
		return http.StatusUnauthorized, "HMAC signature cannot be verified, unsupported algorithm or headers"
	}
	t, err := time.Parse(DateFormat, date)
	if err != nil {
		return http.StatusUnauthorized, "HMAC signature cannot be verified, invalid x-date"
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	if d := now().Sub(t); d > MaxSkew || d < -MaxSkew {
		return http.StatusUnauthorized, "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"
	}
	key, ok := g.Keys[id]
	if !ok {
		return http.StatusUnauthorized, "HMAC signature cannot be verified"
	}
	if !hmac.Equal([]byte(sig), []byte(Signature(key, date, source))) {
		return http.StatusForbidden, "HMAC signature does not match"
	}
	return 0, ""
}
