package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/openapitest"
)

// TestNotReadyIsUnavailableNotNotFound: a gateway whose readiness check
// fails (its broker has not caught up after a restart, say) answers a
// produce with 503 unavailable and Retry-After, and a WebSocket subscribe
// with an unavailable error frame, for a topic that exists; never
// topic_not_found. Once ready, both work.
func TestNotReadyIsUnavailableNotNotFound(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("chat", 1, nil)
	var ready atomic.Bool
	g, err := Start(context.Background(), Config{
		Listen: "127.0.0.1:0", Brokers: c.Addrs(), Auth: auth.Config{HS256Secret: testSecret},
		Ready: func(context.Context) error {
			if !ready.Load() {
				return errors.New("metadata applied up to 3 of 9 committed")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	tok := adminToken(t)

	client := &http.Client{Transport: openapitest.Transport(t, nil)}
	req, _ := http.NewRequest("POST", g.URL()+"/v1/topics/chat/events", strings.NewReader(`{"value":1}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"unavailable"`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("produce before ready: %d %s (Retry-After %q), want 503 unavailable with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+g.Addr().String()+"/v1/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsSend(t, ws, map[string]any{"type": "subscribe", "id": "s1", "topic": "chat", "from": "latest"})
	if f := wsNext(t, ws, 10*time.Second); f["type"] != "error" || f["code"] != "unavailable" || f["id"] != "s1" {
		t.Fatalf("subscribe before ready: %v, want an unavailable error frame", f)
	}

	ready.Store(true)
	wsSend(t, ws, map[string]any{"type": "subscribe", "id": "s1", "topic": "chat", "from": "latest"})
	if f := wsNext(t, ws, 10*time.Second); f["type"] != "subscribed" {
		t.Fatalf("subscribe once ready: %v", f)
	}
	if code, body := post(t, g.URL()+"/v1/topics/chat/events", tok, "", `{"value":1}`); code != 200 {
		t.Fatalf("produce once ready: %d %s", code, body)
	}
}
