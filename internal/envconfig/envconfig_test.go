package envconfig

import (
	"strings"
	"testing"
	"time"
)

type sample struct {
	Addr    string        `env:"SAMPLE_ADDR" envDefault:"127.0.0.1:1"`
	Timeout time.Duration `env:"SAMPLE_TIMEOUT" envDefault:"5s"`
	Need    string        `env:"SAMPLE_NEED,required"`
}

func TestParse(t *testing.T) {
	t.Parallel()
	cfg, err := Parse[sample]([]string{"SAMPLE_NEED=x"})
	if err != nil || cfg.Addr != "127.0.0.1:1" || cfg.Timeout != 5*time.Second || cfg.Need != "x" {
		t.Fatalf("got %+v, %v", cfg, err)
	}
	_, err = Parse[sample]([]string{"SAMPLE_TIMEOUT=soon"})
	for _, name := range []string{"SAMPLE_TIMEOUT", "SAMPLE_NEED"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("got %v, want it to name %s", err, name)
		}
	}
}

func TestRequireAndJoin(t *testing.T) {
	t.Parallel()
	err := Join(Require(" (or SANDBOX=1)", map[string]string{"B": "", "A": "", "C": "set"})...)
	if err == nil || err.Error() != "config: A is required (or SANDBOX=1); B is required (or SANDBOX=1)" {
		t.Errorf("got %v", err)
	}
	if Join() != nil {
		t.Error("got an error from nothing, want nil")
	}
}
