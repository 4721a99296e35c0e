package faultharness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// retriable says whether a produce error is one a client retries: a Kafka
// error marked retriable, a connection that went away, or franz-go giving
// up after retrying (it retries only retriable errors).
func retriable(err error) bool {
	var ne net.Error
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Retriable
	case errors.Is(err, kgo.ErrRecordRetries), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// SIGTERM makes a broker move its leaderships to other in-sync replicas
// before it exits: within 5 s of the signal, and no later than its exit,
// no partition names it leader,
// and producers writing all along (acks=all, every error surfaced: no
// client retries) see only retriable errors and lose nothing acknowledged.
func TestControlledShutdownMovesLeadership(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, ClusterOptions{Brokers: 3})
	const topic = "shutdown"
	const partitions = 6
	c.CreateTopic(topic, partitions, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ps, err := c.Partitions(ctx, c.Admin(), topic)
	if err != nil {
		t.Fatal(err)
	}
	led := map[int]int{}
	for _, p := range ps {
		led[int(p.Leader)]++
	}
	victim := 1
	for id, n := range led {
		if n > led[victim] {
			victim = id
		}
	}
	other := victim%3 + 1
	t.Logf("leaders per broker %v; stopping broker %d", led, victim)

	h := NewHistory()
	// Not idempotent, and no retries: every error reaches the test, and no
	// client retry writes a record twice (which a non-idempotent producer
	// may do, and the checker would report).
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(), kgo.RecordRetries(0), kgo.RequestRetries(0))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := map[string]int{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			id := RecordID{Producer: "p", Seq: seq}
			pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
			r, err := cl.ProduceSync(pctx, &kgo.Record{Topic: topic, Partition: int32(seq % partitions), Value: id.Value()}).First()
			pcancel()
			if err != nil {
				mu.Lock()
				failures[fmt.Sprintf("retriable=%v %v", retriable(err), err)]++
				mu.Unlock()
				continue
			}
			h.Acked(Ack{ID: id, Partition: r.Partition, Offset: r.Offset})
		}
	}()
	time.Sleep(2 * time.Second)

	b := c.Broker(victim)
	sent := time.Now()
	type exit struct {
		after time.Duration
		err   error
	}
	exited := make(chan exit, 1)
	go func() {
		_, err := b.Terminate(terminateGrace)
		exited <- exit{time.Since(sent), err}
	}()
	var moved time.Duration
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		stillLeads := 0
		for p := range int32(partitions) {
			l, _, err := PartitionFrom(rctx, c.Broker(other).Kafka, topic, p)
			if err != nil || int(l) == victim {
				stillLeads++
			}
		}
		rcancel()
		if stillLeads == 0 {
			moved = time.Since(sent)
			break
		}
		if time.Since(sent) > 5*time.Second {
			t.Fatalf("5 s after SIGTERM broker %d still leads (or cannot be told about) %d partitions", victim, stillLeads)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ex := <-exited
	if ex.err != nil {
		t.Errorf("SIGTERM: %v", ex.err)
	}
	t.Logf("broker %d led none of its %d partitions %v after SIGTERM; it exited %v after", victim, led[victim], moved.Round(time.Millisecond), ex.after.Round(time.Millisecond))
	// Moved before the exit (what a controlled shutdown is for), not
	// after it, when the controller fences a broker whose connection
	// closed. The other brokers may learn of the move a moment later.
	if moved > ex.after+500*time.Millisecond {
		t.Errorf("leaderships moved %v after SIGTERM, %v after the broker exited: moved by fencing a gone broker, not by a controlled shutdown", moved, moved-ex.after)
	}
	time.Sleep(2 * time.Second)
	c.Restart(victim)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	for f, n := range failures {
		t.Logf("%5d x %s", n, f)
		if strings.HasPrefix(f, "retriable=false") {
			t.Errorf("a produce failed with a non-retriable error across a controlled shutdown: %s", f)
		}
	}
	mu.Unlock()
	report, err := c.Verify(ctx, 0, topic, partitions, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(report)
	if len(report.Violations) > 0 || report.Acked < 100 {
		t.Errorf("controlled shutdown:\n%s", report)
	}
}
