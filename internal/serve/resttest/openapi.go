package resttest

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Call is a request that succeeds against the service; CheckOpenAPI decodes
// its response against the document.
type Call struct {
	Method, Path, Body string
}

// doc is the part of an OpenAPI v2 document the checks read.
type doc struct {
	Info struct {
		Version string `json:"version"`
	} `json:"info"`
	Paths       map[string]map[string]operation `json:"paths"`
	Definitions map[string]*schema              `json:"definitions"`
}

type operation struct {
	OperationID string               `json:"operationId"`
	Parameters  []parameter          `json:"parameters"`
	Responses   map[string]*response `json:"responses"`
}

type parameter struct {
	Name   string  `json:"name"`
	In     string  `json:"in"`
	Schema *schema `json:"schema"`
}

type response struct {
	Schema *schema `json:"schema"`
}

type schema struct {
	Ref        string             `json:"$ref"`
	Type       string             `json:"type"`
	Properties map[string]*schema `json:"properties"`
	Items      *schema            `json:"items"`
}

// FetchOpenAPI returns the document the service serves at /openapi.json.
func FetchOpenAPI(t *testing.T, base string) []byte {
	t.Helper()
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: got HTTP %d, want 200", resp.StatusCode)
	}
	return raw
}

// CheckOpenAPI checks that the document the service serves cannot have
// drifted from its wire format:
//   - it has a version, and exactly one operation per RPC of sd with an
//     HTTP binding;
//   - every path and method in it is routed by the server (a probe never
//     meets ROUTE_NOT_FOUND or METHOD_NOT_ALLOWED);
//   - every property of every request and response schema is a field of the
//     RPC's message under its proto (snake_case) name, the name the server
//     sends and accepts, and every query parameter is a field path;
//   - every key of the real responses to calls is in the schema (unknown
//     fields disallowed).
func CheckOpenAPI(t *testing.T, base string, sd protoreflect.ServiceDescriptor, calls []Call) {
	t.Helper()
	var d doc
	if err := json.Unmarshal(FetchOpenAPI(t, base), &d); err != nil {
		t.Fatalf("/openapi.json is not an OpenAPI document: %v", err)
	}
	if d.Info.Version == "" || d.Info.Version == "version not set" {
		t.Errorf("info.version: got %q, want the service's version", d.Info.Version)
	}
	seen := map[protoreflect.Name]bool{}
	for tmpl, ops := range d.Paths {
		for method, op := range ops {
			_, name, _ := strings.Cut(op.OperationID, "_")
			md := sd.Methods().ByName(protoreflect.Name(name))
			if md == nil {
				t.Errorf("%s %s: operation %q is no RPC of %s", method, tmpl, op.OperationID, sd.FullName())
				continue
			}
			seen[md.Name()] = true
			checkRouted(t, base, strings.ToUpper(method), tmpl)
			for _, p := range op.Parameters {
				switch p.In {
				case "body":
					d.checkSchema(t, op.OperationID+" body", p.Schema, md.Input())
				case "query", "path":
					if !hasFieldPath(md.Input(), p.Name) {
						t.Errorf("%s: %s parameter %q is no field of %s", op.OperationID, p.In, p.Name, md.Input().FullName())
					}
				}
			}
			ok := op.Responses["200"]
			if ok == nil || ok.Schema == nil {
				t.Errorf("%s: no 200 response schema", op.OperationID)
				continue
			}
			resp := ok.Schema
			if s := d.resolve(resp); md.IsStreamingServer() && s != nil && s.Properties["result"] != nil {
				// grpc-gateway streams one {"result": …} or {"error": …}
				// per line: the message is the result.
				resp = s.Properties["result"]
			}
			d.checkSchema(t, op.OperationID+" response", resp, md.Output())
			if op.Responses["default"] == nil {
				t.Errorf("%s: no default (error) response", op.OperationID)
			}
		}
	}
	for i := range sd.Methods().Len() {
		if md := sd.Methods().Get(i); !seen[md.Name()] {
			t.Errorf("RPC %s has no operation in the document", md.Name())
		}
	}
	for _, c := range calls {
		d.checkCall(t, base, c)
	}
}

// checkRouted probes a documented route: it must reach a handler.
func checkRouted(t *testing.T, base, method, tmpl string) {
	t.Helper()
	path := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(tmpl, "DRIFTPROBE")
	var body io.Reader
	if method != http.MethodGet {
		// An unknown field stops the request in the gateway, after routing
		// and before the service: nothing is bought.
		body = strings.NewReader(`{"drift_probe_unknown_field":1}`)
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && bytes.Contains(raw, []byte("ROUTE_NOT_FOUND")) ||
		resp.StatusCode == http.StatusMethodNotAllowed {
		t.Errorf("documented %s %s is not routed: HTTP %d %s", method, tmpl, resp.StatusCode, raw)
	}
}

// checkSchema checks every property of s, recursively, against msg.
func (d *doc) checkSchema(t *testing.T, where string, s *schema, msg protoreflect.MessageDescriptor) {
	t.Helper()
	s = d.resolve(s)
	if s == nil || strings.HasPrefix(string(msg.FullName()), "google.protobuf.") {
		return
	}
	for name, prop := range s.Properties {
		fd := msg.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			t.Errorf("%s: property %q is no field of %s (fields go on the wire under their proto names)", where, name, msg.FullName())
			continue
		}
		if fd.Message() != nil && !fd.IsMap() {
			if fd.IsList() {
				prop = prop.Items
			}
			d.checkSchema(t, where+"."+name, prop, fd.Message())
		}
	}
}

func (d *doc) resolve(s *schema) *schema {
	for s != nil && s.Ref != "" {
		s = d.Definitions[strings.TrimPrefix(s.Ref, "#/definitions/")]
	}
	return s
}

func hasFieldPath(msg protoreflect.MessageDescriptor, path string) bool {
	for part := range strings.SplitSeq(path, ".") {
		if msg == nil {
			return false
		}
		fd := msg.Fields().ByName(protoreflect.Name(part))
		if fd == nil {
			return false
		}
		msg = fd.Message()
	}
	return true
}

// checkCall sends c and decodes its response against the schema of the
// operation that documents it, disallowing unknown fields.
func (d *doc) checkCall(t *testing.T, base string, c Call) {
	t.Helper()
	var body io.Reader
	if c.Body != "" {
		body = strings.NewReader(c.Body)
	}
	req, err := http.NewRequest(c.Method, base+c.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s %s: got HTTP %d, want 200 (%s)", c.Method, c.Path, resp.StatusCode, raw)
		return
	}
	op, ok := d.operationFor(c.Method, c.Path)
	if !ok {
		t.Errorf("%s %s: no operation in the document", c.Method, c.Path)
		return
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %s: %v", c.Method, c.Path, err)
	}
	d.checkValue(t, c.Method+" "+c.Path, v, op.Responses["200"].Schema)
}

func (d *doc) operationFor(method, path string) (operation, bool) {
	path, _, _ = strings.Cut(path, "?")
	for tmpl, ops := range d.Paths {
		re := "^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$"
		if regexp.MustCompile(re).MatchString(path) {
			if op, ok := ops[strings.ToLower(method)]; ok {
				return op, true
			}
		}
	}
	return operation{}, false
}

// checkValue wants every object key of v to be a property of s.
func (d *doc) checkValue(t *testing.T, where string, v any, s *schema) {
	t.Helper()
	s = d.resolve(s)
	if s == nil {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		if s.Type != "object" && s.Properties == nil {
			return // a well-known type rendered as a string, or free-form
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			prop, ok := s.Properties[k]
			if !ok {
				t.Errorf("%s: the server sent field %q, which the document does not have", where, k)
				continue
			}
			d.checkValue(t, where+"."+k, v[k], prop)
		}
	case []any:
		for _, e := range v {
			d.checkValue(t, where+"[]", e, s.Items)
		}
	}
}
