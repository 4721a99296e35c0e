package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// subscriber is one WebSocket client subscribed to the topic from its end.
type subscriber struct {
	conn *websocket.Conn
	// events counts event frames received.
	events atomic.Int64
	// seen marks the sequence numbers of latency probes received, to tell
	// lost events from duplicates.
	seen       []bool
	duplicates int64
	lat        []time.Duration
	// measure decodes every event's probe; fan-out runs only count.
	measure bool
	err     error
	done    chan struct{}
}

func wsURL(base string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/") + "/v1/ws")
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	return u.String(), nil
}

// dialSubscriber opens a socket, authenticates with the first frame and
// subscribes to every partition of the topic from "latest", returning once
// the gateway confirmed the subscription.
func dialSubscriber(ctx context.Context, t Target, measure bool, maxSeq int) (*subscriber, error) {
	u, err := wsURL(t.URL)
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 64 << 10}
	conn, resp, err := d.DialContext(ctx, u, http.Header{"Authorization": {"Bearer " + t.Token}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket %s: HTTP %d: %w", u, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("websocket %s: %w", u, err)
	}
	s := &subscriber{conn: conn, measure: measure, done: make(chan struct{})}
	if measure {
		s.seen = make([]bool, maxSeq)
	}
	frames := []any{
		map[string]any{"type": "auth", "token": t.Token},
		map[string]any{"type": "subscribe", "id": "bench", "topic": t.Topic, "from": "latest"},
	}
	for _, f := range frames {
		if err := conn.WriteJSON(f); err != nil {
			conn.Close()
			return nil, fmt.Errorf("websocket: send %v: %w", f, err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var f struct {
			Type, Code, Message string
		}
		if err := conn.ReadJSON(&f); err != nil {
			conn.Close()
			return nil, fmt.Errorf("websocket: waiting for subscribed: %w", err)
		}
		if f.Type == "error" {
			conn.Close()
			return nil, fmt.Errorf("websocket: subscribe refused: %s: %s", f.Code, f.Message)
		}
		if f.Type == "subscribed" {
			break
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	go s.read()
	return s, nil
}

var eventType = []byte(`"type":"event"`)

// probe is the value of every event the latency run publishes:
// {"sent":<UnixNano when the POST began>,"seq":<n>}.
type probe struct {
	Sent int64
	Seq  int64
}

var (
	probeValue = []byte(`"value":{"sent":`)
	probeSeq   = []byte(`,"seq":`)
)

// parseProbe finds the probe in an event frame. It scans for the two
// numbers rather than decoding the frame: a hundred subscribers receive
// hundreds of thousands of frames a second, and the load tool must not be
// what limits the measurement. The gateway writes a JSON value as its
// stored text, so the probe appears exactly as published.
func parseProbe(frame []byte) (probe, bool) {
	i := bytes.Index(frame, probeValue)
	if i < 0 {
		return probe{}, false
	}
	rest := frame[i+len(probeValue):]
	sent, n := leadingInt(rest)
	if n == 0 || !bytes.HasPrefix(rest[n:], probeSeq) {
		return probe{}, false
	}
	seq, m := leadingInt(rest[n+len(probeSeq):])
	if m == 0 {
		return probe{}, false
	}
	return probe{Sent: sent, Seq: seq}, true
}

// leadingInt parses the decimal digits at the start of b, returning the
// value and how many bytes it took.
func leadingInt(b []byte) (int64, int) {
	var v int64
	i := 0
	for i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	return v, i
}

func (s *subscriber) read() {
	defer close(s.done)
	// One buffer for every frame: ReadMessage allocates each one anew,
	// and at hundreds of thousands of frames a second the load tool's
	// garbage would take CPU from the gateway it measures.
	var frame bytes.Buffer
	for {
		_, r, err := s.conn.NextReader()
		if err == nil {
			frame.Reset()
			_, err = frame.ReadFrom(r)
		}
		if err != nil {
			s.err = err
			return
		}
		msg := frame.Bytes()
		if !bytes.Contains(msg, eventType) {
			continue
		}
		if !s.measure {
			s.events.Add(1)
			continue
		}
		now := time.Now()
		p, ok := parseProbe(msg)
		if !ok {
			s.err = fmt.Errorf("event frame without a probe value: %.200s", msg)
			return
		}
		s.lat = append(s.lat, now.Sub(time.Unix(0, p.Sent)))
		if seq := p.Seq; seq >= 0 && seq < int64(len(s.seen)) {
			if s.seen[seq] {
				s.duplicates++
			}
			s.seen[seq] = true
		}
		s.events.Add(1)
	}
}

// close ends the socket and waits for its reader.
func (s *subscriber) close() {
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	s.conn.Close()
	<-s.done
}
