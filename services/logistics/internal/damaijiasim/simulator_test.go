package damaijiasim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijiasim"
)

type answer struct {
	Status int             `json:"status"`
	Data   json.RawMessage `json:"data"`
}

func call(t *testing.T, srv *httptest.Server, method, path, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

func login(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	a := call(t, srv, http.MethodPost, "/user_login", "", `{"app_id":"id","app_secret":"secret"}`)
	var data struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(a.Data, &data); a.Status != 0 || err != nil || data.AccessToken == "" {
		t.Fatalf("login: got status %d (%v), want 0 and a token", a.Status, err)
	}
	return data.AccessToken
}

// TestTokens: a token works until ExpireTokens; with RevokeOnLogin a
// login refuses every older token (status 200) and keeps the newest.
func TestTokens(t *testing.T) {
	t.Parallel()
	for _, revoke := range []bool{false, true} {
		sim := damaijiasim.New(damaijiasim.Options{AppID: "id", AppSecret: "secret", RevokeOnLogin: revoke})
		srv := httptest.NewServer(sim.Handler())
		t.Cleanup(srv.Close)
		status := func(token string) int {
			return call(t, srv, http.MethodGet, "/v1/warehouse_get_list", token, "").Status
		}
		first := login(t, srv)
		second := login(t, srv)
		want := 0
		if revoke {
			want = 200
		}
		if got := status(first); got != want {
			t.Errorf("revoke %v: the older token's call got status %d, want %d", revoke, got, want)
		}
		if got := status(second); got != 0 {
			t.Errorf("revoke %v: the newest token's call got status %d, want 0", revoke, got)
		}
		sim.ExpireTokens()
		if got := status(second); got != 200 {
			t.Errorf("revoke %v: after ExpireTokens got status %d, want 200", revoke, got)
		}
		if got := sim.Logins(); got != 2 {
			t.Errorf("revoke %v: got %d logins, want 2", revoke, got)
		}
	}
}
