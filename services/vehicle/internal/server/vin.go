package server

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/vendorgate/vendorgate/internal/rpcstatus"
)

// vinLength is the length of a VIN (ISO 3779).
const vinLength = 17

// normalizeVIN trims and upper-cases a VIN and checks it: 17 letters and
// digits, without I, O and Q (ISO 3779 leaves them out so that they are not
// read as 1 and 0). A bad VIN is an INVALID_ARGUMENT status naming "vin",
// returned before anything is bought.
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
	return "", rpcstatus.InvalidArgument(Domain, []*errdetails.BadRequest_FieldViolation{{
		Field:       "vin",
		Description: problem,
		Reason:      "VIN_MALFORMED",
	}}).Err()
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
