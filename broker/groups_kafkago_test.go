package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// mixedGroup is one generation of a consumer group with a segmentio/kafka-go
// Reader and a franz-go client as its two members, recording every value
// each of them read and the partitions it came from.
type mixedGroup struct {
	t      *testing.T
	cancel context.CancelFunc
	wg     sync.WaitGroup
	reader *kafkago.Reader
	kgoCl  *kgo.Client

	mu    sync.Mutex
	seen  map[string]int
	parts map[string]map[int32]bool // "kafka-go"/"franz-go" → partitions read
}

// startMixedGroup starts both members of group g on topic and waits
// until both own partitions; seen carries the values read across
// generations. The franz-go member joins first and so leads the group:
// kafka-go's leader cannot decode member metadata newer than version 0
// (franz-go sends a later one, as Kafka's Java client does), so with
// Apache Kafka as with Runnel a kafka-go leader fails the rebalance.
func startMixedGroup(t *testing.T, ctx context.Context, c *brokertest.Cluster, adm *kadm.Client, g, topic string, seen map[string]int) *mixedGroup {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	m := &mixedGroup{t: t, cancel: cancel, seen: seen,
		parts: map[string]map[int32]bool{"kafka-go": {}, "franz-go": {}}}
	m.kgoCl = c.Client(kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.Balancers(kgo.RangeBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		for cctx.Err() == nil {
			fs := m.kgoCl.PollFetches(cctx)
			fs.EachError(func(tp string, p int32, err error) {
				if cctx.Err() == nil && !errors.Is(err, context.Canceled) {
					t.Logf("franz-go fetch %s/%d: %v", tp, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) { m.record("franz-go", r.Partition, string(r.Value)) })
			if err := m.kgoCl.CommitUncommittedOffsets(cctx); err != nil && cctx.Err() == nil {
				t.Logf("franz-go commit: %v", err)
			}
		}
	}()
	m.waitStable(ctx, adm, g, 1)
	m.reader = kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: c.Addrs(), GroupID: g, Topic: topic,
		GroupBalancers:    []kafkago.GroupBalancer{kafkago.RangeGroupBalancer{}},
		StartOffset:       kafkago.FirstOffset,
		HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 10 * time.Second,
		RebalanceTimeout: 10 * time.Second, JoinGroupBackoff: 200 * time.Millisecond,
		MaxWait: 200 * time.Millisecond, ReadBackoffMax: 200 * time.Millisecond,
		ErrorLogger: kafkago.LoggerFunc(func(f string, a ...any) {
			if cctx.Err() == nil {
				t.Logf("kafka-go: "+f, a...)
			}
		}),
	})
	go func() {
		defer m.wg.Done()
		for {
			msg, err := m.reader.FetchMessage(cctx)
			if cctx.Err() != nil {
				return
			}
			if err != nil {
				// The Reader reports group errors (such as a
				// coordinator still loading after the broker's
				// restart) here and keeps retrying itself.
				t.Logf("kafka-go fetch: %v", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			m.record("kafka-go", int32(msg.Partition), string(msg.Value))
			// A commit refused because a rebalance began leaves the
			// record uncommitted: the next owner may read it again.
			if err := m.reader.CommitMessages(cctx, msg); err != nil && cctx.Err() == nil {
				t.Logf("kafka-go commit at %d/%d: %v", msg.Partition, msg.Offset, err)
			}
		}
	}()
	m.waitStable(ctx, adm, g, 2)
	return m
}

func (m *mixedGroup) record(member string, partition int32, value string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen[value]++
	m.parts[member][partition] = true
}

// distinct returns how many distinct values were read so far.
func (m *mixedGroup) distinct() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}

// waitStable waits until g is Stable with n members that each own some
// of the topic's partitions.
func (m *mixedGroup) waitStable(ctx context.Context, adm *kadm.Client, g string, n int) {
	m.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		d, err := adm.DescribeGroups(ctx, g)
		if err == nil && d[g].State == "Stable" && len(d[g].Members) == n {
			owning := 0
			for _, mem := range d[g].Members {
				if a, ok := mem.Assigned.AsConsumer(); ok && len(a.Topics) == 1 && len(a.Topics[0].Partitions) > 0 {
					owning++
				}
			}
			if owning == n {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.t.Fatalf("group %s never became Stable with %d members owning partitions", g, n)
}

// stop waits until want distinct values were read, then both members
// leave the group (the kafka-go Reader has committed each record it
// read; the franz-go member commits what it read before it closes).
func (m *mixedGroup) stop(ctx context.Context, want int) {
	m.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for m.distinct() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	m.cancel()
	m.wg.Wait()
	if err := m.kgoCl.CommitUncommittedOffsets(ctx); err != nil {
		m.t.Errorf("franz-go final commit: %v", err)
	}
	m.kgoCl.Close()
	if err := m.reader.Close(); err != nil {
		m.t.Errorf("close kafka-go reader: %v", err)
	}
	if got := m.distinct(); got < want {
		m.t.Fatalf("the group read %d distinct records, want %d", got, want)
	}
}

// checkShared fails unless both members read records, from disjoint sets
// of partitions that together cover all n.
func (m *mixedGroup) checkShared(n int32) {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	a, b := m.parts["kafka-go"], m.parts["franz-go"]
	list := func(s map[int32]bool) []int32 {
		var l []int32
		for p := range s {
			l = append(l, p)
		}
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		return l
	}
	if len(a) == 0 || len(b) == 0 || int32(len(a)+len(b)) != n {
		m.t.Fatalf("partitions read: kafka-go %v, franz-go %v; want the %d partitions split between both", list(a), list(b), n)
	}
	for p := range a {
		if b[p] {
			m.t.Fatalf("partition %d read by both members of one stable generation", p)
		}
	}
}

// TestKafkaGoAndFranzGoShareGroup runs a segmentio/kafka-go consumer group
// Reader and a franz-go member in one group (range assignor, which both
// libraries implement): they split the partitions, commit, and after every
// member and the coordinator's broker restarted, new members of both
// libraries resume from the committed offsets with nothing skipped and
// nothing read twice (every record read was committed before its reader
// left).
func TestKafkaGoAndFranzGoShareGroup(t *testing.T) {
	c := brokertest.Start(t, 1, groupOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	const topic, g, parts = "mixed", "mixed-g", 6
	c.CreateTopic(topic, parts, nil)
	prod := c.Client()
	adm := kadm.NewClient(c.Client())
	seen := map[string]int{}

	// Records are produced only once both members own partitions, so no
	// rebalance happens while they are read.
	m := startMixedGroup(t, ctx, c, adm, g, topic, seen)
	produceN(t, ctx, prod, topic, 0, 1200)
	m.stop(ctx, 1200)
	m.checkShared(parts)

	checkCommittedSum(t, ctx, adm, g, 1200)

	prod.Close()
	adm.Close()
	c.Stop(0)
	c.Restart(0)
	prod = c.Client()
	defer prod.Close()
	adm = kadm.NewClient(c.Client())
	defer adm.Close()

	m = startMixedGroup(t, ctx, c, adm, g, topic, seen)
	produceN(t, ctx, prod, topic, 1200, 600)
	m.stop(ctx, 1800)
	m.checkShared(parts)
	for i := 0; i < 1800; i++ {
		if seen[fmt.Sprint(i)] == 0 {
			t.Fatalf("record %d skipped", i)
		}
	}
	for v, n := range seen {
		if n > 1 {
			t.Fatalf("record %s read %d times although each was committed before its reader left", v, n)
		}
	}
}
