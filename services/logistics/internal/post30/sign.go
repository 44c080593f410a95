package post30

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vendorgate/vendorgate/internal/formsign"
)

// TimerLayout is the timer field's format (C#'s yyyy-MM-dd HH:mm:ss).
const TimerLayout = "2006-01-02 15:04:05"

// TimerValidity is how far ahead of now a signature's timer is set.
const TimerValidity = 5 * time.Minute

// Signature returns the MD5 sign of form's fields other than sign and
// timer, with timer and the secret key sk, per the vendor's C# sample:
// for each key in ordinal order, lower(key) + "{$$}" + value + "{$$$}",
// then timer, "{$$$$}" and sk; the lower-case hex MD5 of that.
func Signature(form url.Values, timer, sk string) string {
	var b strings.Builder
	keys := make([]string, 0, len(form))
	for k := range form {
		if k != "sign" && k != "timer" {
			keys = append(keys, k)
		}
	}
	// SortedDictionary<string,…> with the default comparer; our keys are
	// ASCII lower-case, where culture and ordinal order agree.
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(strings.ToLower(k))
		b.WriteString("{$$}")
		b.WriteString(form.Get(k))
		b.WriteString("{$$$}")
	}
	b.WriteString(timer)
	b.WriteString("{$$$$}")
	b.WriteString(sk)
	sum := md5.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// Sign returns a formsign.Signer that adds external_company (ak), timer
// (now + TimerValidity in loc) and sign. The secret is never in the form
// or an error.
func Sign(ak, sk string, now time.Time, loc *time.Location) formsign.Signer {
	return func(form url.Values) error {
		if ak == "" || sk == "" {
			return errors.New("post30: access key and secret key are required")
		}
		form.Set("external_company", ak)
		timer := now.Add(TimerValidity).In(loc).Format(TimerLayout)
		form.Set("sign", Signature(form, timer, sk))
		form.Set("timer", timer)
		return nil
	}
}
