package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestCompleteSetsTheErrorShape(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "vendorgate", "vehicle", "v1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vehicle_service.swagger.json")
	in := `{"paths":{"/v1/x":{"get":{"responses":{"200":{"description":"A successful response."},"default":{"description":"An unexpected error response.","schema":{"$ref":"#/definitions/Status"}}}}}}}`
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := complete(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Description string
				Schema      map[string]string
				Examples    map[string]struct {
					Details []struct {
						Type   string `json:"@type"`
						Domain string
					}
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	def := doc.Paths["/v1/x"]["get"].Responses["default"]
	if def.Schema["$ref"] != "#/definitions/Status" || def.Description == "An unexpected error response." {
		t.Errorf("default response: got %+v, want the error shape", def)
	}
	details := def.Examples["application/json"].Details
	if len(details) != 2 || details[0].Type != "type.googleapis.com/google.rpc.BadRequest" ||
		details[1].Type != "type.googleapis.com/google.rpc.ErrorInfo" || details[1].Domain != "vehicle.vendorgate.dev" {
		t.Errorf("example details: got %+v, want BadRequest then ErrorInfo in vehicle.vendorgate.dev", details)
	}
	if _, ok := doc.Paths["/v1/x"]["get"].Responses["200"]; !ok {
		t.Error("the 200 response was lost")
	}
}
