// Package vendorjson decodes vendor JSON that drifts between types: numbers
// sent as strings, null for empty, [] where an object is expected, and JSON
// served as text/html. It knows no vendor.
package vendorjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Decode unmarshals a vendor body into v, whatever content type it came
// with: it skips a UTF-8 byte-order mark and surrounding white space.
//
// It decodes with encoding/json's semantics (case-insensitive names,
// unknown names ignored) on the JSON v2 engine of
// github.com/go-json-experiment/json, whose v1 package is that drop-in:
// the types here read their scalar straight from the token stream
// (UnmarshalJSONFrom) instead of having each value copied out and scanned
// again, which made drift-tolerant decoding cost 40 % more than decoding
// into plain strings (BenchmarkDecodeRecord in delivery's dingdang).
// UnmarshalJSON stays for callers that use encoding/json directly.
func Decode(body []byte, v any) error {
	body = bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf")))
	if len(body) == 0 {
		return fmt.Errorf("vendorjson: empty body")
	}
	if body[0] != '{' && body[0] != '[' {
		return fmt.Errorf("vendorjson: body is not JSON (starts with %q)", preview(body))
	}
	err := unmarshal(body, v)
	if err != nil && bytes.ContainsRune(body, '“') {
		// Some vendor documents (and the pages they are pasted from) turn
		// JSON's quotes typographic. Only when the body does not parse as
		// it is, try it with plain quotes.
		if unmarshal(straightQuotes.ReplaceAll(body, []byte(`"`)), v) == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("vendorjson: %w", err)
	}
	return nil
}

var straightQuotes = regexp.MustCompile("[“”]")

func preview(b []byte) string {
	const n = 32
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// scalar returns the text of a JSON scalar: a string's content, a number's
// or bool's literal, "" for null. ok is false for objects and arrays.
func scalar(data []byte) (s string, ok bool, err error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return "", true, nil
	}
	switch data[0] {
	case '"':
		// Fast path: most vendor strings have no escapes to undo. Invalid
		// UTF-8 takes the slow path, which replaces it with U+FFFD as
		// encoding/json does for a plain string (a proto string must be
		// valid UTF-8).
		if n := len(data); n >= 2 && data[n-1] == '"' && bytes.IndexByte(data[1:n-1], '\\') < 0 && bytes.IndexByte(data[1:n-1], '"') < 0 && utf8.Valid(data[1:n-1]) {
			return strings.TrimSpace(string(data[1 : n-1])), true, nil
		}
		if err := json.Unmarshal(data, &s); err != nil {
			return "", false, err
		}
		return strings.TrimSpace(s), true, nil
	case '{', '[':
		return "", false, nil
	default:
		return string(data), true, nil
	}
}

// scalarFrom is scalar reading from the token stream: objects and arrays
// are skipped and reported with ok false.
func scalarFrom(dec *jsontext.Decoder) (s string, ok bool, err error) {
	switch dec.PeekKind() {
	case '{', '[':
		return "", false, dec.SkipValue()
	case 'n':
		_, err := dec.ReadToken()
		return "", true, err
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return "", false, err
		}
		return strings.TrimSpace(tok.String()), true, nil
	default: // a number, true or false, as its literal; or the decoder's error
		v, err := dec.ReadValue()
		if err != nil {
			return "", false, err
		}
		return string(v), true, nil
	}
}

// String is text that the vendor may send as a string, a number, a bool or
// null (decoded as "").
type String string

// UnmarshalJSON implements json.Unmarshaler.
func (s *String) UnmarshalJSON(data []byte) error {
	v, ok, err := scalar(data)
	if err != nil {
		return err
	}
	if !ok {
		*s = ""
		return nil
	}
	*s = String(v)
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for Decode's JSON v2 engine.
func (s *String) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, _, err := scalarFrom(dec)
	*s = String(v)
	return err
}

// Int is an integer sent as a number or a numeric string; null and "" are 0.
type Int int64

// UnmarshalJSON implements json.Unmarshaler.
func (i *Int) UnmarshalJSON(data []byte) error {
	v, ok, err := scalar(data)
	if err != nil {
		return err
	}
	return i.parse(v, ok)
}

// UnmarshalJSONFrom is UnmarshalJSON for Decode's JSON v2 engine.
func (i *Int) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, ok, err := scalarFrom(dec)
	if err != nil {
		return err
	}
	return i.parse(v, ok)
}

func (i *Int) parse(v string, ok bool) error {
	if !ok || v == "" {
		*i = 0
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return fmt.Errorf("vendorjson: %q is not an integer", v)
		}
		n = int64(f)
	}
	*i = Int(n)
	return nil
}

// Float is a number sent as a number or a numeric string; null and "" are 0.
type Float float64

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(data []byte) error {
	v, ok, err := scalar(data)
	if err != nil {
		return err
	}
	return f.parse(v, ok)
}

// UnmarshalJSONFrom is UnmarshalJSON for Decode's JSON v2 engine.
func (f *Float) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, ok, err := scalarFrom(dec)
	if err != nil {
		return err
	}
	return f.parse(v, ok)
}

func (f *Float) parse(v string, ok bool) error {
	if !ok || v == "" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("vendorjson: %q is not a number", v)
	}
	*f = Float(n)
	return nil
}

// Bool is a flag sent as true/false, 1/0 or "1"/"0"; null and "" are false.
type Bool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bool) UnmarshalJSON(data []byte) error {
	v, ok, err := scalar(data)
	if err != nil {
		return err
	}
	b.parse(v, ok)
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for Decode's JSON v2 engine.
func (b *Bool) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, ok, err := scalarFrom(dec)
	if err != nil {
		return err
	}
	b.parse(v, ok)
	return nil
}

func (b *Bool) parse(v string, ok bool) {
	switch strings.ToLower(v) {
	case "1", "true", "是", "y", "yes":
		*b = Bool(ok)
	default:
		*b = false
	}
}

// UnixTime is a unix time in seconds sent as a number or a string. null, ""
// and 0 decode as the zero UnixTime. A vendor's own "no time" values (e.g.
// Dingdang's 2147483647) are its client's to recognise.
type UnixTime struct {
	// Time is the instant, meaningful only when Valid.
	Time time.Time
	// Valid is false when the vendor sent no time.
	Valid bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (u *UnixTime) UnmarshalJSON(data []byte) error {
	var i Int
	if err := i.UnmarshalJSON(data); err != nil {
		return err
	}
	*u = unix(int64(i), time.Second)
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for Decode's JSON v2 engine.
func (u *UnixTime) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	var i Int
	if err := i.UnmarshalJSONFrom(dec); err != nil {
		return err
	}
	*u = unix(int64(i), time.Second)
	return nil
}

// UnixMillis is a unix time in milliseconds, decoded like UnixTime.
type UnixMillis UnixTime

// UnmarshalJSON implements json.Unmarshaler.
func (u *UnixMillis) UnmarshalJSON(data []byte) error {
	var i Int
	if err := i.UnmarshalJSON(data); err != nil {
		return err
	}
	*u = UnixMillis(unix(int64(i), time.Millisecond))
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for Decode's JSON v2 engine.
func (u *UnixMillis) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	var i Int
	if err := i.UnmarshalJSONFrom(dec); err != nil {
		return err
	}
	*u = UnixMillis(unix(int64(i), time.Millisecond))
	return nil
}

func unix(n int64, unit time.Duration) UnixTime {
	if n <= 0 {
		return UnixTime{}
	}
	return UnixTime{Time: time.Unix(0, 0).Add(time.Duration(n) * unit).UTC(), Valid: true}
}

// Object is a JSON object the vendor may replace by [], "", a string or null
// when it has nothing (or on failure). Present says whether an object came.
type Object[T any] struct {
	// Value is the decoded object, zero when not Present.
	Value T
	// Present is true when the vendor sent an object.
	Present bool
	// Text is the vendor's text when it sent a string instead.
	Text string
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *Object[T]) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	*o = Object[T]{}
	if len(data) > 0 && data[0] == '{' {
		if err := json.Unmarshal(data, &o.Value); err != nil {
			return err
		}
		o.Present = true
		return nil
	}
	s, _, err := scalar(data)
	if err != nil {
		return err
	}
	o.Text = s
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for Decode's JSON v2 engine.
func (o *Object[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*o = Object[T]{}
	if dec.PeekKind() == '{' {
		if err := jsonv2.UnmarshalDecode(dec, &o.Value); err != nil {
			return err
		}
		o.Present = true
		return nil
	}
	s, _, err := scalarFrom(dec)
	o.Text = s
	return err
}

// List is a JSON array the vendor may replace by an object, a string or
// null; anything but an array decodes as an empty list.
type List[T any] []T

// UnmarshalJSON implements json.Unmarshaler.
func (l *List[T]) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '[' {
		*l = nil
		return nil
	}
	var items []T
	if err := json.Unmarshal(data, &items); err != nil {
		return err
	}
	*l = items
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for Decode's JSON v2 engine.
func (l *List[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*l = nil
	if dec.PeekKind() != '[' {
		return dec.SkipValue()
	}
	var items []T
	if err := jsonv2.UnmarshalDecode(dec, &items); err != nil {
		return err
	}
	*l = items
	return nil
}

// v1Options are encoding/json's semantics, but for the up-front scan of the
// whole document before decoding: a malformed body fails all the same.
var v1Options = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv1.ReportErrorsWithLegacySemantics(false))

// unmarshal is Decode's one way to decode a body, as it came or with its
// quotes straightened.
func unmarshal(body []byte, v any) error { return jsonv2.Unmarshal(body, v, v1Options) }
