package logging

import (
	"bytes"
	"strings"
	"testing"
)

func TestNewRedactsSecretKeys(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := New(&buf, "debug")
	log.Info("x", "secret_key", "s3cr3t", "Password", "hunter2", "authorization", "hmac id=…", "vendor", "dingdang",
		"token", "tok", "signature", "sig")
	out := buf.String()
	for _, leaked := range []string{"s3cr3t", "hunter2", "hmac id", "tok\"", "sig\""} {
		if strings.Contains(out, leaked) {
			t.Errorf("got %s, want %q redacted", out, leaked)
		}
	}
	if !strings.Contains(out, `"vendor":"dingdang"`) {
		t.Errorf("got %s, want ordinary attributes kept", out)
	}
}
