package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReplicatedLeaderKilled runs three broker processes with a topic of
// replication factor 3 and min.insync.replicas=2 under an idempotent
// franz-go producer with acks=all, SIGKILLs the leader of partition 0, and
// restarts it. Every acknowledged record is read back exactly once, in
// order within its key; the time from the kill to the first acks=all write
// acknowledged on that partition is logged.
func TestReplicatedLeaderKilled(t *testing.T) {
	kafka, procs := startThreeVoters(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka...), kgo.RecordRetries(1<<30), kgo.RequestRetries(1<<30),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2*time.Millisecond), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	two := "2"
	for {
		resp, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": &two}, "replicated")
		if err == nil && resp.Err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("create topic: %v %v", err, resp.Err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	leaderOf0 := func() int32 {
		for {
			md, err := adm.Metadata(ctx, "replicated")
			if err == nil {
				if p, ok := md.Topics["replicated"].Partitions[0]; ok && p.Leader >= 1 && p.Err == nil {
					return p.Leader
				}
			}
			if ctx.Err() != nil {
				t.Fatal("partition 0 has no leader")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	leader := leaderOf0()

	var mu sync.Mutex
	acked := map[string]bool{}
	var lastAck0 time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cl.Produce(ctx, &kgo.Record{Topic: "replicated", Key: []byte(fmt.Sprintf("k%d", i%11)), Value: []byte(fmt.Sprintf("%07d", i))},
				func(r *kgo.Record, err error) {
					if err != nil {
						t.Errorf("record %s: %v", r.Value, err)
						return
					}
					mu.Lock()
					acked[string(r.Value)] = true
					if r.Partition == 0 {
						lastAck0 = time.Now()
					}
					mu.Unlock()
				})
			if i%50 == 49 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	time.Sleep(time.Second)
	killed := time.Now()
	procs[leader-1].kill()
	var failover time.Duration
	for failover == 0 {
		mu.Lock()
		if lastAck0.After(killed) {
			failover = lastAck0.Sub(killed)
		}
		mu.Unlock()
		if ctx.Err() != nil {
			t.Fatal("no acks=all write on partition 0 acknowledged after its leader was killed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("first acks=all write acknowledged on partition 0 %v after its leader (broker %d) was SIGKILLed (session timeout 9 s)", failover, leader)
	procs[leader-1].start()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()

	total := checkReadBackOnce(ctx, t, kafka, "replicated", acked)
	t.Logf("%d records acknowledged, %d read back", nAcked, total)
}
