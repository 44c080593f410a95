// Package logging builds the services' structured JSON logger. As a last
// line of defence it redacts any attribute whose key names a secret, so a
// careless log call cannot leak a password, key, token or signature.
package logging

import (
	"io"
	"log/slog"
	"strings"
)

// Redacted replaces the value of a secret-named attribute.
const Redacted = "[REDACTED]"

var secretWords = []string{"secret", "password", "authorization", "token", "signature", "sign", "key", "passwd"}

// New returns a JSON slog.Logger writing to w at level ("debug", "info",
// "warn", "error"; anything else is info).
func New(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv, ReplaceAttr: redact}))
}

func redact(_ []string, a slog.Attr) slog.Attr {
	if IsSecretKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	return a
}

// IsSecretKey reports whether an attribute or field named key holds a secret.
func IsSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
