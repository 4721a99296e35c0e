package openapitest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/gateway/openapitest"
)

// TestUpgrade sends a WebSocket upgrade through the Validator: the 101 is
// documented, and its body, the connection itself, must come back untouched.
func TestUpgrade(t *testing.T) {
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered the client with the error.
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)

	rec := &recordingTB{TB: t}
	client := &http.Client{Transport: openapitest.Transport(rec, nil)}
	req, err := http.NewRequest("GET", srv.URL+"/v1/ws?access_token=a.b.c", nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if _, ok := resp.Body.(io.ReadWriteCloser); !ok {
		t.Errorf("the 101 body is a %T, not the connection", resp.Body)
	}
	wantNone(t, rec.errors())
}
