package faultharness

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A REST produce with an Idempotency-Key whose first attempt reached a
// leader that was then cut off from the other brokers (clients still reach
// it) is retried, with the same key, once another broker leads: the retry
// is answered 200 and the events are in the log once. The ex-leader still
// believes it leads and serves reads below its stuck high watermark, so a
// gateway that checks the retry's answer by reading from it must not take
// the missing records for "another request used this key".
func TestRESTRetryAfterLeaderIsolated(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, ClusterOptions{Brokers: 3, Gateway: true})
	const topic = "retry"
	c.CreateTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	h := NewHistory()
	p := &RESTProducer{Name: "rest", URL: c.Gateway.URL, Token: c.Gateway.Token, Topic: topic, Batch: 1, History: h,
		Client: &http.Client{Timeout: 30 * time.Second}}
	// Warm up: the gateway learns the topic and its leader.
	for i := range 3 {
		if err := p.produce(ctx, fmt.Sprintf("warm-%d", i), []RecordID{{Producer: "warm", Seq: i}}); err != nil {
			t.Fatal(err)
		}
	}
	old, err := c.Leader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Net.Isolate(old)
	ids := []RecordID{{Producer: "rest", Seq: 0}}
	short := &RESTProducer{Name: "rest", URL: c.Gateway.URL, Token: c.Gateway.Token, Topic: topic, History: h,
		Client: &http.Client{Timeout: 2 * time.Second}}
	status, _, err := short.post(ctx, "the-key", short.body(ids))
	t.Logf("first attempt to the isolated leader %d: status %d, %v", old, status, err)
	if err == nil && status == http.StatusOK {
		t.Fatalf("an isolated leader acknowledged an acks=all write")
	}
	c.waitFor(60*time.Second, func(ctx context.Context) error {
		l, err := c.Leader(ctx, topic, 0)
		if err == nil && l == old {
			err = fmt.Errorf("broker %d still leads", l)
		}
		return err
	})
	if err := p.produce(ctx, "the-key", ids); err != nil {
		t.Errorf("retry with the same Idempotency-Key after the leader changed: %v", err)
	}
	c.Net.HealAll()
	report, err := c.Verify(ctx, 0, topic, 1, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(report)
	if len(report.Violations) > 0 || len(report.Find(ids[0])) != 1 {
		t.Errorf("after the retry: %v in the log\n%s", report.Find(ids[0]), report)
	}
}
