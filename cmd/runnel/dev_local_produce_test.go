package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
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

	req, _ := http.NewRequestWithContext(ctx, "POST", dev.url+"/v1/topics/inproc/events", bytes.NewReader([]byte(`{"value":"idem"}`)))
	req.Header.Set("Authorization", "Bearer "+dev.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "dev-local-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("produce with an Idempotency-Key: %d", resp.StatusCode)
	}
	if l, w := produceCount(t, ops); l != local || w == wire {
		t.Fatalf("with an Idempotency-Key: produce requests in process %v -> %v, over the listener %v -> %v; want the listener's only", local, l, wire, w)
	}
}
