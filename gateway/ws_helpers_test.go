package gateway

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/gateway/openapitest"
)

// wsSend sends v as a text frame, checked against openapi.yaml's
// WsClientFrame.
func wsSend(t *testing.T, ws *websocket.Conn, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	openapitest.CheckClientFrame(t, data)
	if err := ws.WriteMessage(websocket.TextMessage, data); err != nil {
		t.Fatal(err)
	}
}

// wsNext reads the next frame within timeout, checked against openapi.yaml's
// WsServerFrame.
func wsNext(t *testing.T, ws *websocket.Conn, timeout time.Duration) map[string]any {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(timeout))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	openapitest.CheckServerFrame(t, data)
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}
