package faultharness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceValues writes values to partition 0 of topic with cl, one by one,
// failing the test on any error.
func produceValues(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// A leader paused with SIGSTOP holds a tail its followers never fetched
// (written with acks=1 while they were cut off). A new leader takes over
// and takes writes; then the old one resumes. While it resumes, acks=all
// produce requests sent straight to it (a client with stale metadata) are
// all refused; it becomes a follower and truncates its divergent tail: its
// files (runnel log dump) hold the new leader's records and none of the
// tail.
func TestPausedLeaderTruncatesDivergentTail(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, ClusterOptions{Brokers: 3})
	const topic = "paused"
	c.CreateTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	old, err := c.Leader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	all := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceValues(ctx, t, all, topic, numbered("base", 10)...)

	// The divergent tail: acks=1 writes the followers cannot fetch.
	for id := 1; id <= 3; id++ {
		if id != old {
			c.Net.CutLink(Kafka, id, old)
		}
	}
	for _, v := range numbered("divergent", 20) {
		code, _, err := ProduceDirect(ctx, c.Broker(old).Kafka, topic, 0, 1, []byte(v))
		if err != nil || code != 0 {
			t.Fatalf("acks=1 write of %s to the leader: code %d, %v", v, code, err)
		}
	}
	if dump, err := c.DumpLog(old, topic, 0); err != nil || !strings.Contains(dump, "divergent-019") {
		t.Fatalf("the leader's files lack the divergent tail (%v):\n%s", err, dump)
	}
	if err := c.Broker(old).Pause(); err != nil {
		t.Fatal(err)
	}
	c.Net.HealAll()
	var newLeader int
	c.waitFor(60*time.Second, func(ctx context.Context) error {
		l, err := c.Leader(ctx, topic, 0)
		if err != nil {
			return err
		}
		if l == old {
			return fmt.Errorf("paused broker %d still leads", old)
		}
		newLeader = l
		return nil
	})
	t.Logf("broker %d paused with a divergent tail; broker %d leads", old, newLeader)
	produceValues(ctx, t, all, topic, numbered("new", 10)...)

	// Resume the old leader while hammering it with acks=all writes.
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			rctx, rcancel := context.WithTimeout(ctx, 8*time.Second)
			code, off, err := ProduceDirect(rctx, c.Broker(old).Kafka, topic, 0, -1, []byte(fmt.Sprintf("stale-%04d", i)))
			rcancel()
			mu.Lock()
			switch {
			case err != nil:
				answers["no answer"]++
			case code == 0:
				answers[fmt.Sprintf("ACKNOWLEDGED at offset %d", off)]++
			default:
				answers[kerr.ErrorForCode(code).Error()]++
			}
			mu.Unlock()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := c.Broker(old).Resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("acks=all writes sent straight to the resumed ex-leader: %v", answers)
	for a, n := range answers {
		if strings.HasPrefix(a, "ACKNOWLEDGED") {
			t.Errorf("the resumed ex-leader acknowledged %d acks=all writes (%s)", n, a)
		}
	}
	if len(answers) == 0 {
		t.Fatal("no write reached the resumed ex-leader")
	}

	if err := c.WaitInSync(topic, 1, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	produceValues(ctx, t, all, topic, "after-rejoin")
	want := append(append(numbered("base", 10), numbered("new", 10)...), "after-rejoin")
	c.waitFor(30*time.Second, func(context.Context) error {
		for _, id := range []int{old, newLeader} {
			dump, err := c.DumpLog(id, topic, 0)
			if err != nil {
				return err
			}
			for _, bad := range []string{"divergent-", "stale-"} {
				if strings.Contains(dump, bad) {
					return fmt.Errorf("broker %d still holds %q records:\n%s", id, bad, dump)
				}
			}
			for _, v := range want {
				if !strings.Contains(dump, v) {
					return fmt.Errorf("broker %d lacks %s:\n%s", id, v, dump)
				}
			}
		}
		return nil
	})
}
