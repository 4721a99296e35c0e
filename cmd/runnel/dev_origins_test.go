package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestDevAllowsLocalOrigins: "runnel dev" lets browser apps served from
// this machine on any port call the API and open WebSockets, prints the
// allow-list in its banner, and refuses other origins with a 403 that
// names --allowed-origins.
func TestDevAllowsLocalOrigins(t *testing.T) {
	p := startDev(t, t.TempDir())
	if !strings.Contains(p.banner, "Allowed origins:  http://localhost:*, http://127.0.0.1:*") || !strings.Contains(p.banner, "--allowed-origins") {
		t.Errorf("the banner does not show the allowed origins:\n%s", p.banner)
	}

	preflight := func(origin string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodOptions, p.url+"/v1/topics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, origin := range []string{"http://localhost:3000", "http://127.0.0.1:5173", "http://localhost"} {
		if resp := preflight(origin); resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("preflight from %s: %d, Access-Control-Allow-Origin %q", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		ws, resp, err := websocket.DefaultDialer.Dial(wsURLOf(p.url)+"/v1/ws?access_token="+p.token, http.Header{"Origin": {origin}})
		if err != nil {
			t.Errorf("WebSocket from %s: %v (%v)", origin, err, resp)
			continue
		}
		ws.Close()
	}

	const evil = "https://evil.example"
	if resp := preflight(evil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("preflight from %s: %d, want 403", evil, resp.StatusCode)
	} else if body, _ := io.ReadAll(resp.Body); !strings.Contains(string(body), "--allowed-origins") {
		t.Errorf("preflight 403 does not name --allowed-origins: %s", body)
	}
	_, resp, err := websocket.DefaultDialer.Dial(wsURLOf(p.url)+"/v1/ws?access_token="+p.token, http.Header{"Origin": {evil}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("WebSocket from %s: %v, want 403", evil, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "--allowed-origins") {
		t.Errorf("WebSocket 403 does not name --allowed-origins: %s", body)
	}
}
