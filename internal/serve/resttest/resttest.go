// Package resttest checks a running service's REST face from the outside:
// the answers, access-log lines and metrics of malformed requests, and that
// the served OpenAPI document matches what the server routes and sends.
package resttest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// Case is one malformed request and what the REST face must answer.
type Case struct {
	// Name names the subtest.
	Name string
	// Method, Path, ContentType and Body make the request; a Body of
	// BigBody bytes is sent when BigBody is set.
	Method, Path, ContentType, Body string
	BigBody                         int64
	// Status is the HTTP status wanted; Reason the ErrorInfo reason.
	Status int
	Reason string
	// Field and FieldReason are the BadRequest violation wanted, "" for
	// none.
	Field, FieldReason string
	// Allow is the Allow header wanted, for 405.
	Allow string
	// Route is the metric's route label wanted.
	Route string
	// Meta are ErrorInfo metadata entries wanted.
	Meta map[string]string
}

// Target is a running service.
type Target struct {
	// Base is "http://host:port".
	Base string
	// Domain is the service's ErrorInfo domain.
	Domain string
	// Logs returns the service's JSON log so far.
	Logs func() string
}

// Common returns the malformed requests every service must answer the same
// way. bodyRoute is a POST route with a body, e.g. "/v1/delivery/orders",
// and allow the methods its path serves ("GET, POST"); wrongType is a JSON
// body with a field of the wrong type, named in camelCase, and wantField
// its snake_case name.
func Common(bodyRoute, allow, wrongType, wantField string) []Case {
	route := "POST " + bodyRoute
	return []Case{
		{Name: "malformed JSON", Method: "POST", Path: bodyRoute, ContentType: "application/json", Body: `{"origin_id":`,
			Status: 400, Reason: "MALFORMED_BODY", Route: route},
		{Name: "unknown field", Method: "POST", Path: bodyRoute, ContentType: "application/json", Body: `{"no_such_field":1}`,
			Status: 400, Reason: "INVALID_ARGUMENT", Field: "no_such_field", FieldReason: "UNKNOWN_FIELD", Route: route},
		{Name: "wrong type", Method: "POST", Path: bodyRoute, ContentType: "application/json", Body: wrongType,
			Status: 400, Reason: "INVALID_ARGUMENT", Field: wantField, FieldReason: "INVALID_VALUE", Route: route},
		{Name: "XML body", Method: "POST", Path: bodyRoute, ContentType: "application/xml", Body: `<order/>`,
			Status: 415, Reason: "UNSUPPORTED_MEDIA_TYPE", Route: route},
		{Name: "too large", Method: "POST", Path: bodyRoute, ContentType: "application/json", BigBody: 5 << 20,
			Status: 413, Reason: "REQUEST_TOO_LARGE", Route: route, Meta: map[string]string{"limit_bytes": "4194304"}},
		{Name: "unknown route", Method: "GET", Path: "/v1/no/such/route",
			Status: 404, Reason: "ROUTE_NOT_FOUND", Route: "unmatched"},
		{Name: "wrong method", Method: "DELETE", Path: bodyRoute,
			Status: 405, Reason: "METHOD_NOT_ALLOWED", Allow: allow, Route: "unmatched"},
	}
}

// Check sends every case to target in parallel subtests and checks the
// status, ErrorInfo, BadRequest, Allow header, the REST access-log line and
// the metric of each.
func Check(t *testing.T, target Target, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			checkOne(t, target, c)
		})
	}
}

func checkOne(t *testing.T, target Target, c Case) {
	var body io.Reader = strings.NewReader(c.Body)
	if c.BigBody > 0 {
		body = io.LimitReader(repeat('a'), c.BigBody)
	}
	req, err := http.NewRequestWithContext(t.Context(), c.Method, target.Base+c.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.BigBody > 0 {
		req.ContentLength = c.BigBody
	}
	if c.ContentType != "" {
		req.Header.Set("Content-Type", c.ContentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.Method, c.Path, err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != c.Status {
		t.Errorf("got HTTP %d, want %d (body %s)", resp.StatusCode, c.Status, raw)
	}
	if got := resp.Header.Get("Allow"); got != c.Allow {
		t.Errorf("Allow: got %q, want %q", got, c.Allow)
	}
	var sp spb.Status
	if err := protojson.Unmarshal(raw, &sp); err != nil {
		t.Fatalf("body %s is not a google.rpc.Status: %v", raw, err)
	}
	var info *errdetails.ErrorInfo
	var bad *errdetails.BadRequest
	for _, d := range status.FromProto(&sp).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			bad = d
		}
	}
	if info.GetReason() != c.Reason || info.GetDomain() != target.Domain {
		t.Errorf("ErrorInfo: got %s in %s, want %s in %s", info.GetReason(), info.GetDomain(), c.Reason, target.Domain)
	}
	for k, v := range c.Meta {
		if got := info.GetMetadata()[k]; got != v {
			t.Errorf("ErrorInfo metadata %s: got %q, want %q", k, got, v)
		}
	}
	var field, fieldReason string
	if v := bad.GetFieldViolations(); len(v) > 0 {
		field, fieldReason = v[0].GetField(), v[0].GetReason()
	}
	if field != c.Field || fieldReason != c.FieldReason {
		t.Errorf("BadRequest: got field %q reason %q, want %q %q", field, fieldReason, c.Field, c.FieldReason)
	}
	checkLog(t, target, c)
	checkMetric(t, target, c)
}

// checkLog wants one REST access-log line for the request.
func checkLog(t *testing.T, target Target, c Case) {
	t.Helper()
	path, _, _ := strings.Cut(c.Path, "?")
	found := 0
	for line := range strings.Lines(target.Logs()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "finished REST request" {
			continue
		}
		if m["protocol"] == "rest" && m["http.method"] == c.Method && m["http.path"] == path &&
			m["http.status"] == float64(c.Status) && m["reason"] == c.Reason && m["http.route"] == c.Route &&
			m["peer.address"] != "" && m["peer.address"] != nil {
			found++
		}
	}
	if found == 0 {
		t.Errorf("no REST access-log line for %s %s with status %d, reason %s, route %q", c.Method, c.Path, c.Status, c.Reason, c.Route)
	}
}

// checkMetric wants vendorgate_rest_requests_total counted for the route
// and status.
func checkMetric(t *testing.T, target Target, c Case) {
	t.Helper()
	resp, err := http.Get(target.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := fmt.Sprintf(`vendorgate_rest_requests_total{code="%d",route="%s"} `, c.Status, c.Route)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), want) && !strings.HasSuffix(sc.Text(), " 0") {
			return
		}
	}
	t.Errorf("no %s… line in /metrics", want)
}

// repeat is an endless reader of one byte.
type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}
