package httpapi

import (
	"net/http"
	"testing"

	"github.com/runnel-dev/runnel/gateway/auth"
)

func TestScramUserRoutes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	admin := h.admin()

	wantStatus(t, h.do(req{method: "PUT", path: "/v1/admin/scram-users/alice/SCRAM-SHA-512", token: admin, body: `{"password":"pw"}`}), http.StatusNoContent)
	wantStatus(t, h.do(req{method: "PUT", path: "/v1/admin/scram-users/alice/scram-sha-256", token: admin, body: `{"password":"pw","iterations":4096}`}), http.StatusNoContent)
	r := h.do(req{method: "GET", path: "/v1/admin/scram-users", token: admin})
	wantStatus(t, r, http.StatusOK)
	var list struct{ Users []scramUserJSON }
	r.decode(t, &list)
	if len(list.Users) != 1 || list.Users[0].Name != "alice" || len(list.Users[0].Credentials) != 2 ||
		list.Users[0].Credentials[0] != (scramCredentialJSON{"SCRAM-SHA-256", 4096}) || list.Users[0].Credentials[1] != (scramCredentialJSON{"SCRAM-SHA-512", defaultScramIterations}) {
		t.Fatalf("users %+v", list)
	}
	wantStatus(t, h.do(req{method: "DELETE", path: "/v1/admin/scram-users/alice/SCRAM-SHA-256", token: admin}), http.StatusNoContent)
	wantError(t, h.do(req{method: "DELETE", path: "/v1/admin/scram-users/alice/SCRAM-SHA-256", token: admin}), http.StatusNotFound, "not_found")

	for _, bad := range []req{
		{method: "PUT", path: "/v1/admin/scram-users/alice/SCRAM-SHA-1", body: `{"password":"pw"}`},
		{method: "PUT", path: "/v1/admin/scram-users/alice/SCRAM-SHA-512", body: `{"password":""}`},
		{method: "PUT", path: "/v1/admin/scram-users/alice/SCRAM-SHA-512", body: `{"password":"pw","iterations":1000}`},
		{method: "PUT", path: "/v1/admin/scram-users/alice/SCRAM-SHA-512", body: `{"password":"pw","salt":"x"}`},
		{method: "PUT", path: "/v1/admin/scram-users/a%01b/SCRAM-SHA-512", body: `{"password":"pw"}`},
		{method: "DELETE", path: "/v1/admin/scram-users/alice/MD5"},
	} {
		bad.token = admin
		wantError(t, h.do(bad), http.StatusBadRequest, "invalid_request")
	}
	wantError(t, h.do(req{method: "PUT", path: "/v1/admin/scram-users/alice/SCRAM-SHA-512", token: admin, body: `{"password":`}), http.StatusBadRequest, "invalid_json")
	wantError(t, h.do(req{method: "PUT", path: "/v1/admin/scram-users/alice/SCRAM-SHA-512", token: admin, body: `{"password":"pw"}`, contentType: "text/plain"}),
		http.StatusUnsupportedMediaType, "unsupported_media_type")

	// Only admins.
	app := h.token(auth.MintOptions{Subject: "app", Produce: []string{"*"}, Consume: []string{"*"}})
	for _, r := range []req{
		{method: "GET", path: "/v1/admin/scram-users"},
		{method: "PUT", path: "/v1/admin/scram-users/bob/SCRAM-SHA-512", body: `{"password":"pw"}`},
		{method: "DELETE", path: "/v1/admin/scram-users/alice/SCRAM-SHA-512"},
	} {
		r.token = app
		wantError(t, h.do(r), http.StatusForbidden, "forbidden")
	}
}
