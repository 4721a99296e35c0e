package faultharness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// With min.insync.replicas=2 and both followers of an RF=3 partition
// killed (on 5 brokers, so the metadata quorum lives on), acks=all writes
// are refused before they are appended: NOT_ENOUGH_REPLICAS to franz-go
// and to a raw Produce, 503 with Retry-After from the gateway; none of them
// is in the log afterwards.
func TestNotEnoughReplicas(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, ClusterOptions{Brokers: 5, Gateway: true, BrokerArgs: []string{"--replica-lag-time-max", lagMax.String()}})
	const topic = "ner"
	c.CreateTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	all := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceValues(ctx, t, all, topic, numbered("ok", 5)...)
	ps, err := c.Partitions(ctx, c.Admin(), topic)
	if err != nil {
		t.Fatal(err)
	}
	leader := int(ps[0].Leader)
	var followers []int
	for _, r := range ps[0].Replicas {
		if int(r) != leader {
			followers = append(followers, int(r))
		}
	}
	// Every error surfaced: no retries.
	once := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite(), kgo.RecordRetries(0),
		kgo.RequiredAcks(kgo.AllISRAcks()))

	for _, f := range followers {
		c.Broker(f).Kill()
	}
	c.waitFor(60*time.Second, func(ctx context.Context) error {
		_, isr, err := PartitionFrom(ctx, c.Broker(leader).Kafka, topic, 0)
		if err != nil {
			return err
		}
		if len(isr) != 1 {
			return fmt.Errorf("ISR %v with followers %v killed", isr, followers)
		}
		return nil
	})

	err = once.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("refused-franz")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Errorf("franz-go acks=all with the ISR below min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	if code, _, err := ProduceDirect(ctx, c.Broker(leader).Kafka, topic, 0, -1, []byte("refused-raw")); err != nil || code != kerr.NotEnoughReplicas.Code {
		t.Errorf("raw acks=all produce: code %d (%v), %v; want NOT_ENOUGH_REPLICAS", code, kerr.ErrorForCode(code), err)
	}
	restStart := time.Now()
	status, retryAfter, body := restProduce(ctx, t, c.Gateway, topic, `{"partition":0,"value":"refused-rest"}`)
	t.Logf("REST answered %d after %v", status, time.Since(restStart).Round(time.Millisecond))
	if status != http.StatusServiceUnavailable || retryAfter == "" {
		t.Errorf("REST acks=all: %d, Retry-After %q, %s; want 503 with Retry-After", status, retryAfter, body)
	}

	for _, f := range followers {
		c.Restart(f)
	}
	if err := c.WaitInSync(topic, 1, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	produceValues(ctx, t, all, topic, "after")
	for _, id := range append([]int{leader}, followers...) {
		id := id
		c.waitFor(30*time.Second, func(context.Context) error {
			dump, err := c.DumpLog(id, topic, 0)
			if err != nil {
				return err
			}
			if strings.Contains(dump, "refused-") {
				return fmt.Errorf("broker %d holds a refused write:\n%s", id, dump)
			}
			if !strings.Contains(dump, "ok-004") || !strings.Contains(dump, "after") {
				return fmt.Errorf("broker %d lacks acknowledged records:\n%s", id, dump)
			}
			return nil
		})
	}
}

// restProduce posts one event body with acks=all and returns the status,
// the Retry-After header and the body.
func restProduce(ctx context.Context, t *testing.T, g *Gateway, topic, event string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+"/v1/topics/"+topic+"/events?acks=all", bytes.NewBufferString(event))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("REST produce: %v", err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), b.String()
}
