package httpapi

import (
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/gateway/console"
)

// TestConsoleRoutes: the console's page and files are served without a
// token, with their content types and the Content-Security-Policy, as
// openapi.yaml documents them; an unknown file is a JSON 404.
func TestConsoleRoutes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for path, want := range map[string]string{
		"/console":                  "text/html",
		"/console/console.js":       "text/javascript",
		"/console/console.css":      "text/css",
		"/console/runnel-client.js": "text/javascript",
	} {
		r := h.do(req{method: "GET", path: path})
		wantStatus(t, r, 200)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("%s: Content-Type %q, want %s", path, ct, want)
		}
		if csp := r.header.Get("Content-Security-Policy"); csp != console.ContentSecurityPolicy {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", path)
		}
		if len(r.body) == 0 {
			t.Errorf("%s: empty body", path)
		}
	}
	page := h.do(req{method: "GET", path: "/console"})
	if !strings.Contains(string(page.body), `src="/console/console.js"`) {
		t.Errorf("the page does not load /console/console.js:\n%s", page.body)
	}
	// A trailing slash serves the page too (links and bookmarks have both).
	if r := h.do(req{method: "GET", path: "/console/", raw: true}); r.status != 200 || string(r.body) != string(page.body) {
		t.Errorf("/console/: %d", r.status)
	}
	wantError(t, h.do(req{method: "GET", path: "/console/nope.js"}), 404, "not_found", "nope.js", "/console")
	// Files that are not served: the staleness record beside the bundle.
	wantError(t, h.do(req{method: "GET", path: "/console/SDK-SOURCES.sha256", raw: true}), 404, "not_found")
	wantError(t, h.do(req{method: "POST", path: "/console", body: "{}", raw: true}), 405, "method_not_allowed")
}
