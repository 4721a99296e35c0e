package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker/brokertest"
)

// kafkaBytes reads Kafka's record layouts, written here apart from the
// coordinator's codecs so that the test checks the bytes, not agreement
// of a codec with itself.
type kafkaBytes struct {
	t *testing.T
	b []byte
}

func (r *kafkaBytes) take(n int) []byte {
	r.t.Helper()
	if n > len(r.b) {
		r.t.Fatalf("record too short: %d bytes wanted, %d left", n, len(r.b))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *kafkaBytes) i16() int16 { return int16(binary.BigEndian.Uint16(r.take(2))) }
func (r *kafkaBytes) i32() int32 { return int32(binary.BigEndian.Uint32(r.take(4))) }

func (r *kafkaBytes) uvarint() int {
	r.t.Helper()
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.t.Fatal("bad uvarint")
	}
	r.b = r.b[n:]
	return int(v)
}

// str is a key's string (int16 length); cstr a value's compact nullable
// string ("<null>" for null).
func (r *kafkaBytes) str() string { return string(r.take(int(r.i16()))) }
func (r *kafkaBytes) cstr() string {
	n := r.uvarint()
	if n == 0 {
		return "<null>"
	}
	return string(r.take(n - 1))
}

func (r *kafkaBytes) skipTags() {
	for n := r.uvarint(); n > 0; n-- {
		r.uvarint()
		r.take(r.uvarint())
	}
}

// partitions reads a TopicPartitions array as "topic-uuid-hex:p,p".
func (r *kafkaBytes) partitions() []string {
	var out []string
	for n := r.uvarint() - 1; n > 0; n-- {
		id := r.take(16)
		var ps []int32
		for m := r.uvarint() - 1; m > 0; m-- {
			ps = append(ps, r.i32())
		}
		r.skipTags()
		out = append(out, fmt.Sprintf("%x:%v", id, ps))
	}
	return out
}

// offsetsRecords reads __consumer_offsets to its end: the last value of
// every key (nil for a tombstone).
func offsetsRecords(t *testing.T, ctx context.Context, c *brokertest.Cluster) map[string][]byte {
	t.Helper()
	ends, err := kadm.NewClient(c.Client()).ListEndOffsets(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl := c.Client(kgo.ConsumeTopics("__consumer_offsets"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	out := map[string][]byte{}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading __consumer_offsets: %v (partitions left %v)", ctx.Err(), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[string(r.Key)] = r.Value
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	return out
}

// key848 is a KIP-848 record key as Kafka lays it out.
func key848(typ int16, parts ...string) string {
	b := binary.BigEndian.AppendUint16(nil, uint16(typ))
	for _, p := range parts {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return string(b)
}

// TestConsumerGroup848Records reads __consumer_offsets as a Kafka tool
// would and decodes the ConsumerGroup* records of a one-member group by
// Kafka's schemas: the group epoch (3), the member's subscription (5),
// its target (7), the target's epoch (6) and its current assignment (8)
// agree with what ConsumerGroupDescribe says; once the member leaves its
// records are tombstoned, so compaction removes them.
func TestConsumerGroup848Records(t *testing.T) {
	topic, g := "records-848", "g848-records"
	c := brokertest.Start(t, 1, options848())
	c.CreateTopic(topic, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client(kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(), kgo.ClientID("solo"))
	defer cl.Close()
	go func() {
		for ctx.Err() == nil {
			if cl.PollFetches(ctx).IsClientClosed() {
				return
			}
		}
	}()
	adm := kadm.NewClient(c.Client())
	describe848(t, ctx, adm, g, 1)
	dg, err := adm.DescribeConsumerGroups(ctx, g)
	if err != nil || dg[g].Err != nil {
		t.Fatal(err, dg[g].Err)
	}
	d := dg[g]
	member := d.Members[0]
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	id := tds[topic].ID
	wantParts := []string{fmt.Sprintf("%x:%v", id[:], []int32{0, 1, 2})}

	recs := offsetsRecords(t, ctx, c)
	value := func(key string, what string) *kafkaBytes {
		v, ok := recs[key]
		if !ok || v == nil {
			t.Fatalf("no %s record (present %v)", what, ok)
		}
		r := &kafkaBytes{t: t, b: v}
		if ver := r.i16(); ver != 0 {
			t.Fatalf("%s value version %d", what, ver)
		}
		return r
	}
	r := value(key848(3, g), "group metadata")
	if epoch := r.i32(); epoch != d.Epoch {
		t.Errorf("group epoch record %d, described %d", epoch, d.Epoch)
	}
	r = value(key848(5, g, member.MemberID), "member metadata")
	instance, rack, client, host := r.cstr(), r.cstr(), r.cstr(), r.cstr()
	var topics []string
	for n := r.uvarint() - 1; n > 0; n-- {
		topics = append(topics, r.cstr())
	}
	regex, rebalance, assignor := r.cstr(), r.i32(), r.cstr()
	r.skipTags()
	if instance != "<null>" || rack != "<null>" || client != "solo" || host != member.ClientHost || !slices.Equal(topics, []string{topic}) ||
		regex != "<null>" || rebalance <= 0 || assignor == "" || len(r.b) != 0 {
		t.Errorf("member metadata: instance %s rack %s client %s host %s topics %v regex %s rebalance %d assignor %s, %d bytes left",
			instance, rack, client, host, topics, regex, rebalance, assignor, len(r.b))
	}
	r = value(key848(7, g, member.MemberID), "target member")
	if got := r.partitions(); !slices.Equal(got, wantParts) {
		t.Errorf("target member %v, want %v", got, wantParts)
	}
	r = value(key848(6, g), "target metadata")
	if epoch := r.i32(); epoch != d.AssignmentEpoch {
		t.Errorf("target epoch %d, described %d", epoch, d.AssignmentEpoch)
	}
	r = value(key848(8, g, member.MemberID), "current assignment")
	epoch, _, state := r.i32(), r.i32(), r.take(1)[0]
	assigned, revoking := r.partitions(), r.partitions()
	r.skipTags()
	if epoch != member.MemberEpoch || state != 1 || !slices.Equal(assigned, wantParts) || len(revoking) != 0 || len(r.b) != 0 {
		t.Errorf("current assignment: epoch %d (described %d) state %d assigned %v revoking %v, %d bytes left",
			epoch, member.MemberEpoch, state, assigned, revoking, len(r.b))
	}

	cl.Close() // leaves the group (epoch -1)
	waitFor(t, "the group empty", func() bool {
		dg, err := adm.DescribeConsumerGroups(ctx, g)
		return err == nil && dg[g].Err == nil && dg[g].State == "Empty"
	})
	recs = offsetsRecords(t, ctx, c)
	for _, typ := range []int16{5, 7, 8} {
		if v, ok := recs[key848(typ, g, member.MemberID)]; !ok || v != nil {
			t.Errorf("record type %d of the member that left: present %v, value %x; want a tombstone", typ, ok, v)
		}
	}
	if recs[key848(3, g)] == nil {
		t.Error("the group's epoch record is gone while the group lives")
	}
}
