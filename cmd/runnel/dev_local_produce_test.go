package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
)

// produceCount reads, from the metrics text at ops, the produce requests
// the broker served in process and over its Kafka listener.
func produceCount(t *testing.T, ops string) (local, wire float64) {
	t.Helper()
	resp, err := http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum := func(name string) float64 {
		var n float64
		re := regexp.MustCompile(`(?m)^` + name + `\{[^}]*api="Produce"[^}]*\} (\S+)$`)
		for _, m := range re.FindAllSubmatch(body, -1) {
			v, err := strconv.ParseFloat(string(m[1]), 64)
			if err != nil {
				t.Fatalf("%s: %v", m[0], err)
			}
			n += v
		}
		return n
	}
	return sum("runnel_broker_local_requests_total"), sum("runnel_kafka_requests_total")
}

// TestDevProducesInProcess: "runnel dev" writes the events of a REST
// produce without an Idempotency-Key with a function call into its broker,
// not a Kafka request over loopback: its broker counts them as in-process
// produce requests, its Kafka listener sees none, and every event is
// stored where its answer says. A produce with an Idempotency-Key still
// goes through the listener.
func TestDevProducesInProcess(t *testing.T) {
	ops := freePort(t)
	dev := startDev(t, t.TempDir(), "--metrics", ops)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := dev.do(ctx, "POST", "/v1/topics", map[string]any{"name": "inproc", "partitions": 3}, nil); err != nil {
		t.Fatal(err)
	}
	bodies := []map[string]any{
		{"value": map[string]any{"n": 1}},
		{"key": "user-1", "value": "keyed"},
		{"partition": 2, "value": "explicit", "headers": map[string]string{"h": "v"}},
		{"events": []map[string]any{{"value": 1}, {"value": 2}, {"key": "user-1", "value": 3}}},
	}
	local0, wire0 := produceCount(t, ops)
	stored := 0
	for _, body := range bodies {
		var res struct {
			Results []struct {
				Partition int32
				Offset    int64
			}
		}
		if _, err := dev.do(ctx, "POST", "/v1/topics/inproc/events", body, &res); err != nil {
			t.Fatalf("produce %v: %v", body, err)
		}
		for _, r := range res.Results {
			var got struct {
				Events []struct {
					Partition int32
					Offset    int64
				}
			}
			if _, err := dev.do(ctx, "GET", fmt.Sprintf("/v1/topics/inproc/partitions/%d/events?offset=%d&limit=1", r.Partition, r.Offset), nil, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Events) != 1 || got.Events[0].Offset != r.Offset {
				t.Fatalf("event at %d/%d not found: %+v", r.Partition, r.Offset, got)
			}
			stored++
		}
	}
	if stored != 6 {
		t.Fatalf("%d results, want 6", stored)
	}
	local, wire := produceCount(t, ops)
	if local-local0 != float64(len(bodies)) || wire != wire0 {
		t.Fatalf("produce requests in process %v -> %v, over the Kafka listener %v -> %v; want %d more in process only",
			local0, local, wire0, wire, len(bodies))
	}

	if code, body := (&gatewayProc{url: dev.url}).call(dev.token, "POST", "/v1/topics/inproc/events", "dev-local-1", `{"value":"idem"}`); code != http.StatusOK {
		t.Fatalf("produce with an Idempotency-Key: %d %s", code, body)
	}
	if l, w := produceCount(t, ops); l != local || w == wire {
		t.Fatalf("with an Idempotency-Key: produce requests in process %v -> %v, over the listener %v -> %v; want the listener's only", local, l, wire, w)
	}
}

// TestDevDiskFull is TestGatewayDiskFull for "runnel dev", whose produces
// are function calls into its broker: with the log's disk full, acks=all
// and acks=1 produces get 507 insufficient_storage naming the partition
// within two seconds, without going through the Kafka listener; after a
// restart with room again, what was acknowledged is all there and nothing
// the refused requests sent was stored.
func TestDevDiskFull(t *testing.T) {
	disk := mountTmpfs(t, 32<<20)
	ops := freePort(t)
	dataDir := filepath.Join(disk, "data")
	dev := startDev(t, dataDir, "--metrics", ops)
	call := func(path, body string) (int, string) {
		return (&gatewayProc{url: dev.url}).call(dev.token, "POST", path, "", body)
	}
	if code, body := call("/v1/topics", `{"name":"full","partitions":1}`); code != 201 {
		t.Fatalf("create topic: %d %s", code, body)
	}
	testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		if code, body := call("/v1/topics/full/events", `{"value":"before"}`); code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	events := bigEvents()
	acked := produceUntilFull(t, disk, func(body string) (int, string) { return call("/v1/topics/full/events", body) })
	_, wire := produceCount(t, ops)
	for _, path := range []string{"/v1/topics/full/events", "/v1/topics/full/events?acks=1"} {
		fillDisk(t, disk)
		start := time.Now()
		code, body := call(path, events)
		took := time.Since(start)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal([]byte(body), &e)
		if code != 507 || e.Error.Code != "insufficient_storage" || !strings.Contains(e.Error.Message, `partition 0 of topic "full"`) {
			t.Errorf("%s with the disk full: %d %.300s, want 507 insufficient_storage naming the partition", path, code, body)
		}
		if took > 2*time.Second {
			t.Errorf("%s: the 507 took %v", path, took)
		}
	}
	if _, w := produceCount(t, ops); w != wire {
		t.Fatalf("the refused produces went through the Kafka listener (%v -> %v produce requests)", wire, w)
	}

	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	dev.kill()
	dev = startDev(t, dataDir)
	var offs struct {
		Partitions []struct{ Earliest, Latest int64 } `json:"partitions"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := dev.do(ctx, "GET", "/v1/topics/full/offsets", nil, &offs); err != nil || len(offs.Partitions) != 1 {
		t.Fatalf("offsets: %v %+v", err, offs)
	}
	if n := offs.Partitions[0].Latest - offs.Partitions[0].Earliest; n != acked {
		t.Fatalf("the partition holds %d events, want the %d acknowledged", n, acked)
	}
}
