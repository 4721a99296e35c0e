package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// TestDevReadyzOnlyWhenEveryPartitionLeads restarts "runnel dev" (SIGKILL)
// with many partitions and polls /readyz from the moment the gateway listens.
// Every time it answers 200, each partition must take a produce at once: one
// Kafka Produce request, no retries, every partition answering without an
// error. Until then /readyz answers 503 with its reason.
func TestDevReadyzOnlyWhenEveryPartitionLeads(t *testing.T) {
	const topic, partitions, restarts = "many", 48, 4
	dir := t.TempDir()
	dev := startDev(t, dir)
	ctx := context.Background()
	if code, err := dev.do(ctx, "POST", "/v1/topics", map[string]any{"name": topic, "partitions": partitions}, nil); err != nil || code != 201 {
		t.Fatalf("create topic: %d %v", code, err)
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, []recordbatch.Record{{Value: []byte("x"), Timestamp: time.Now().UnixMilli()}})
	if err != nil {
		t.Fatal(err)
	}
	produceAll := func(kafka string) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
		if err != nil {
			return err
		}
		defer cl.Close()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 1, 2000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		for p := range int32(partitions) {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = p, batch
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := req.RequestWith(rctx, cl.Broker(1))
		if err != nil {
			return err
		}
		var bad []string
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					bad = append(bad, fmt.Sprintf("%d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode)))
				}
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("partitions refused the produce: %s", strings.Join(bad, ", "))
		}
		return nil
	}
	if err := produceAll(dev.kafka); err != nil {
		t.Fatal(err)
	}
	for round := range restarts {
		dev.kill()
		dev = launchDev(t, dir)
		var ready, notReady int
		reasons := map[string]int{}
		deadline := time.Now().Add(30 * time.Second)
		var firstReady time.Time
		// Poll until /readyz has said 200 for a while after the first time.
		for firstReady.IsZero() || time.Since(firstReady) < time.Second {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: /readyz never stayed ready: %d times 200, 503 reasons %v", round, ready, reasons)
			}
			resp, err := http.Get(dev.url + "/readyz")
			if err != nil {
				t.Fatalf("round %d: readyz: %v", round, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				ready++
				if firstReady.IsZero() {
					firstReady = time.Now()
				}
				if err := produceAll(dev.kafka); err != nil {
					t.Fatalf("round %d: /readyz said 200 (time %d), but: %v", round, ready, err)
				}
			case 503:
				notReady++
				var e struct {
					Error struct{ Message string } `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
					t.Fatalf("round %d: readyz 503 without a reason: %s", round, body)
				}
				reason := e.Error.Message
				if i := strings.Index(reason, "partitions"); i >= 0 {
					reason = reason[:i] + "partitions ..."
				}
				reasons[reason]++
			default:
				t.Fatalf("round %d: readyz %d %s", round, resp.StatusCode, body)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("round %d: /readyz 503 %d times, then 200 %d times, each with every partition leading; reasons: %v", round, notReady, ready, reasons)
	}
}

// TestDevRefusesWithoutMetadata: "runnel dev" on a data directory whose
// metadata is gone but whose partitions hold data exits 1 with one line
// saying why and how to go on, and leaves the data alone.
func TestDevRefusesWithoutMetadata(t *testing.T) {
	dir := t.TempDir()
	dev := startDev(t, dir)
	ctx := context.Background()
	if code, err := dev.do(ctx, "POST", "/v1/topics", map[string]any{"name": "orders", "partitions": 1}, nil); err != nil || code != 201 {
		t.Fatalf("create topic: %d %v", code, err)
	}
	if code, err := dev.do(ctx, "POST", "/v1/topics/orders/events", map[string]any{"value": map[string]any{"n": 1}}, nil); err != nil || code != 200 {
		t.Fatalf("produce: %d %v", code, err)
	}
	dev.kill()
	if err := os.RemoveAll(filepath.Join(dir, "meta")); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "orders-0", "*.log"))
	r := runnel(t, nil, "dev", "--data-dir", dir, "--kafka", freePort(t), "--http", freePort(t), "--log-level", "error")
	if r.code != exitFailure || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "refusing to start") ||
		!strings.Contains(r.stderr, "orders-0") || !strings.Contains(r.stderr, "--start-fresh-metadata") {
		t.Fatalf("want exit 1 with one line naming the partition and the way out; got exit %d\nstderr: %s", r.code, r.stderr)
	}
	if after, _ := filepath.Glob(filepath.Join(dir, "orders-0", "*.log")); len(after) != len(segs) || len(segs) == 0 {
		t.Fatalf("segments before %v, after %v", segs, after)
	}
}
