package faultharness

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// restEvent is one event of a REST fetch answer.
type restEvent struct {
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Value     json.RawMessage `json:"value"`
	ValueB64  string          `json:"value_b64"`
}

// ConsumeREST long-polls one partition through the gateway from offset 0
// until stop is closed, recording every event in h as read by name. A
// failed poll (5xx, timeout) is retried from the same offset. It returns
// how many events it read, and an error for an answer that makes no sense
// (a 4xx, offsets that go back or skip the asked offset).
func ConsumeREST(ctx context.Context, g *Gateway, topic string, partition int32, name string, h *History, stop <-chan struct{}) (int, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	next, n := int64(0), 0
	for {
		select {
		case <-stop:
			return n, nil
		case <-ctx.Done():
			return n, nil
		default:
		}
		u := fmt.Sprintf("%s/v1/topics/%s/partitions/%d/events?offset=%d&limit=500&wait_ms=1000",
			strings.TrimSuffix(g.URL, "/"), url.PathEscape(topic), partition, next)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return n, err
		}
		req.Header.Set("Authorization", "Bearer "+g.Token)
		resp, err := client.Do(req)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		switch {
		case err != nil || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
			time.Sleep(100 * time.Millisecond)
			continue
		case resp.StatusCode != http.StatusOK:
			return n, fmt.Errorf("%s: GET %s: %d %s", name, u, resp.StatusCode, truncate(body, 300))
		}
		var answer struct {
			Events     []restEvent `json:"events"`
			NextOffset int64       `json:"next_offset"`
		}
		if err := json.Unmarshal(body, &answer); err != nil {
			return n, fmt.Errorf("%s: GET %s: %w: %s", name, u, err, truncate(body, 300))
		}
		for _, ev := range answer.Events {
			if ev.Offset < next {
				return n, fmt.Errorf("%s: partition %d: offset %d after asking from %d", name, partition, ev.Offset, next)
			}
			v := []byte(ev.Value)
			if ev.ValueB64 != "" {
				if v, err = base64.StdEncoding.DecodeString(ev.ValueB64); err != nil {
					return n, fmt.Errorf("%s: partition %d offset %d: value_b64: %w", name, partition, ev.Offset, err)
				}
			}
			id, err := ParseRecordID(v)
			if err != nil {
				id = RecordID{Producer: "unparsable " + truncate(v, 40)}
			}
			h.Consumed(Read{Reader: name, ID: id, Partition: ev.Partition, Offset: ev.Offset})
			next = ev.Offset + 1
			n++
		}
		if answer.NextOffset > next {
			next = answer.NextOffset
		}
	}
}
