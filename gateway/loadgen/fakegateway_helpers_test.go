package loadgen

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
)

// fakeGateway is the part of a gateway's API the load tool uses: POST
// /v1/topics/{topic}/events stores nothing and sends each event to every
// WebSocket subscribed with /v1/ws, as an event frame whose value is the
// posted one. Its hooks change what it answers and delivers.
type fakeGateway struct {
	t     testing.TB
	srv   *httptest.Server
	topic string
	posts atomic.Int64
	mu    sync.Mutex
	// peers are the client addresses POSTs came from.
	peers  map[string]bool
	socks  []*fakeSocket
	wsWait sync.WaitGroup

	// status, when not 0, is the answer to every POST instead of 200.
	status int
	// deliver, when set, says how many times event seq goes to each
	// subscriber (0: dropped); once when nil.
	deliver func(seq int64) int
}

type fakeSocket struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

func startFakeGateway(t testing.TB, topic string) *fakeGateway {
	g := &fakeGateway{t: t, topic: topic, peers: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/topics/{topic}/events", g.produce)
	mux.HandleFunc("GET /v1/ws", g.ws)
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.close)
	return g
}

func (g *fakeGateway) target() Target {
	return Target{URL: g.srv.URL, Token: "tok", Topic: g.topic}
}

// connections is how many connections POSTs came over.
func (g *fakeGateway) connections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.peers)
}

func (g *fakeGateway) close() {
	g.srv.CloseClientConnections()
	g.srv.Close()
	g.mu.Lock()
	for _, s := range g.socks {
		s.conn.Close()
	}
	g.mu.Unlock()
	g.wsWait.Wait()
}

func (g *fakeGateway) produce(w http.ResponseWriter, r *http.Request) {
	g.posts.Add(1)
	g.mu.Lock()
	g.peers[r.RemoteAddr] = true
	g.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	switch {
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case r.PathValue("topic") != g.topic || r.Header.Get("Authorization") != "Bearer tok":
		http.Error(w, "wrong topic or token", http.StatusForbidden)
		return
	case r.URL.Query().Get("acks") == "":
		http.Error(w, "no acks", http.StatusBadRequest)
		return
	case g.status != 0:
		http.Error(w, "refused by the test", g.status)
		return
	}
	var ev struct {
		Value  json.RawMessage `json:"value"`
		Events []struct {
			Value json.RawMessage `json:"value"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || (ev.Value == nil && len(ev.Events) == 0) {
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	if ev.Value != nil {
		g.fanOut(ev.Value)
	}
	_, _ = io.WriteString(w, `{"results":[]}`)
}

// fanOut sends value to every subscriber as an event frame.
func (g *fakeGateway) fanOut(value json.RawMessage) {
	times := 1
	if g.deliver != nil {
		if p, ok := parseProbe(append([]byte(`"value":`), value...)); ok {
			times = g.deliver(p.Seq)
		}
	}
	frame := []byte(`{"type":"event","id":"bench","topic":"` + g.topic + `","partition":0,"offset":0,"value":` + string(value) + `}`)
	g.mu.Lock()
	socks := append([]*fakeSocket(nil), g.socks...)
	g.mu.Unlock()
	for _, s := range socks {
		for range times {
			s.mu.Lock()
			_ = s.conn.WriteMessage(websocket.TextMessage, frame)
			s.mu.Unlock()
		}
	}
}

func (g *fakeGateway) ws(w http.ResponseWriter, r *http.Request) {
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	g.wsWait.Add(1)
	go func() {
		defer g.wsWait.Done()
		defer conn.Close()
		s := &fakeSocket{conn: conn}
		for {
			var f struct{ Type, Topic, ID string }
			if err := conn.ReadJSON(&f); err != nil {
				return
			}
			if f.Type != "subscribe" {
				continue
			}
			if f.Topic != g.topic {
				s.mu.Lock()
				_ = conn.WriteJSON(map[string]string{"type": "error", "code": "topic_not_found", "message": "no topic " + f.Topic})
				s.mu.Unlock()
				continue
			}
			// Subscribed before it says so: the client publishes as
			// soon as it reads "subscribed".
			g.mu.Lock()
			g.socks = append(g.socks, s)
			g.mu.Unlock()
			s.mu.Lock()
			_ = conn.WriteJSON(map[string]string{"type": "subscribed", "id": f.ID})
			s.mu.Unlock()
		}
	}()
}
