package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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

// TestDamagedStoredBatchIsReportedAndSkipped damages two batches on a
// stopped broker's disk, each in a sealed segment between intact ones: one
// as a failing disk would (a flipped bit, so its CRC no longer matches), one
// as a producer before validation could (garbage records under a valid
// CRC). Read through a gateway, REST returns the readable events and, for
// each damaged range, 410 data_unreadable naming the lost offsets and where
// to go on, the same every time it is asked; a WebSocket subscription gets
// the same events with an error frame in place of each damaged range, then
// live events; the gateway logs each range once.
//
// Whether the broker reports a damaged range (CORRUPT_MESSAGE with Runnel's
// unreadable range) or serves the batch and the gateway fails to decode
// it, clients see the same, and the test holds for both.
func TestDamagedStoredBatchIsReportedAndSkipped(t *testing.T) {
	readPaths(t, testDamagedStoredBatchIsReportedAndSkipped)
}

func testDamagedStoredBatchIsReportedAndSkipped(t *testing.T, local bool) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	segmentBytes := "100" // one batch per segment
	c.CreateTopic("damaged", 1, map[string]*string{"segment.bytes": &segmentBytes})
	cl := c.Client()
	for i := range 4 { // offsets 0-2, 3-5, 6-8, 9-11
		produceBatch(t, cl, "damaged", 3*i, 3)
	}
	c.Stop(0)
	dir := filepath.Join(c.DataDir(0), "damaged-0")
	damageBatch(t, dir, 3, func(batch []byte) { batch[len(batch)-1] ^= 0x40 })
	damageBatch(t, dir, 6, func(batch []byte) {
		const attributesAt, crcAt, recordsAt = 21, 17, 61
		for i := recordsAt; i < len(batch); i++ {
			batch[i] = 0xee
		}
		binary.BigEndian.PutUint32(batch[crcAt:], crc32.Checksum(batch[attributesAt:], crc32.MakeTable(crc32.Castagnoli)))
	})
	c.Restart(0)
	c.WaitForBrokers(1)

	logger, logs := testlog.New()
	cfg := Config{
		Listen: "127.0.0.1:0", Brokers: c.Addrs(), Auth: auth.Config{HS256Secret: testSecret}, Logger: logger,
	}
	readPath(c, local)(&cfg)
	g, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	tok := adminToken(t)
	client := &http.Client{Transport: openapitest.Transport(t, nil)}
	fetch := func(offset int64) (int, map[string]any) {
		t.Helper()
		return getEvents(t, client, g.URL(), tok, "damaged", offset)
	}
	// The broker may take a moment to lead again after the restart.
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		if status, body := fetch(0); status != 200 {
			return fmt.Errorf("fetch at 0: %d %v", status, body)
		}
		return nil
	})

	// Read it all over REST: each item of seen is an event's offset or a
	// lost range.
	var seen []string
	for off := int64(0); off < 12; {
		status, body := fetch(off)
		switch status {
		case http.StatusOK:
			for _, e := range body["events"].([]any) {
				ev := e.(map[string]any)
				if ev["value"] != ev["offset"] {
					t.Fatalf("event %v: the value is not its offset", ev)
				}
				seen = append(seen, fmt.Sprint(ev["offset"]))
			}
			off = int64(body["next_offset"].(float64))
		case http.StatusGone:
			e := body["error"].(map[string]any)
			next := int64(e["next_offset"].(float64))
			if e["code"] != "data_unreadable" || e["unreadable_from"] != float64(off) || next <= off {
				t.Fatalf("fetch at %d: %v", off, body)
			}
			msg := e["message"].(string)
			if !strings.Contains(msg, `"damaged"`) || !strings.Contains(msg, "partition 0") || !strings.Contains(msg, strconv.FormatInt(off, 10)) {
				t.Fatalf("message %q does not name the topic, partition and offsets", msg)
			}
			// Asked again, and from inside the range, the same end.
			for _, again := range []int64{off, next - 1} {
				if status, body := fetch(again); status != http.StatusGone || body["error"].(map[string]any)["next_offset"] != float64(next) {
					t.Fatalf("fetch at %d again: %d %v; want 410 up to %d", again, status, body, next)
				}
			}
			seen = append(seen, fmt.Sprintf("lost %d-%d", off, next))
			off = next
		default:
			t.Fatalf("fetch at %d: %d %v", off, status, body)
		}
	}
	t.Logf("read over REST: %v", seen)
	// Exactly the damaged batches are lost, however the loss is cut in
	// ranges.
	var readable []string
	lost := int64(3)
	for _, item := range seen {
		var from, to int64
		if _, err := fmt.Sscanf(item, "lost %d-%d", &from, &to); err == nil {
			if from != lost {
				t.Fatalf("read %v: the lost ranges do not run from 3 without a gap", seen)
			}
			lost = to
			continue
		}
		readable = append(readable, item)
	}
	if fmt.Sprint(readable) != "[0 1 2 9 10 11]" || lost != 9 {
		t.Fatalf("read %v; want the events 0-2 and 9-11 and offsets 3 to 8 lost", seen)
	}

	// A subscription from the start sees the same, and goes on.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+g.Addr().String()+"/v1/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsSend(t, ws, map[string]any{"type": "subscribe", "id": "s", "topic": "damaged", "from": "earliest"})
	next := func() map[string]any { t.Helper(); return wsNext(t, ws, 30*time.Second) }
	if f := next(); f["type"] != "subscribed" {
		t.Fatalf("first frame %v", f)
	}
	for i, want := range seen {
		f := next()
		got := fmt.Sprint(f["offset"])
		if f["type"] == "error" {
			if f["id"] != "s" || f["code"] != "data_unreadable" || f["topic"] != "damaged" || f["partition"] != float64(0) {
				t.Fatalf("error frame %v", f)
			}
			got = fmt.Sprintf("lost %v-%v", f["unreadable_from"], f["next_offset"])
		}
		if got != want {
			t.Fatalf("frame %d: %v, want %s (REST read %v)", i, f, want, seen)
		}
	}
	produceBatch(t, cl, "damaged", 12, 1)
	if f := next(); f["type"] != "event" || f["offset"] != float64(12) {
		t.Fatalf("frame %v, want the event at offset 12", f)
	}

	if n, ranges := logs.Count("cannot be read"), len(seen)-len(readable); n != ranges {
		t.Fatalf("%d damaged ranges were logged %d times, want once each:\n%s", ranges, n, logs.String())
	}
}

// produceBatch writes one batch of n events whose values are their
// offsets, from first on, to partition 0 of topic.
func produceBatch(t *testing.T, cl *kgo.Client, topic string, first, n int) {
	t.Helper()
	produceBatchAt(t, cl, topic, first, n, time.Now())
}

// produceBatchAt is produceBatch with the events' timestamp ts.
func produceBatchAt(t *testing.T, cl *kgo.Client, topic string, first, n int, ts time.Time) {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Timestamp: ts.UnixMilli(), Value: []byte(strconv.Itoa(first + i))}
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
	// A raw request is not retried by franz-go as its producer retries
	// records: a leadership change after a restart (the controller
	// re-electing the restarted broker at a new epoch) answers
	// NOT_LEADER_FOR_PARTITION until it settles, so ask again, as a
	// client would. A batch appended before such an answer would show as
	// a base offset past first.
	var p kmsg.ProduceResponseTopicPartition
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		p = resp.Topics[0].Partitions[0]
		err = kerr.ErrorForCode(p.ErrorCode)
		if (errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.LeaderNotAvailable)) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil || p.BaseOffset != int64(first) {
			t.Fatalf("produce at %d: offset %d, %v", first, p.BaseOffset, err)
		}
		return
	}
}

// damageBatch applies damage to the batch at offset base in the partition
// directory dir, in place.
func damageBatch(t *testing.T, dir string, base int64, damage func(batch []byte)) {
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
				damage(data[pos : pos+len(batch)])
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
