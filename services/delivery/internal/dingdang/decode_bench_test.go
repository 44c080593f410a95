package dingdang

import (
	"os"
	"testing"

	"github.com/vendorgate/vendorgate/internal/vendorjson"
)

// BenchmarkDecodeRecord decodes the raw document's orderRecord sample
// the way GetOrder does: the envelope and its result in one pass.
func BenchmarkDecodeRecord(b *testing.B) {
	body, err := os.ReadFile("testdata/record_ok.json")
	if err != nil {
		b.Fatal(err)
	}
	decode := func() error {
		var res vendorjson.Object[recordJSON]
		return decodeInto(pathRecord, &res, nil, nil)(body)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := decode(); err != nil {
			b.Fatal(err)
		}
	}
}
