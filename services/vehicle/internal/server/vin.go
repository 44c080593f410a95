package server

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vendorgate/vendorgate/internal/domainerr"
)

// vinLength is the length of a VIN (ISO 3779).
const vinLength = 17

// normalizeVIN trims and upper-cases a VIN and checks it: 17 letters and
// digits, without I, O and Q (ISO 3779 leaves them out so that they are not
// read as 1 and 0). A bad VIN is an invalid argument naming "vin", returned
// before anything is bought.
func normalizeVIN(raw string) (string, error) {
	vin := strings.ToUpper(strings.TrimSpace(raw))
	var problem string
	if n := utf8.RuneCountInString(vin); n != vinLength {
		problem = fmt.Sprintf("must have %d characters, has %d", vinLength, n)
	} else if i := strings.IndexFunc(vin, func(r rune) bool { return !vinRune(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(vin[i:])
		problem = fmt.Sprintf("must be letters and digits without I, O and Q, has %q", r)
	}
	if problem == "" {
		return vin, nil
	}
	return "", domainerr.InvalidArgument("vin", "VIN_MALFORMED", problem)
}

func vinRune(r rune) bool {
	switch {
	case r == 'I' || r == 'O' || r == 'Q':
		return false
	case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	default:
		return false
	}
}
