package gateway

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/gateway/openapitest"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/tiertest"
)

// TestTieredEventsOverRESTAndWebSocket: with most of a partition in remote
// segments and gone from the broker's disk, a REST read from offset 0 and a
// WebSocket subscription from earliest get every event, remote then local,
// once and in order: the gateway's Kafka fetches below the local log start
// are served from the bucket.
func TestTieredEventsOverRESTAndWebSocket(t *testing.T) {
	readPaths(t, testTieredEventsOverRESTAndWebSocket)
}

func testTieredEventsOverRESTAndWebSocket(t *testing.T, local bool) {
	store, err := tiering.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := brokertest.Start(t, 1, brokertest.Options{Tier: broker.TierConfig{Store: store, Prefix: "gw"}})
	segmentBytes := "1024"
	c.CreateTopic("tiered", 1, map[string]*string{"segment.bytes": &segmentBytes})
	cl := c.Client()
	const n = 1000
	for first := 0; first < n; first += 10 {
		produceBatch(t, cl, "tiered", first, 10)
	}
	l, ok := c.Nodes[0].Broker.Log(commitlog.TopicPartition{Topic: "tiered", Partition: 0})
	if !ok {
		t.Fatal("no local log")
	}
	member := c.Nodes[0].Member
	mt, _ := member.Image().Topic("tiered")
	remote := tiertest.TierLog(t, store, "gw", member, l, mt.ID, 0, mt.Partitions[0].LeaderEpoch, 2)
	localStart := l.LogStartOffset()
	t.Logf("%d remote segments, local log from %d", len(remote), localStart)

	g := startGateway(t, c, readPath(c, local))
	tok := adminToken(t)
	client := &http.Client{Transport: openapitest.Transport(t, nil)}
	fetch := func(off int) (int, map[string]any) {
		t.Helper()
		return getEvents(t, client, g.URL(), tok, "tiered", int64(off))
	}
	var got []string
	for off := 0; off < n; {
		status, body := fetch(off)
		if status != http.StatusOK {
			t.Fatalf("REST fetch at %d: %d %v", off, status, body)
		}
		for _, e := range body["events"].([]any) {
			ev := e.(map[string]any)
			if ev["value"] != ev["offset"] {
				t.Fatalf("event %v: the value is not its offset", ev)
			}
			got = append(got, fmt.Sprint(ev["offset"]))
		}
		next := int(body["next_offset"].(float64))
		if next <= off {
			t.Fatalf("REST fetch at %d: next offset %d", off, next)
		}
		off = next
	}
	checkSequence(t, "REST", got, n)

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+g.Addr().String()+"/v1/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsSend(t, ws, map[string]any{"type": "subscribe", "id": "s", "topic": "tiered", "from": "earliest"})
	if f := wsNext(t, ws, 30*time.Second); f["type"] != "subscribed" {
		t.Fatalf("first frame %v", f)
	}
	got = got[:0]
	for len(got) < n {
		f := wsNext(t, ws, 30*time.Second)
		if f["type"] != "event" || f["value"] != f["offset"] {
			t.Fatalf("frame %v after %d events", f, len(got))
		}
		got = append(got, fmt.Sprint(f["offset"]))
	}
	checkSequence(t, "WebSocket", got, n)

	// Once the first remote segment is forgotten (remote retention), its
	// offsets are out of range: 416 with the new log start.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := member.RemoveRemoteSegment(ctx, tiertest.LeaderRequest(t, member.Image(), mt.ID, 0, remote[0])); err != nil {
		t.Fatal(err)
	}
	status, body := fetch(0)
	if e, _ := body["error"].(map[string]any); status != http.StatusRequestedRangeNotSatisfiable || e["log_start_offset"] != float64(remote[1].BaseOffset) {
		t.Fatalf("REST fetch below the remote start: %d %v, want 416 with log start %d", status, body, remote[1].BaseOffset)
	}
	if status, body := fetch(int(remote[1].BaseOffset)); status != http.StatusOK || len(body["events"].([]any)) == 0 {
		t.Fatalf("REST fetch at the remote start: %d %v", status, body)
	}
}

// checkSequence checks that got is the offsets 0 to n-1 in order.
func checkSequence(t *testing.T, how string, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s read %d events, want %d", how, len(got), n)
	}
	for i, o := range got {
		if o != fmt.Sprint(i) {
			t.Fatalf("%s event %d has offset %s", how, i, o)
		}
	}
}
