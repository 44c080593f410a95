// Package links makes the links a person opens to a contract without an
// API key, and serves them. A link is the service's own URL,
// <ESIGN_LINK_BASE_URL>/v1/esign/links/<token>, where the token is an
// HMAC-signed, expiring reference to one contract and one page (view or
// download); opening it, the service fetches Fadada's page with the
// cloud-market signature (which a browser cannot send) and streams it back
// as it comes. A token that is malformed, tampered with, signed with
// another secret, expired, or asked for another contract than its own is
// 404 before any vendor call.
package links

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Kind is the page a link opens.
type Kind byte

// The kinds of link.
const (
	// View opens Fadada's page that shows the contract (viewContract.api).
	View Kind = 'v'
	// Download downloads the contract's PDF (downLoadContract.api).
	Download Kind = 'd'
)

// String names the kind in logs.
func (k Kind) String() string {
	switch k {
	case View:
		return "view"
	case Download:
		return "download"
	}
	return fmt.Sprintf("Kind(%d)", byte(k))
}

// MinSecretBytes is the shortest link secret (ESIGN_LINK_SECRET) taken.
const MinSecretBytes = 32

// maxContractID is the longest contract_id (Fadada's limit, and the
// proto's).
const maxContractID = 32

// MaxTokenLen bounds a token read from a URL: the longest a valid one is,
// so that a longer one is refused without more work.
const MaxTokenLen = (headerLen + maxContractID + sha256.Size + 2) / 3 * 4

// version is the token layout: version, kind, expiry (unix seconds, big
// endian), contract_id, then the MAC over all of it.
const version = 1

// headerLen is the layout's fixed part before the contract_id.
const headerLen = 1 + 1 + 8

// macLabel separates the tokens' MACs from any other use of the secret.
const macLabel = "vendorgate esign link\x00"

// ErrInvalid is a token that is malformed, tampered with, signed with
// another secret or expired: its link opens nothing.
var ErrInvalid = errors.New("links: unknown or expired link")

// Ref is what a valid token refers to.
type Ref struct {
	// ContractID is the contract (contract_id).
	ContractID string
	// Kind is the page.
	Kind Kind
	// Expires is when the token stops opening anything.
	Expires time.Time
}

// Tokens issues and opens link tokens under one secret. It is safe for
// concurrent use.
type Tokens struct {
	secret   []byte
	validity time.Duration
	now      func() time.Time
}

// NewTokens returns Tokens that sign with secret (every replica needs the
// same one) and expire validity after issue. now is the clock; nil means
// time.Now.
func NewTokens(secret []byte, validity time.Duration, now func() time.Time) (*Tokens, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("links: the secret has %d bytes, want at least %d", len(secret), MinSecretBytes)
	}
	if validity < time.Second {
		return nil, fmt.Errorf("links: validity %s is under a second", validity)
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: append([]byte(nil), secret...), validity: validity, now: now}, nil
}

// Issue returns a token for contractID's page k, and when it expires (to
// the second).
func (t *Tokens) Issue(contractID string, k Kind) (string, time.Time, error) {
	expires := t.expiry()
	token, err := t.sign(contractID, k, expires)
	return token, expires, err
}

// expiry is when a token issued now expires, to the second.
func (t *Tokens) expiry() time.Time { return t.now().Add(t.validity).Truncate(time.Second) }

// sign returns the token of contractID's page k, expiring at expires.
func (t *Tokens) sign(contractID string, k Kind, expires time.Time) (string, error) {
	if contractID == "" || len(contractID) > maxContractID {
		return "", fmt.Errorf("links: contract_id of %d bytes", len(contractID))
	}
	b := make([]byte, headerLen, headerLen+len(contractID)+sha256.Size)
	b[0], b[1] = version, byte(k)
	binary.BigEndian.PutUint64(b[2:], uint64(expires.Unix()))
	b = append(b, contractID...)
	b = append(b, t.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Open checks token and returns what it refers to; any failure is
// ErrInvalid, without saying which, so that the answer teaches a guesser
// nothing.
func (t *Tokens) Open(token string) (Ref, error) {
	if len(token) > MaxTokenLen {
		return Ref{}, ErrInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < headerLen+1+sha256.Size {
		return Ref{}, ErrInvalid
	}
	body, mac := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if !hmac.Equal(mac, t.mac(body)) || body[0] != version {
		return Ref{}, ErrInvalid
	}
	ref := Ref{
		Kind:       Kind(body[1]),
		Expires:    time.Unix(int64(binary.BigEndian.Uint64(body[2:headerLen])), 0),
		ContractID: string(body[headerLen:]),
	}
	if (ref.Kind != View && ref.Kind != Download) || !t.now().Before(ref.Expires) {
		return Ref{}, ErrInvalid
	}
	return ref, nil
}

func (t *Tokens) mac(body []byte) []byte {
	h := hmac.New(sha256.New, t.secret)
	h.Write([]byte(macLabel))
	h.Write(body)
	return h.Sum(nil)
}
