package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/openapitest"
	"github.com/runnel-dev/runnel/internal/testlog"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestDamagedStoredBatchIsReportedAndSkipped damages one batch on a
// stopped broker's disk, in a sealed segment between intact ones, and reads
// the partition through a gateway. REST returns the events before the
// damage, then 410 data_unreadable naming the lost offsets and where to go
// on, every time it is asked; a WebSocket subscription gets the events
// before, an error frame naming the loss, and everything after, then live
// events; the gateway logs the damage once.
//
// Whether the broker reports the damage (CORRUPT_MESSAGE with Runnel's
// unreadable range) or serves the batch and the gateway fails to decode
// it, clients see the same: the test holds for both.
func TestDamagedStoredBatchIsReportedAndSkipped(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	segmentBytes := "100" // one batch per segment
	c.CreateTopic("damaged", 1, map[string]*string{"segment.bytes": &segmentBytes})
	cl := c.Client()
	for i := range 4 { // offsets 0-2, 3-5, 6-8, 9-11
		produceBatch(t, cl, "damaged", 3*i, 3)
	}
	c.Stop(0)
	damageBatch(t, filepath.Join(c.DataDir(0), "damaged-0"), 3)
	c.Restart(0)
	c.WaitForBrokers(1)

	logger, logs := testlog.New()
	g, err := Start(context.Background(), Config{
		Listen: "127.0.0.1:0", Brokers: c.Addrs(), Auth: auth.Config{HS256Secret: testSecret}, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	tok := adminToken(t)
	client := &http.Client{Transport: openapitest.Transport(t, nil)}
	fetch := func(offset int64) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/topics/damaged/partitions/0/events?offset=%d", g.URL(), offset), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("fetch at %d: %v", offset, err)
		}
		return resp.StatusCode, body
	}
	offsetsOf := func(body map[string]any) []int64 {
		var out []int64
		for _, e := range body["events"].([]any) {
			ev := e.(map[string]any)
			off := int64(ev["offset"].(float64))
			if ev["value"] != float64(off) {
				t.Fatalf("event %v: value is not its offset", ev)
			}
			out = append(out, off)
		}
		return out
	}

	// The events before the damage; the leader may take a moment after
	// the restart.
	var status int
	var body map[string]any
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		if status, body = fetch(0); status != 200 {
			return fmt.Errorf("fetch at 0: %d %v", status, body)
		}
		return nil
	})
	if got := offsetsOf(body); fmt.Sprint(got) != "[0 1 2]" || body["next_offset"] != float64(3) {
		t.Fatalf("fetch at 0: offsets %v, next %v; want [0 1 2] and 3", got, body["next_offset"])
	}
	// The damage, named the same way every time, from wherever in it the
	// read starts.
	var resume int64
	for _, off := range []int64{3, 3, 4} {
		status, body = fetch(off)
		e, _ := body["error"].(map[string]any)
		if status != http.StatusGone || e["code"] != "data_unreadable" || e["unreadable_from"] != float64(off) {
			t.Fatalf("fetch at %d: %d %v, want 410 data_unreadable from %d", off, status, body, off)
		}
		next := int64(e["next_offset"].(float64))
		if resume == 0 {
			resume = next
		}
		if next != resume || next < 6 || next > 9 {
			t.Fatalf("fetch at %d: next_offset %d; want one value in [6, 9] (the damaged batch holds 3 to 5)", off, next)
		}
		msg := e["message"].(string)
		if !strings.Contains(msg, `"damaged"`) || !strings.Contains(msg, "partition 0") || !strings.Contains(msg, strconv.Itoa(int(off))) {
			t.Fatalf("message %q does not name the topic, partition and offsets", msg)
		}
	}
	status, body = fetch(resume)
	if status != 200 || body["events"] == nil || offsetsOf(body)[0] != resume || body["next_offset"] != float64(12) {
		t.Fatalf("fetch at %d: %d %v; want the events from there to 11", resume, status, body)
	}

	// A subscription from the start is told and goes on.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+g.Addr().String()+"/v1/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "subscribe", "id": "s", "topic": "damaged", "from": "earliest"}); err != nil {
		t.Fatal(err)
	}
	next := func() map[string]any {
		t.Helper()
		ws.SetReadDeadline(time.Now().Add(30 * time.Second))
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
	if f := next(); f["type"] != "subscribed" {
		t.Fatalf("first frame %v", f)
	}
	var want []any
	for off := int64(0); off < 12; off++ {
		if off < 3 || off >= resume {
			want = append(want, float64(off))
		}
		if off == 3 {
			want = append(want, fmt.Sprintf("lost 3 to %d", resume))
		}
	}
	for i := range want {
		f := next()
		var got any
		switch f["type"] {
		case "event":
			got = f["offset"]
		case "error":
			if f["id"] != "s" || f["code"] != "data_unreadable" || f["topic"] != "damaged" || f["partition"] != float64(0) {
				t.Fatalf("error frame %v", f)
			}
			got = fmt.Sprintf("lost %v to %v", f["unreadable_from"], f["next_offset"])
		}
		if got != want[i] {
			t.Fatalf("frame %d: %v, want %v (all: %v)", i, f, want[i], want)
		}
	}
	produceBatch(t, cl, "damaged", 12, 1) // live after the damage too
	if f := next(); f["type"] != "event" || f["offset"] != float64(12) {
		t.Fatalf("frame %v, want the event at offset 12", f)
	}

	if n := logs.Count("cannot be read"); n != 1 {
		t.Fatalf("the damage was logged %d times, want once:\n%s", n, logs.String())
	}
}

// produceBatch writes one batch of n events whose values are their
// offsets, from first on, to partition 0 of topic.
func produceBatch(t *testing.T, cl *kgo.Client, topic string, first, n int) {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Timestamp: time.Now().UnixMilli(), Value: []byte(strconv.Itoa(first + i))}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil || p.BaseOffset != int64(first) {
		t.Fatalf("produce at %d: offset %d, %v", first, p.BaseOffset, err)
	}
}

// damageBatch flips a byte in the records of the batch at offset base in
// the partition directory dir, as a failing disk would: the batch's CRC no
// longer matches.
func damageBatch(t *testing.T, dir string, base int64) {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	for _, name := range logs {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for pos, rest := 0, data; ; {
			batch, next, err := recordbatch.Next(rest)
			if err != nil {
				break
			}
			if h, _ := recordbatch.ParseHeader(batch); h.BaseOffset == base {
				data[pos+len(batch)-1] ^= 0x40
				if err := os.WriteFile(name, data, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			pos += len(batch)
			rest = next
		}
	}
	t.Fatalf("no batch at offset %d in %s", base, dir)
}
