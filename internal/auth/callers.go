// Package auth decides who is calling a service and whether they may: API
// keys (stored only as SHA-256 hashes, from a YAML file or the shared
// store, rotated without a restart), client certificates, or nothing; a
// list of allowed RPCs per caller, where money movements and purchases
// must be granted by name; and a request rate per caller. Failures are
// UNAUTHENTICATED or PERMISSION_DENIED with ErrorInfo, and never say which
// keys or callers exist.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/vendorgate/vendorgate/internal/money"
	"go.yaml.in/yaml/v3"
)

// Caller is one named client of the services.
type Caller struct {
	// Name identifies the caller in logs, metrics and the usage ledger.
	Name string `yaml:"name"`
	// Keys are the hashes of the caller's API keys, "sha256:<hex>"; two
	// during a rotation.
	Keys []string `yaml:"keys"`
	// Allow lists the RPCs the caller may call: "pkg.Service/Method",
	// "pkg.Service/*" or "*". A money movement or purchase is allowed only
	// by its full name.
	Allow []string `yaml:"allow"`
	// RatePerSecond is the caller's request rate per service; 0 is no limit.
	RatePerSecond float64 `yaml:"rate_per_second"`
	// DailySpendCapYuan caps the caller's paid vendor calls per service and
	// day, a decimal string such as "500"; empty is no cap.
	DailySpendCapYuan string `yaml:"daily_spend_cap_yuan"`
}

// MaxKeysPerCaller is how many keys a caller may hold at once: the old and
// the new during a rotation.
const MaxKeysPerCaller = 2

// maxCallerName is the longest caller name, in bytes.
const maxCallerName = 255

var (
	// callerName allows API-key callers ("shop-backend") and certificate
	// names (a URI SAN such as "spiffe://corp/shop", or a CN), of at most
	// maxCallerName bytes (checked apart: a bounded repetition compiles
	// into a program with a state per repeat, 4 ms and 231 kB of every
	// service's start).
	callerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@-]*$`)
	keyHash    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// Check reports what is wrong with c. A name that is not valid, or that
// looks like an API key or another secret (someone pasted a key where the
// name goes), is refused without being quoted, and the other errors then
// do not name the caller either: logs and error messages never echo a key.
func (c Caller) Check() error {
	var errs []error
	who := "caller " + c.Name
	switch {
	case looksLikeSecret(c.Name):
		who = "a caller"
		errs = append(errs, errors.New("a caller's name looks like an API key or another secret, so it is not shown here: name callers with words (e.g. shop-backend), and give keys only as their hashes under keys"))
	case len(c.Name) > maxCallerName || !callerName.MatchString(c.Name):
		who = "a caller"
		errs = append(errs, fmt.Errorf("a caller's name (%d characters, not shown) is not valid: want letters, digits and . _ - : / @ (a name, a certificate's URI SAN or CN), at most 255", len(c.Name)))
	}
	if len(c.Keys) > MaxKeysPerCaller {
		errs = append(errs, fmt.Errorf("%s: %d keys, want at most %d (the old and the new during a rotation)", who, len(c.Keys), MaxKeysPerCaller))
	}
	for _, k := range c.Keys {
		if !keyHash.MatchString(k) {
			errs = append(errs, fmt.Errorf("%s: key %q: want \"sha256:<64 lower-case hex digits>\" (the hash, never the key)", who, redactHash(k)))
		}
	}
	for _, a := range c.Allow {
		if err := checkPattern(a); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", who, err))
		}
	}
	if c.RatePerSecond < 0 {
		errs = append(errs, fmt.Errorf("%s: rate_per_second %v: want 0 (no limit) or more", who, c.RatePerSecond))
	}
	if _, err := money.ParseYuan(c.DailySpendCapYuan); c.DailySpendCapYuan != "" && err != nil {
		errs = append(errs, fmt.Errorf("%s: daily_spend_cap_yuan %q: want a decimal such as \"500\" or \"49.50\"", who, c.DailySpendCapYuan))
	}
	return errors.Join(errs...)
}

// looksLikeSecret reports whether a caller name looks like a key rather
// than a name: a key of NewKey's form ("vg_<caller>_<32 characters>"), a
// "sha256:" hash, or a long run of letters and digits that mixes them the
// way random tokens do (base64, hex digests), where names are words.
func looksLikeSecret(name string) bool {
	if strings.HasPrefix(name, "vg_") || strings.HasPrefix(name, "sha256:") {
		return true
	}
	for _, run := range strings.FieldsFunc(name, func(r rune) bool { return !isAlnum(r) }) {
		if len(run) >= minSecretRun && tokenLike(run) {
			return true
		}
	}
	return false
}

// minSecretRun is the shortest run of letters and digits taken for a
// token: generated keys and digests are longer, words and UUID groups
// shorter.
const minSecretRun = 20

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// tokenLike reports whether run (letters and digits) mixes them like a
// random token: digits among letters several times over, or upper and
// lower case switching often, as in base64 and hex, not in words
// ("shopbackend2024", "CamelCaseName").
func tokenLike(run string) bool {
	var digits, switches int
	prev := 0 // 1 lower, 2 upper, 3 digit
	for _, r := range run {
		cls := 1
		switch {
		case r >= 'A' && r <= 'Z':
			cls = 2
		case r >= '0' && r <= '9':
			cls = 3
			digits++
		}
		if prev != 0 && cls != prev {
			switches++
		}
		prev = cls
	}
	return digits >= 4 && switches >= 6 || switches >= len(run)/3
}

// SpendCapFen is the daily spend cap in fen, and whether there is one.
func (c Caller) SpendCapFen() (int64, bool) {
	if c.DailySpendCapYuan == "" {
		return 0, false
	}
	fen, err := money.ParseYuan(c.DailySpendCapYuan)
	return fen, err == nil
}

func redactHash(k string) string {
	if strings.HasPrefix(k, "sha256:") {
		return k
	}
	return "<not a hash; value hidden>"
}

// checkPattern accepts "*", "pkg.Service/*" and "pkg.Service/Method".
func checkPattern(p string) error {
	if p == "*" {
		return nil
	}
	svc, method, ok := strings.Cut(p, "/")
	if !ok || svc == "" || method == "" || strings.Contains(method, "/") || (strings.Contains(method, "*") && method != "*") || strings.Contains(svc, "*") {
		return fmt.Errorf("allow %q: want \"*\", \"pkg.Service/*\" or \"pkg.Service/Method\"", p)
	}
	return nil
}

// KeysFile is the YAML document of AUTH_KEYS_FILE.
type KeysFile struct {
	// Callers are the callers and their key hashes.
	Callers []Caller `yaml:"callers"`
}

// ReadKeysFile reads and checks the keys file at path. Unknown fields are
// errors, so that a misspelt limit is not silently no limit.
func ReadKeysFile(path string) ([]Caller, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("AUTH_KEYS_FILE: %w", err)
	}
	return ParseKeysFile(data)
}

// ParseKeysFile parses and checks a keys file's content.
func ParseKeysFile(data []byte) ([]Caller, error) {
	var f KeysFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("AUTH_KEYS_FILE: %w", err)
	}
	var errs []error
	seen := map[string]bool{}
	for i, c := range f.Callers {
		if err := c.Check(); err != nil {
			// By position: the name may be what must not be shown.
			errs = append(errs, fmt.Errorf("callers[%d]: %w", i, err))
			continue
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("caller %s: listed twice", c.Name))
		}
		seen[c.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("AUTH_KEYS_FILE: %w", err)
	}
	return f.Callers, nil
}

// HashKey is the form a key is stored in: "sha256:<hex of its SHA-256>".
func HashKey(key string) string {
	var h [hashLen]byte
	hashKey(key, &h)
	return string(h[:])
}

// hashLen is the length of a HashKey.
const hashLen = len("sha256:") + 2*sha256.Size

// hashKey writes HashKey(key) into h, so that the guard can look a key up
// on every call without building a string.
func hashKey(key string, h *[hashLen]byte) {
	sum := sha256.Sum256([]byte(key))
	copy(h[:], "sha256:")
	hex.Encode(h[len("sha256:"):], sum[:])
}

// keyAlphabet is what generated keys are made of: no look-alikes to
// misread, nothing a shell or URL needs to escape.
const keyAlphabet = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"

// NewKey returns a new random API key for caller: "vg_<caller>_" and 32
// random characters (about 185 bits). The caller's name in it lets a
// failed attempt be counted against the caller it claims to be.
func NewKey(caller string) (string, error) {
	var b strings.Builder
	b.WriteString("vg_" + caller + "_")
	max := big.NewInt(int64(len(keyAlphabet)))
	for range 32 {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("auth: new key: %w", err)
		}
		b.WriteByte(keyAlphabet[n.Int64()])
	}
	return b.String(), nil
}

// claimedCaller is the caller name a key of NewKey's form claims, or "".
func claimedCaller(key string) string {
	rest, ok := strings.CutPrefix(key, "vg_")
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(rest, '_')
	if i <= 0 {
		return ""
	}
	return rest[:i]
}

// allows reports whether patterns allow method ("pkg.Service/Method").
// explicit methods are allowed only by their full name.
func allows(patterns []string, method string, explicit bool) bool {
	if slices.Contains(patterns, method) {
		return true
	}
	if explicit {
		return false
	}
	svc, _, _ := strings.Cut(method, "/")
	for _, p := range patterns {
		if p == "*" || p == svc+"/*" {
			return true
		}
	}
	return false
}
