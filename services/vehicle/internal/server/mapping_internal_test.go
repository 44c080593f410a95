package server

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the mapping's output")

// TestReportMappingGolden decodes each report sample as the store keeps it
// and maps it to the proto, field by field against a golden file. The
// vendor document's sample repeats values of one type (flags, dates), so
// testdata/report_distinct.json gives every field of a type its own value
// (the flags take three samples): swapping two of them in the mapping
// changes the output.
func TestReportMappingGolden(t *testing.T) {
	t.Parallel()
	samples := []string{
		"../maintenancesim/samples/report_ready.json",
		"testdata/report_distinct.json",
		// Six flags cannot all differ in one sample: in these two and
		// report_distinct, each pair of flags differs at least once.
		"testdata/report_flags_b.json",
		"testdata/report_flags_c.json",
	}
	for _, sample := range samples {
		name := strings.TrimSuffix(filepath.Base(sample), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(sample)
			if err != nil {
				t.Fatal(err)
			}
			v, err := view(reports.Order{OrderID: "o1", State: reports.StateReady, Report: body})
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			b, err := protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}.Marshal(v.report)
			if err != nil {
				t.Fatal(err)
			}
			var generic any
			if err := json.Unmarshal(b, &generic); err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(map[string]any{"state": v.state.String(), "report": generic}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s: got a different mapping (-want +got):\n%s", path, d)
			}
		})
	}
}
