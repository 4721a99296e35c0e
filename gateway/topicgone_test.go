package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/broker/brokertest"
)

// TestDeletedTopicEndsSubscription: a live WebSocket subscription of a topic
// that is deleted, or deleted and created again, gets a topic_not_found
// error frame and ends, instead of waiting for events that never come.
func TestDeletedTopicEndsSubscription(t *testing.T) { readPaths(t, testDeletedTopicEndsSubscription) }

func testDeletedTopicEndsSubscription(t *testing.T, local bool) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	g := startGateway(t, c, readPath(c, local))
	tok := adminToken(t)
	do := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, g.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+g.Addr().String()+"/v1/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, recreate := range []bool{false, true} {
		do("POST", "/v1/topics", `{"name":"doomed","partitions":2}`)
		wsSend(t, ws, map[string]any{"type": "subscribe", "id": "s1", "topic": "doomed", "from": "earliest"})
		if f := wsNext(t, ws, 10*time.Second); f["type"] != "subscribed" {
			t.Fatalf("subscribe: %v", f)
		}
		do("POST", "/v1/topics/doomed/events", `{"value":1}`)
		if f := wsNext(t, ws, 10*time.Second); f["type"] != "event" {
			t.Fatalf("event: %v", f)
		}
		do("DELETE", "/v1/topics/doomed", "")
		if recreate {
			do("POST", "/v1/topics", `{"name":"doomed","partitions":2}`)
		}
		start := time.Now()
		f := wsNext(t, ws, 30*time.Second)
		if f["type"] != "error" || f["id"] != "s1" || f["code"] != "topic_not_found" {
			t.Fatalf("recreate=%v: after the deletion got %v, want a topic_not_found error frame for s1", recreate, f)
		}
		// Re-created at once, the gateway may still see the moment the
		// topic did not exist ("was deleted") or only the new topic ID
		// ("created again"); both end the subscription.
		if msg := f["message"].(string); !strings.Contains(msg, "was deleted") {
			t.Errorf("recreate=%v: message %q", recreate, msg)
		}
		t.Logf("recreate=%v: told after %v: %v", recreate, time.Since(start), f["message"])
		// The subscription has ended: its id is free again.
		if recreate {
			do("DELETE", "/v1/topics/doomed", "")
		}
	}
}
