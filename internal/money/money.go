// Package money is the one representation of an amount in vendorgate:
// integer fen (0.01 yuan), parsed from and formatted as yuan strings with at
// most two decimals ("17", "0.35", "100.50"). Nothing that holds money uses
// a float: configuration prices, spend caps, money movements, the usage
// ledger and the spend metrics all go through here.
package money

import (
	"fmt"
	"strings"
)

// maxWholeDigits bounds the yuan part: twelve digits (under a trillion
// yuan) keep every sum of fen far inside int64.
const maxWholeDigits = 12

// ParseYuan parses a non-negative yuan amount with at most two decimals,
// e.g. "17", "0.35" or "100.5", into fen.
func ParseYuan(s string) (int64, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(whole) > maxWholeDigits || len(frac) > 2 || (hasFrac && frac == "") ||
		!digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not a yuan amount such as \"17\" or \"0.35\" (at most two decimals)", s)
	}
	frac += strings.Repeat("0", 2-len(frac))
	var fen int64
	for _, d := range whole + frac {
		fen = fen*10 + int64(d-'0')
	}
	return fen, nil
}

// Yuan formats fen as yuan with two decimals, e.g. 1700 as "17.00".
func Yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
