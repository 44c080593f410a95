package serve

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestRouteTableMatch(t *testing.T) {
	t.Parallel()
	var table routeTable
	for _, b := range []*annotations.HttpRule{
		{Pattern: &annotations.HttpRule_Post{Post: "/v1/d/orders"}},
		{Pattern: &annotations.HttpRule_Get{Get: "/v1/d/orders"}},
		{Pattern: &annotations.HttpRule_Get{Get: "/v1/d/orders/{id}"}},
		{Pattern: &annotations.HttpRule_Post{Post: "/v1/d/orders/{id}:cancel"}},
		{Pattern: &annotations.HttpRule_Get{Get: "/v1/files/{name=**}"}},
	} {
		r, err := newRoute(b, "/x.S/M", nil)
		if err != nil {
			t.Fatal(err)
		}
		table = append(table, r)
	}
	tests := []struct {
		method, path string
		want         string
		allowed      []string
	}{
		{"POST", "/v1/d/orders", "POST /v1/d/orders", nil},
		{"GET", "/v1/d/orders", "GET /v1/d/orders", nil},
		{"DELETE", "/v1/d/orders", "", []string{"GET", "POST"}},
		{"GET", "/v1/d/orders/A1", "GET /v1/d/orders/{id}", nil},
		{"POST", "/v1/d/orders/A1:cancel", "POST /v1/d/orders/{id}:cancel", nil},
		// As in the gateway, a verb the GET route lacks is part of the id.
		{"GET", "/v1/d/orders/A1:cancel", "GET /v1/d/orders/{id}", nil},
		{"PUT", "/v1/d/orders/A1:cancel", "", []string{"GET", "POST"}},
		{"GET", "/v1/d/orders/", "", nil},
		{"GET", "/v1/d/orders/A1/x", "", nil},
		{"GET", "/v1/files/a/b/c", "GET /v1/files/{name=**}", nil},
		{"GET", "/v2/nothing", "", nil},
		{"POST", "/v1/d/orders/A1:cancelx", "", []string{"GET"}},
		{"POST", "/v1/d/orders/A1cancel", "", []string{"GET"}},
		{"POST", "/v1/d/orders/:cancel", "", []string{"GET"}},
		{"GET", "/v1/d//orders", "", nil},
		{"GET", "/v1/d", "", nil},
		{"GET", "/", "", nil},
		{"GET", "", "", nil},
		{"GET", "/v1/files/", "GET /v1/files/{name=**}", nil},
		{"GET", "/v1/files", "GET /v1/files/{name=**}", nil}, // ** takes zero segments too
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			r, allowed := table.match(tt.method, tt.path)
			got := ""
			if r != nil {
				got = r.key()
			}
			if got != tt.want || !slices.Equal(allowed, tt.allowed) {
				t.Errorf("got %q allowed %v, want %q allowed %v", got, allowed, tt.want, tt.allowed)
			}
		})
	}
}

func TestNewRouteRejectsUnsupportedTemplates(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []string{"v1/no-slash", "/v1/{name=shelves/*}", "/v1/a{b}"} {
		if _, err := newRoute(&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: tmpl}}, "/x.S/M", nil); err == nil {
			t.Errorf("%s: got no error, want one", tmpl)
		}
	}
}

// TestIncomingHeader holds what the REST face forwards as metadata: the
// request id alone (Authorization the gateway forwards by itself), never
// vendorgate- metadata or trace headers a caller sets, in any letter case.
func TestIncomingHeader(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"X-Request-Id":                    requestIDKey,
		"x-request-id":                    requestIDKey,
		"Grpc-Metadata-X-Request-Id":      "",
		"Grpc-Metadata-Vendorgate-Caller": "",
		"Vendorgate-Client-Address":       "",
		"Traceparent":                     "",
		"Grpc-Metadata-Tracestate":        "",
		"BAGGAGE":                         "",
		"Authorization":                   "",
		"User-Agent":                      "",
	} {
		got, ok := incomingHeader(key)
		if got != want || ok != (want != "") {
			t.Errorf("incomingHeader(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

// TestFaceMatchFollowsTheRequest: serveGateway's match is account's while
// the request is the one account matched, and the table's for a request
// a handler between them rewrote.
func TestFaceMatchFollowsTheRequest(t *testing.T) {
	t.Parallel()
	var table routeTable
	for _, b := range []*annotations.HttpRule{
		{Pattern: &annotations.HttpRule_Get{Get: "/v1/d/orders/{id}"}},
		{Pattern: &annotations.HttpRule_Get{Get: "/v1/files/{name=**}"}},
	} {
		r, err := newRoute(b, "/x.S/M", nil)
		if err != nil {
			t.Fatal(err)
		}
		table = append(table, r)
	}
	requests, err := registerRESTMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	f := &restFace{routes: table, requests: requests, log: slog.New(slog.DiscardHandler)}
	var got []string
	h := f.account("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, _ := f.match(r)
		got = append(got, rt.key())
		r.URL.Path = "/v1/files/a/b"
		rt, _ = f.match(r)
		got = append(got, rt.key())
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/d/orders/A1", nil))
	want := []string{"GET /v1/d/orders/{id}", "GET /v1/files/{name=**}"}
	if !slices.Equal(got, want) {
		t.Errorf("matched %q, want %q", got, want)
	}
}

// TestPathOnly: the routes the REST face serves directly are the GETs whose
// request their path alone makes, of top-level string fields.
func TestPathOnly(t *testing.T) {
	t.Parallel()
	str := (&wrapperspb.StringValue{}).ProtoReflect().Descriptor()
	for _, c := range []struct {
		rule  *annotations.HttpRule
		input protoreflect.MessageDescriptor
		want  []string
	}{
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/x/{value}"}}, str, []string{"value"}},
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/x/{value=*}/y"}}, str, []string{"value"}},
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/x/{value}:watch"}}, str, []string{"value"}},
		// Not a GET, no variable, a variable that is no field, a field the
		// path leaves to the query, a field that is not a string, an
		// answer of which the route writes one field.
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/x/{value}"}}, str, nil},
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/x/{value}"}, ResponseBody: "value"}, str, nil},
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/x"}}, str, nil},
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/x/{other}"}}, str, nil},
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/x/{type_url}"}}, (&anypb.Any{}).ProtoReflect().Descriptor(), nil},
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/x/{value}"}}, (&wrapperspb.Int64Value{}).ProtoReflect().Descriptor(), nil},
	} {
		r, err := newRoute(c.rule, "/x.S/M", c.input)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := r.pathOnly()
		if ok != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("%s of %s: pathOnly() = %q, %v; want %q", r.key(), c.input.FullName(), got, ok, c.want)
		}
	}
}

// TestPatternKey: a route's patternKey is what the gateway's Pattern, as
// protoc-gen-grpc-gateway compiles the route's template, prints; the REST
// face finds a direct route's handler by it.
func TestPatternKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rule *annotations.HttpRule
		ops  []int
		pool []string
		verb string
	}{
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/delivery/orders/{origin_id}"}},
			[]int{2, 0, 2, 1, 2, 2, 1, 0, 4, 1, 5, 3}, []string{"v1", "delivery", "orders", "origin_id"}, ""},
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/delivery/orders/{origin_id}:watch"}},
			[]int{2, 0, 2, 1, 2, 2, 1, 0, 4, 1, 5, 3}, []string{"v1", "delivery", "orders", "origin_id"}, "watch"},
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/delivery/orders/{origin_id}/cancel-reasons"}},
			[]int{2, 0, 2, 1, 2, 2, 1, 0, 4, 1, 5, 3, 2, 4}, []string{"v1", "delivery", "orders", "origin_id", "cancel-reasons"}, ""},
		{&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/delivery/usage"}},
			[]int{2, 0, 2, 1, 2, 2}, []string{"v1", "delivery", "usage"}, ""},
	} {
		r, err := newRoute(c.rule, "/x.S/M", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := "GET " + runtime.MustPattern(runtime.NewPattern(1, c.ops, c.pool, c.verb)).String()
		if got := r.patternKey(); got != want {
			t.Errorf("patternKey() of %s = %q, the gateway's %q", r.key(), got, want)
		}
	}
}
