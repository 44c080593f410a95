package pagetoken_test

import (
	"testing"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/pagetoken"
)

type cursor struct {
	ID   string `json:"i"`
	Size int    `json:"s"`
}

func TestRoundTripAndRefusals(t *testing.T) {
	t.Parallel()
	want := cursor{ID: "a/b+c", Size: 20}
	var got cursor
	if err := pagetoken.Decode(pagetoken.Encode(want), &got); err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	empty := cursor{ID: "kept"}
	if err := pagetoken.Decode("", &empty); err != nil || empty.ID != "kept" {
		t.Fatalf("empty token: got %+v, %v", empty, err)
	}
	for _, bad := range []string{"%%%", "bm90IGpzb24"} { // not base64; base64 of "not json"
		err := pagetoken.Decode(bad, &got)
		d, ok := domainerr.As(err)
		if !ok || d.Kind != domainerr.KindInvalidArgument || d.Field != "page_token" || d.Reason != "PAGE_TOKEN_INVALID" {
			t.Errorf("Decode(%q): got %v, want INVALID_ARGUMENT page_token PAGE_TOKEN_INVALID", bad, err)
		}
	}
}
