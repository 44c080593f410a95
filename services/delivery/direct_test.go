package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/vendorgate/vendorgate/internal/logging/logtest"
	"github.com/vendorgate/vendorgate/services/delivery/internal/dingdangsim"
)

// TestDirectRESTMatchesTheGateway: a GET route whose request its path
// alone makes is served by the REST face calling the service itself
// (serve's direct path); with traces on, the same route goes through the
// gateway's generated handler and the in-process channel. Two services in
// front of one simulator, one of each, must answer every request alike:
// status, headers and body, for found and unknown orders, ids the
// validation refuses, escaped and non-ASCII paths, a query the route does
// not read and a body a GET should not have.
func TestDirectRESTMatchesTheGateway(t *testing.T) {
	t.Parallel()
	sim := dingdangsim.New(dingdangsim.Options{Keys: map[string]string{testSecretID: testSecretKey}})
	vendor := httptest.NewServer(sim.Handler())
	t.Cleanup(vendor.Close)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(collector.Close)

	direct := startSim(t, &logtest.Buffer{}, sim, vendor.URL)
	gateway := startSim(t, &logtest.Buffer{}, sim, vendor.URL,
		"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL)
	if _, err := direct.client.CreateOrder(t.Context(), validOrder("DIRECT-1")); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ name, path, body string }{
		{"found", "/v1/delivery/orders/DIRECT-1", ""},
		{"unknown order", "/v1/delivery/orders/NOPE-1", ""},
		{"cancel reasons", "/v1/delivery/orders/DIRECT-1/cancel-reasons", ""},
		{"refused id", "/v1/delivery/orders/bad%20id", ""},
		{"escaped slash", "/v1/delivery/orders/a%2Fb", ""},
		{"non-ASCII", "/v1/delivery/orders/%E8%AE%A2%E5%8D%95", ""},
		{"too long", "/v1/delivery/orders/" + strings.Repeat("x", 65), ""},
		{"query", "/v1/delivery/orders/DIRECT-1?origin_id=OTHER&x=1", ""},
		{"body", "/v1/delivery/orders/DIRECT-1", `{"origin_id":"OTHER"}`},
		{"trailers", "/v1/delivery/orders/DIRECT-1#te", ""},
		{"trailers of a refusal", "/v1/delivery/orders/NOPE-1#te", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := restAnswer(t, gateway.rest+c.path, c.body)
			got := restAnswer(t, direct.rest+c.path, c.body)
			if got != want {
				t.Errorf("GET %s\ndirect:  %s\ngateway: %s", c.path, got, want)
			}
		})
	}
}

// restAnswer is a GET's status, headers (but Date), body and trailers,
// as text; a url ending in "#te" asks for trailers (TE: trailers).
func restAnswer(t *testing.T, url, body string) string {
	t.Helper()
	url, te := strings.CutSuffix(url, "#te")
	req, err := http.NewRequest(http.MethodGet, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if te {
		req.Header.Set("TE", "trailers")
	}
	req.Header.Set("X-Request-Id", "direct-test-1")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for k, vs := range resp.Header {
		if k != "Date" {
			lines = append(lines, k+": "+strings.Join(vs, ", "))
		}
	}
	slices.Sort(lines)
	for k, vs := range resp.Trailer {
		lines = append(lines, "trailer "+k+": "+strings.Join(vs, ", "))
	}
	return resp.Status + "\n" + strings.Join(lines, "\n") + "\n" + string(b)
}
