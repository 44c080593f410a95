package envconfig

import (
	"errors"
	"os"
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

type vendorSample struct {
	Timeout time.Duration `env:"TIMEOUT" envDefault:"1s"`
}

type nestedSample struct {
	Need  string       `env:"NESTED_NEED,required"`
	Count int          `env:"NESTED_COUNT" envDefault:"3"`
	A     vendorSample `envPrefix:"A_"`
	B     vendorSample `envPrefix:"B_"`
}

func TestParseNamesEachVariableAndFillsTheRest(t *testing.T) {
	t.Parallel()
	cfg, err := Parse[nestedSample]([]string{"B_TIMEOUT=fast", "NESTED_COUNT=7"})
	want := "config: B_TIMEOUT: unable to parse duration: time: invalid duration \"fast\"; NESTED_NEED is required"
	if got := Join(err); got == nil || got.Error() != want {
		t.Errorf("got error %v, want %s", got, want)
	}
	// Only the variable that failed is left zero.
	if cfg.A.Timeout != time.Second || cfg.B.Timeout != 0 || cfg.Count != 7 {
		t.Errorf("got %+v, want A_TIMEOUT 1s, B_TIMEOUT unset, NESTED_COUNT 7", cfg)
	}
}

func TestJoinKeepsTheFirstProblemOfEachVariable(t *testing.T) {
	t.Parallel()
	_, err := Parse[sample]([]string{"SAMPLE_NEED=x", "SAMPLE_TIMEOUT=soon"})
	got := Join(err, errors.New("SAMPLE_TIMEOUT must be positive, got 0s"), errors.New("SAMPLE_ADDR is wrong"))
	want := "config: SAMPLE_ADDR is wrong; SAMPLE_TIMEOUT: unable to parse duration: time: invalid duration \"soon\""
	if got == nil || got.Error() != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

type withSecret struct {
	Vendor struct {
		Secret string `env:"SECRET"`
	} `envPrefix:"SAMPLE_VENDOR_"`
	KeysFile string `env:"SAMPLE_KEYS_FILE"`
	Need     string `env:"SAMPLE_NEED,required"`
}

// TestValuesFromFiles: <VAR>_FILE supplies a variable's value from a file
// (a mounted secret), nested prefixes included; a trailing line break is
// not part of it; both ways at once, or an unreadable file, is an error
// naming the variable; a variable whose own name ends in _FILE is itself.
func TestValuesFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := dir + "/secret"
	if err := os.WriteFile(secret, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	need := dir + "/need"
	if err := os.WriteFile(need, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse[withSecret]([]string{"SAMPLE_VENDOR_SECRET_FILE=" + secret, "SAMPLE_NEED_FILE=" + need, "SAMPLE_KEYS_FILE=/etc/keys.yaml"})
	if err != nil || cfg.Vendor.Secret != "s3cr3t" || cfg.Need != "x" || cfg.KeysFile != "/etc/keys.yaml" {
		t.Fatalf("got %+v, %v", cfg, err)
	}
	_, err = Parse[withSecret]([]string{"SAMPLE_VENDOR_SECRET=a", "SAMPLE_VENDOR_SECRET_FILE=" + secret, "SAMPLE_NEED_FILE=" + dir + "/missing"})
	for _, want := range []string{"SAMPLE_VENDOR_SECRET and SAMPLE_VENDOR_SECRET_FILE are both set", "SAMPLE_NEED_FILE:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to say %q", err, want)
		}
	}
}
