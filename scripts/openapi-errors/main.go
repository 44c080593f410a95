// Command openapi-errors completes the OpenAPI documents that
// protoc-gen-openapiv2 writes: every operation's default response gets the
// error shape every vendorgate error has (a google.rpc.Status whose details
// hold an ErrorInfo and, for a bad field, a BadRequest naming it in
// snake_case), with an example. The generator can only say "Status". Run by
// scripts/generate with the documents' paths as arguments.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

const description = "Every error: a google.rpc.Status whose details hold a google.rpc.ErrorInfo " +
	"(reason, domain, and metadata such as vendor, endpoint, vendor_code and vendor_message) and, " +
	"where a request field is at fault, a google.rpc.BadRequest naming it in snake_case. " +
	"The HTTP status matches the gRPC code (400, 404, 409, 413, 429, 500, 503, 504)."

func main() {
	for _, path := range os.Args[1:] {
		if err := complete(path); err != nil {
			fmt.Fprintf(os.Stderr, "openapi-errors: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

// complete rewrites the document at path with the error shape on every
// operation's default response.
func complete(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	// The domain is the service's: vendorgate/<domain>/v1/….
	domain := strings.Split(strings.TrimPrefix(path[strings.Index(path, "vendorgate/"):], "vendorgate/"), "/")[0]
	example := map[string]any{
		"code":    3,
		"message": "invalid request: <field>: <rule>",
		"details": []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.BadRequest", "field_violations": []any{
				map[string]any{"field": "<field>", "description": "<rule>", "reason": "<RULE>"}}},
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_ARGUMENT",
				"domain": domain + ".vendorgate.dev", "metadata": map[string]any{"fields": "<field>"}},
		},
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range paths {
		ops, _ := p.(map[string]any)
		for _, o := range ops {
			op, _ := o.(map[string]any)
			responses, ok := op["responses"].(map[string]any)
			if !ok {
				continue
			}
			responses["default"] = map[string]any{
				"description": description,
				"schema":      map[string]any{"$ref": "#/definitions/Status"},
				"examples":    map[string]any{"application/json": example},
			}
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}
