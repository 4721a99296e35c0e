package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestDevServesConsole: the console's address is the first thing "runnel
// dev" prints after the URL; the page is served there, and the WebSocket
// takes the page's own origin even when --allowed-origins names only
// others.
func TestDevServesConsole(t *testing.T) {
	p := startDev(t, t.TempDir(), "--allowed-origins", "https://app.example.com")
	lines := strings.Split(p.banner, "\n")
	at := -1
	for i, l := range lines {
		if strings.Contains(l, "HTTP + WebSocket:") {
			at = i
		}
	}
	if at < 0 || at+1 >= len(lines) || !strings.Contains(lines[at+1], "Console:") || !strings.Contains(lines[at+1], p.url+"/console ") {
		t.Fatalf("the line after the URL is not the console's:\n%s", p.banner)
	}

	resp, err := http.Get(p.url + "/console")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Runnel console") || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /console: %d, CSP %q\n%s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), body)
	}

	ws, resp, err := websocket.DefaultDialer.Dial(wsURLOf(p.url)+"/v1/ws?access_token="+p.token, http.Header{"Origin": {p.url}})
	if err != nil {
		t.Fatalf("WebSocket from the console's own origin %s: %v (%v)", p.url, err, resp)
	}
	ws.Close()
	if _, resp, err := websocket.DefaultDialer.Dial(wsURLOf(p.url)+"/v1/ws?access_token="+p.token, http.Header{"Origin": {"http://localhost:1"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("WebSocket from an origin not listed: %v, %v; want 403", err, resp)
	}
}
