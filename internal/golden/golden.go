// Package golden is the one golden-file check of the mapping tests: what a
// vendor was sent and what the service answered, against
// testdata/<case>.golden.json, rewritten by the test package's -update flag.
// A mapping that swaps two fields of one type fails it.
package golden

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// golden is one golden file: the forms Fadada received, in order, and the
// answer as protojson.
type file struct {
	Sent     []any           `json:"sent,omitempty"`
	Response json.RawMessage `json:"response"`
}

// Check compares what a vendor was sent and the answer with
// testdata/<name>.golden.json, the answer as a proto (protocmp), or, with
// update (the test package's -update flag), rewrites the file. sent is
// whatever JSON-able form the test makes of the vendor's requests (a form,
// a JSON body), nil for none.
func Check(t *testing.T, name string, sent []any, resp proto.Message, update bool) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	respJSON, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if update {
		var generic any
		if err := json.Unmarshal(respJSON, &generic); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"sent": sent, "response": generic}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	var want file
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	wantResp := resp.ProtoReflect().New().Interface()
	if err := protojson.Unmarshal(want.Response, wantResp); err != nil {
		t.Fatalf("%s: response: %v", path, err)
	}
	if d := cmp.Diff(wantResp, resp, protocmp.Transform()); d != "" {
		t.Errorf("%s: got a different response (-want +got):\n%s", path, d)
	}
	// Through JSON, so that sent compares as the file holds it.
	sentJSON, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	var gotSent []any
	if err := json.Unmarshal(sentJSON, &gotSent); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want.Sent, gotSent); d != "" {
		t.Errorf("%s: sent a different request (-want +got):\n%s", path, d)
	}
}
