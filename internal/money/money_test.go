package money_test

import (
	"testing"

	"github.com/vendorgate/vendorgate/internal/money"
)

func TestParseAndFormat(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "17": 1700, "0.35": 35, "100.5": 10050, "100.50": 10050, "999999999999.99": 99999999999999} {
		got, err := money.ParseYuan(in)
		if err != nil || got != want {
			t.Errorf("ParseYuan(%q): got %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ".5", "5.", "1.234", "-1", "+1", "1e3", "1,5", "１７", " 17", "1000000000000", "0x10"} {
		if got, err := money.ParseYuan(bad); err == nil {
			t.Errorf("ParseYuan(%q): got %d, want an error", bad, got)
		}
	}
	for fen, want := range map[int64]string{0: "0.00", 5: "0.05", 1700: "17.00", 10050: "100.50", -35: "-0.35"} {
		if got := money.Yuan(fen); got != want {
			t.Errorf("Yuan(%d): got %q, want %q", fen, got, want)
		}
	}
}
