package wsapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// received collects event offsets per (subscription id, partition) and
// checks, as they arrive, that each run is dense and in order and that no
// event precedes its subscription's subscribed frame.
type received struct {
	t          *testing.T
	topic      string
	subscribed map[string]bool
	next       map[string]map[int32]int64 // id -> partition -> next offset expected
	count      map[string]map[int32]int
	frames     map[string]int // "<id> <type>" -> frames read by until
}

func newReceived(t *testing.T, topic string) *received {
	return &received{t: t, topic: topic, subscribed: map[string]bool{}, next: map[string]map[int32]int64{}, count: map[string]map[int32]int{}, frames: map[string]int{}}
}

// expectFrom sets where id's partition p must start.
func (r *received) expectFrom(id string, p int32, off int64) {
	if r.next[id] == nil {
		r.next[id] = map[int32]int64{}
		r.count[id] = map[int32]int{}
	}
	r.next[id][p] = off
}

func (r *received) add(f frame) {
	r.t.Helper()
	switch f.Type {
	case "subscribed":
		r.subscribed[f.ID] = true
	case "event":
		if !r.subscribed[f.ID] {
			r.t.Fatalf("event before its subscribed frame: %s", f.raw)
		}
		want, ok := r.next[f.ID][f.Partition]
		if !ok {
			r.t.Fatalf("event of an unexpected subscription or partition: %s", f.raw)
		}
		if f.Offset != want {
			r.t.Fatalf("subscription %s partition %d: offset %d, want %d (%s)", f.ID, f.Partition, f.Offset, want, f.raw)
		}
		var v struct{ I int64 }
		if json.Unmarshal(f.Value, &v) != nil || v.I != f.Offset {
			r.t.Fatalf("event value %s does not match offset %d", f.Value, f.Offset)
		}
		checkEvent(r.t, f, r.topic)
		r.next[f.ID][f.Partition]++
		r.count[f.ID][f.Partition]++
	default:
		r.t.Fatalf("unexpected frame %s", f.raw)
	}
}

// until reads frames of c into r until every expected partition has
// reached its end offset; an events frame counts as its events.
func (r *received) until(c *client, end map[string]map[int32]int64) {
	r.t.Helper()
	done := func() bool {
		for id, parts := range end {
			for p, off := range parts {
				if r.next[id][p] < off {
					return false
				}
			}
		}
		return true
	}
	for !done() {
		f, err := c.next(20 * time.Second)
		if err != nil {
			r.t.Fatalf("reading events: %v; got so far %v", err, r.next)
		}
		r.frames[f.ID+" "+f.Type]++
		if f.Type == "subscribed" {
			r.add(f)
			continue
		}
		for _, ev := range eventsOf(r.t, f) {
			r.add(ev)
		}
	}
}

func TestSubscribeFromForms(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.cluster.CreateTopic("forms", 2, nil)
	ts0 := time.Now().Add(-time.Hour).UnixMilli()
	e.produce("forms", 0, 0, 10, ts0)
	e.produce("forms", 1, 0, 10, ts0)

	c := e.dialAuthed()
	r := newReceived(t, "forms")
	subs := []struct {
		id    string
		extra map[string]any
		parts []int32
		start map[int32]int64
	}{
		{"earliest", map[string]any{"from": "earliest", "partitions": []int{0}}, []int32{0}, map[int32]int64{0: 0}},
		{"latest", map[string]any{"from": "latest"}, []int32{0, 1}, map[int32]int64{0: 10, 1: 10}},
		{"default", nil, []int32{0, 1}, map[int32]int64{0: 10, 1: 10}},
		{"offset", map[string]any{"from": 5, "partitions": []int{1}}, []int32{1}, map[int32]int64{1: 5}},
		{"time", map[string]any{"from": map[string]any{"time": ts0 + 7}, "partitions": []int{0}}, []int32{0}, map[int32]int64{0: 7}},
		{"time-future", map[string]any{"from": map[string]any{"time": ts0 + 1e9}}, []int32{0, 1}, map[int32]int64{0: 10, 1: 10}},
		// A partition not named starts at latest, as openapi.yaml says
		// (Kafka's auto.offset.reset=latest for a partition without a
		// position).
		{"offsets", map[string]any{"from": map[string]any{"offsets": map[string]int{"0": 3}}}, []int32{0, 1}, map[int32]int64{0: 3, 1: 10}},
		{"offsets-listed", map[string]any{"from": map[string]any{"offsets": map[string]int{"1": 9}}, "partitions": []int{1}}, []int32{1}, map[int32]int64{1: 9}},
	}
	end := map[string]map[int32]int64{}
	var topicID string
	for _, s := range subs {
		for p, off := range s.start {
			r.expectFrom(s.id, p, off)
		}
		// Events of earlier subscriptions may arrive before this one's
		// subscribed frame.
		m := map[string]any{"type": "subscribe", "id": s.id, "topic": "forms"}
		for k, v := range s.extra {
			m[k] = v
		}
		c.send(m)
		var f frame
		for {
			var err error
			if f, err = c.next(20 * time.Second); err != nil {
				t.Fatalf("subscribe %s: %v", s.id, err)
			}
			r.add(f)
			if f.Type == "subscribed" && f.ID == s.id {
				break
			}
		}
		if fmt.Sprint(f.Partitions) != fmt.Sprint(s.parts) || f.Topic != "forms" || len(f.TopicID) != 36 {
			t.Fatalf("subscribe %s: %s, want partitions %v", s.id, f.raw, s.parts)
		}
		if topicID == "" {
			topicID = f.TopicID
		} else if f.TopicID != topicID {
			t.Fatalf("topic_id %s, earlier %s", f.TopicID, topicID)
		}
		for p, off := range s.start {
			if got := f.Offsets[fmt.Sprint(p)]; got != off {
				t.Fatalf("subscribe %s: start of partition %d is %d, want %d (%s)", s.id, p, got, off, f.raw)
			}
		}
		end[s.id] = map[int32]int64{}
		for _, p := range s.parts {
			end[s.id][p] = 15
		}
	}
	e.produce("forms", 0, 10, 5, 0)
	e.produce("forms", 1, 10, 5, 0)
	r.until(c, end)
}

// TestSubscriptionsOrder has several subscriptions on one socket read
// three partitions while events are produced to them concurrently.
func TestSubscriptionsOrder(t *testing.T) {
	t.Run("write at once", func(t *testing.T) { testSubscriptionsOrder(t, 0) })
	t.Run("write delay", func(t *testing.T) { testSubscriptionsOrder(t, 2*time.Millisecond) })
}

// testSubscriptionsOrder: three subscriptions on one socket each get every
// event of three partitions, in order per partition.
func testSubscriptionsOrder(t *testing.T, writeDelay time.Duration) {
	e := newEnv(t, envOptions{limits: Limits{WriteDelay: writeDelay}})
	e.cluster.CreateTopic("order", 3, nil)
	c := e.dialAuthed()
	r := newReceived(t, "order")
	for _, id := range []string{"a", "b", "c"} {
		f := c.subscribe(id, "order", map[string]any{"from": "earliest"})
		r.add(f)
		for p := range int32(3) {
			r.expectFrom(id, p, 0)
		}
	}
	const perPart = 300
	done := make(chan error, 1)
	go func() {
		for i := 0; i < perPart; i += 30 {
			for p := range int32(3) {
				if err := e.produceErr("order", p, i, 30, 0); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	end := map[string]map[int32]int64{}
	for _, id := range []string{"a", "b", "c"} {
		end[id] = map[int32]int64{0: perPart, 1: perPart, 2: perPart}
	}
	r.until(c, end)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestUnsubscribe(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.cluster.CreateTopic("unsub", 1, nil)
	e.cluster.CreateTopic("unsub-probe", 1, nil)
	c := e.dialAuthed()
	c.subscribe("s1", "unsub", nil)
	e.produce("unsub", 0, 0, 3, 0)
	for i := range 3 {
		if f := c.expect("event", "s1"); f.Offset != int64(i) {
			t.Fatalf("offset %d, want %d", f.Offset, i)
		}
	}
	c.send(map[string]any{"type": "unsubscribe", "id": "s1"})
	// Frames are handled in order: once a later subscribe is answered, the
	// unsubscribe took effect, and events produced from now on must not
	// reach the old subscription.
	c.subscribe("probe", "unsub-probe", nil)
	e.produce("unsub", 0, 3, 3, 0)
	// The id may be used again; the new subscription sees only its own
	// events and the old one sends nothing more.
	f := c.subscribe("s1", "unsub", map[string]any{"from": 4})
	if f.Offsets["0"] != 4 {
		t.Fatalf("subscribed %s", f.raw)
	}
	for _, want := range []int64{4, 5} {
		if f := c.expect("event", "s1"); f.Offset != want {
			t.Fatalf("offset %d, want %d", f.Offset, want)
		}
	}
	c.send(map[string]any{"type": "unsubscribe", "id": "s1"})
	c.send(map[string]any{"type": "unsubscribe", "id": "s1"})
	c.expectError("s1", codeSubscriptionNotFound)
}

func TestBadFramesKeepSocket(t *testing.T) {
	e := newEnv(t, envOptions{limits: Limits{MaxSubscriptionsPerSocket: 2, MaxFrameBytes: 32 << 10}})
	e.cluster.CreateTopic("bad", 2, nil)
	c := e.dialAuthed()
	c.subscribe("ok", "bad", nil)

	tests := []struct {
		frame string
		id    string
		code  string
		bad   bool // the document refuses it too
	}{
		{`not json`, "", "invalid_json", true},
		{`[1, 2]`, "", "invalid_json", true},
		{`{"id": "x"}`, "x", "invalid_request", true},
		{`{"type": "dance", "id": "x"}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "topic": "bad"}`, "", "invalid_request", true},
		{`{"type": "subscribe", "id": 7, "topic": "bad"}`, "", "invalid_request", true},
		{`{"type": "subscribe", "id": "x"}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "from": "middle"}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "from": -1}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "from": 1.5}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "from": {"time": -5}}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "from": {"when": 5}}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "from": {"offsets": {"zero": 1}}}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "from": {"offsets": {"1": 1}}, "partitions": [0]}`, "x", "invalid_request", false},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "partitions": []}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "partitions": [0, 0]}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "partitions": ["0"]}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "batch": "yes"}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "nope"}`, "x", "topic_not_found", false},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "partitions": [2]}`, "x", "partition_not_found", false},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "from": {"offsets": {"5": 0}}}`, "x", "partition_not_found", false},
		{`{"type": "subscribe", "id": "ok", "topic": "bad"}`, "ok", "subscription_exists", false},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "group": "g"}`, "x", "unsupported", false},
		{`{"type": "commit", "id": "x", "offsets": {"0": 1}}`, "x", "subscription_not_found", false},
		{`{"type": "commit", "id": "ok", "offsets": {"0": 1}}`, "ok", "invalid_request", false},
		{`{"type": "commit", "id": "ok", "offsets": {}}`, "ok", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "group": "g", "partitions": [0]}`, "x", "invalid_request", false},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "group": ""}`, "x", "invalid_request", true},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "group": "g", "from": {"offsets": {"0": 1}}}`, "x", "invalid_request", false},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "group": 7}`, "x", "invalid_request", true},
		{`{"type": "commit", "id": "ok", "offsets": {"0": -1}}`, "ok", "invalid_request", true},
		{`{"type": "unsubscribe", "id": "x"}`, "x", "subscription_not_found", false},
		{`{"type": "unsubscribe"}`, "", "invalid_request", true},
		{`{"type": "auth"}`, "", "unauthenticated", true},
		{`{"type": "auth", "token": "garbage"}`, "", "unauthenticated", false},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "from": 1000}`, "x", "offset_out_of_range", false},
		{`{"type": "subscribe", "id": "x", "topic": "bad", "from": "` + strings.Repeat("a", 40<<10) + `"}`, "", "payload_too_large", true},
	}
	for _, tc := range tests {
		if tc.bad {
			c.sendBad(tc.frame)
		} else {
			c.sendRaw(tc.frame)
		}
		f := c.expectError(tc.id, tc.code)
		op := frameOp(tc.frame)
		if tc.code == "payload_too_large" {
			op = "unknown" // too large to be read
		}
		if f.Op != op {
			t.Fatalf("%.100s got %s, want \"op\": %q", tc.frame, f.raw, op)
		}
		if tc.code == "offset_out_of_range" && (f.LogStart == nil || *f.LogStart != 0 || f.HWM == nil || *f.HWM != 0) {
			t.Fatalf("offset_out_of_range without bounds: %s", f.raw)
		}
	}
	c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.c.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"subscribe"}`)); err != nil {
		t.Fatal(err)
	}
	if f := c.expectError("", "invalid_request"); f.Op != "unknown" {
		t.Fatalf("a binary frame got %s, want \"op\": \"unknown\"", f.raw)
	}

	// Still alive: the limit of two subscriptions, and events flow.
	c.subscribe("second", "bad", map[string]any{"partitions": []int{1}})
	c.sendRaw(`{"type": "subscribe", "id": "third", "topic": "bad"}`)
	if f := c.expectError("third", codeTooManySubscriptions); f.Op != "subscribe" {
		t.Fatalf("got %s, want \"op\": \"subscribe\"", f.raw)
	}
	e.produce("bad", 1, 0, 1, 0)
	got := map[string]bool{}
	for range 2 {
		f, err := c.next(20 * time.Second)
		if err != nil || f.Type != "event" || f.Partition != 1 || f.Offset != 0 {
			t.Fatalf("want events of partition 1, got %s %v", f.raw, err)
		}
		got[f.ID] = true
	}
	if !got["ok"] || !got["second"] {
		t.Fatalf("events went to %v, want ok and second", got)
	}
	counted := 0.0
	for _, m := range e.metric("runnel_gateway_ws_frames_in_total").GetMetric() {
		counted += m.GetCounter().GetValue()
	}
	if want := float64(len(tests) + 4); counted != want {
		t.Fatalf("frames_in_total counts %v frames, want %v", counted, want)
	}
}

// frameOp is the "op" of the error frame that answers the client frame
// text: its "type" when the server knows it, else "unknown".
func frameOp(text string) string {
	var f struct{ Type any }
	if json.Unmarshal([]byte(text), &f) == nil {
		switch f.Type {
		case "auth", "subscribe", "unsubscribe", "commit":
			return f.Type.(string)
		}
	}
	return "unknown"
}
