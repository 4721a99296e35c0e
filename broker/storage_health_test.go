package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testfs"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// fetchPartition sends one Fetch for partition 0 of topic at offset and
// returns the partition's answer.
func fetchPartition(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, topic string, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 10, 64<<10
	ft := kmsg.NewFetchRequestTopic()
	mt, ok := c.Nodes[0].Member.Image().Topic(topic)
	if !ok { // the restarted broker's image has not caught up yet
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return rp
	}
	ft.Topic, ft.TopicID = topic, mt.ID // the client picks the version: name or id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 0, offset, 64<<10, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch at %d: %v", offset, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch at %d: %d topics in the answer", offset, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// unreadableTag returns the range a fetch answer's tagged field names.
func unreadableTag(t *testing.T, rp kmsg.FetchResponseTopicPartition) (kafkaext.UnreadableRange, bool) {
	t.Helper()
	var r kafkaext.UnreadableRange
	found := false
	rp.UnknownTags.Each(func(tag uint32, v []byte) {
		if tag != kafkaext.UnreadableRangeTag {
			return
		}
		var err error
		if r, err = kafkaext.ParseUnreadableRange(v); err != nil {
			t.Fatalf("tagged field: %v", err)
		}
		found = true
	})
	return r, found
}

// valuesIn decodes the records of a fetch answer at and after offset.
func valuesIn(t *testing.T, batches []byte, offset int64) (map[int64]string, int64) {
	t.Helper()
	out := map[int64]string{}
	next := offset
	for rest := batches; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			t.Fatalf("fetch answer holds a bad batch: %v", err)
		}
		if _, err := recordbatch.Validate(b, 0); err != nil {
			t.Fatalf("fetch answer holds a batch that does not validate: %v", err)
		}
		it, err := recordbatch.Records(b, recordbatch.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			rec, err := it.Next()
			if err != nil {
				break
			}
			if rec.Offset >= offset {
				out[rec.Offset] = string(rec.Value)
				next = rec.Offset + 1
			}
		}
		rest = r
	}
	return out, next
}

// logFiles lists the .log files of a partition directory with their sizes.
func logFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			info, _ := e.Info()
			m[e.Name()] = info.Size()
		}
	}
	return m
}

// TestFetchAnswersCorruptMessageForUnreadableRange damages a sealed segment
// of a topic while its broker is stopped cleanly: after the restart every
// readable record is fetched, the damaged offsets are answered at once with
// CORRUPT_MESSAGE (and, from Fetch v12, the tagged field naming the range,
// which the gateway reads), a franz-go consumer reads on from the range's
// end, ListOffsets by timestamp passes over it, the broker lists it, and no
// segment file is deleted or changed.
func TestFetchAnswersCorruptMessageForUnreadableRange(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	seg := "4096"
	c.CreateTopic("damaged", 1, map[string]*string{"segment.bytes": &seg})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("damaged"), kgo.ProducerLinger(0))
	start := time.UnixMilli(1_700_000_000_000)
	const n = 400
	for i := 0; i < n; i += 4 {
		var recs []*kgo.Record
		for j := i; j < i+4; j++ {
			recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf("value-%04d-%s", j, strings.Repeat("x", 60))), Timestamp: start.Add(time.Duration(j) * time.Second)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.Stop(0)
	dir := filepath.Join(c.DataDir(0), "damaged-0")
	logs := logFiles(t, dir)
	var names []string
	for name := range logs {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) < 4 {
		t.Fatalf("want several segments, got %v", names)
	}
	var base int64
	fmt.Sscanf(names[2], "%d.log", &base)
	// Garbage over the second batch's header: the offsets from it to the
	// next segment are lost, the ones before and after are not.
	path := filepath.Join(dir, names[2])
	data, _ := os.ReadFile(path)
	first, _, _ := recordbatch.Next(data)
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte{0x7e}, 30), int64(len(first)))
	f.Close()
	var nextBase int64
	fmt.Sscanf(names[3], "%d.log", &nextBase)
	// franz-go may split a ProduceSync into batches: the lost range starts
	// after the first batch, whatever its size.
	fh, err := recordbatch.ParseHeader(first)
	if err != nil {
		t.Fatal(err)
	}
	from := base + int64(fh.LastOffsetDelta) + 1
	c.Restart(0)

	cl = c.Client()
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if rp := fetchPartition(t, c, cl, "damaged", 0); rp.ErrorCode != 0 {
			return kerr.ErrorForCode(rp.ErrorCode)
		}
		return nil
	})
	got := map[int64]string{}
	var ranges []kafkaext.UnreadableRange
	for off := int64(0); off < n; {
		rp := fetchPartition(t, c, cl, "damaged", off)
		if rp.ErrorCode == kerr.CorruptMessage.Code {
			r, ok := unreadableTag(t, rp)
			if !ok {
				t.Fatalf("CORRUPT_MESSAGE at %d without the unreadable range", off)
			}
			ranges = append(ranges, r)
			off = r.To
			continue
		}
		if rp.ErrorCode != 0 {
			t.Fatalf("fetch at %d: %v", off, kerr.ErrorForCode(rp.ErrorCode))
		}
		vals, next := valuesIn(t, rp.RecordBatches, off)
		if next == off {
			t.Fatalf("fetch at %d made no progress", off)
		}
		for o, v := range vals {
			got[o] = v
		}
		off = next
	}
	if len(ranges) != 1 || ranges[0].From != from || ranges[0].To != nextBase {
		t.Fatalf("unreadable ranges %+v, want offsets %d to %d", ranges, from, nextBase)
	}
	for o := int64(0); o < n; o++ {
		want := fmt.Sprintf("value-%04d-%s", o, strings.Repeat("x", 60))
		if o >= from && o < nextBase {
			if _, ok := got[o]; ok {
				t.Fatalf("offset %d in the unreadable range was served", o)
			}
			continue
		}
		if got[o] != want {
			t.Fatalf("offset %d: %q, want %q", o, got[o], want)
		}
	}
	if listed := c.Nodes[0].Broker.UnreadableRanges(); len(listed) != 1 || listed[0].From != from || listed[0].To != nextBase ||
		listed[0].Partition != (commitlog.TopicPartition{Topic: "damaged", Partition: 0}) || listed[0].Segment != path {
		t.Fatalf("broker lists %+v", listed)
	}
	if v := gaugeValue(t, c.Metrics(0), "runnel_log_unreadable_offsets"); v != float64(nextBase-from) {
		t.Fatalf("runnel_log_unreadable_offsets %v, want %d", v, nextBase-from)
	}

	// Before Fetch v12 there is no tagged field: the error code alone.
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(kmsg.Fetch.Int16(), 11)
	old := c.Client(kgo.MaxVersions(vs))
	if rp := fetchPartition(t, c, old, "damaged", from+1); rp.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("fetch v11 in the range: %v", kerr.ErrorForCode(rp.ErrorCode))
	} else if _, ok := unreadableTag(t, rp); ok {
		t.Fatal("fetch v11 answer carries a tagged field")
	}

	// A franz-go consumer placed at the range's end reads on to the end.
	consumer := c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"damaged": {0: kgo.NewOffset().At(nextBase)}}))
	for read := nextBase; read < n; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after the range: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != read || string(r.Value) != got[r.Offset] {
				t.Fatalf("consumed offset %d %q, want %d", r.Offset, r.Value, read)
			}
			read++
		})
	}
	// A franz-go consumer that keeps retriable errors sees CORRUPT_MESSAGE
	// at the range, answered at once rather than after a long poll.
	stuck := c.Client(kgo.KeepRetryableFetchErrors(), kgo.FetchMaxWait(5*time.Second),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"damaged": {0: kgo.NewOffset().At(from)}}))
	began := time.Now()
	if err := stuck.PollFetches(ctx).Err0(); !errors.Is(err, kerr.CorruptMessage) {
		t.Fatalf("consumer at the range: %v, want CORRUPT_MESSAGE", err)
	}
	if d := time.Since(began); d > 4*time.Second {
		t.Fatalf("CORRUPT_MESSAGE took %v: answered after a long poll", d)
	}

	// ListOffsets by timestamp: a time inside the range finds the first
	// readable record after it.
	lo, err := c.Admin().ListOffsetsAfterMilli(ctx, start.Add(time.Duration(from+2)*time.Second).UnixMilli(), "damaged")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := lo.Lookup("damaged", 0); !ok || o.Err != nil || o.Offset != nextBase {
		t.Fatalf("offset for a time in the range: %+v, want %d", o, nextBase)
	}
	after := logFiles(t, dir)
	for name, size := range logs {
		if after[name] != size {
			t.Errorf("%s: %d bytes after the restart, was %d", name, after[name], size)
		}
	}
}

// TestProduceOnFullDiskRecovers fills the disk under a partition for real (a
// tmpfs mounted at its directory): produce requests get KAFKA_STORAGE_ERROR
// at once, the broker reports the partition in StorageError and its
// metrics, and once space is freed the partition takes writes again without
// a restart. Every acknowledged record is read back; no other.
func TestProduceOnFullDiskRecovers(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	dir := filepath.Join(c.DataDir(0), "full-0")
	testfs.MountTmpfs(t, dir, "2m")
	t.Cleanup(c.Close) // before the unmount
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 512<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	seg := "262144"
	c.CreateTopic("full", 1, map[string]*string{"segment.bytes": &seg})
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(i int) int16 {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "full"
		rp := kmsg.NewProduceRequestTopicPartition()
		var recs []recordbatch.Record
		for j := 0; j < 8; j++ {
			recs = append(recs, recordbatch.Record{Value: []byte(fmt.Sprintf("%06d-%02d-%s", i, j, strings.Repeat("z", 2000)))})
		}
		b, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
		if err != nil {
			t.Fatal(err)
		}
		rp.Records = b
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	acked := map[string]bool{}
	ack := func(i int) {
		for j := 0; j < 8; j++ {
			acked[fmt.Sprintf("%06d-%02d", i, j)] = true
		}
	}
	i := 0
	for ; i < 2000; i++ {
		code := produce(i)
		if code == kerr.KafkaStorageError.Code {
			break
		}
		if code != 0 {
			t.Fatalf("produce %d: %v", i, kerr.ErrorForCode(code))
		}
		ack(i)
	}
	if i == 2000 {
		t.Fatal("the disk never filled")
	}
	b := c.Nodes[0].Broker
	if err := b.StorageError(); !errors.Is(err, broker.ErrStorage) || !strings.Contains(err.Error(), "full-0") {
		t.Fatalf("StorageError on a full disk: %v", err)
	}
	if v := gaugeValue(t, c.Metrics(0), "runnel_log_partitions_storage_error"); v != 1 {
		t.Fatalf("runnel_log_partitions_storage_error %v, want 1", v)
	}
	if err := b.Ready(ctx); !errors.Is(err, broker.ErrNotReady) || !strings.Contains(err.Error(), "full-0") {
		t.Fatalf("Ready on a full disk: %v", err)
	}
	began := time.Now()
	if code := produce(i + 1); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce on a full disk: %v", kerr.ErrorForCode(code))
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("KAFKA_STORAGE_ERROR took %v", d)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	i += 2
	testwait.For(t, 15*time.Second, 50*time.Millisecond, func() error {
		if err := b.StorageError(); err != nil {
			return err
		}
		return b.Ready(ctx)
	})
	for end := i + 5; i < end; i++ {
		if code := produce(i); code != 0 {
			t.Fatalf("produce after space was freed: %v", kerr.ErrorForCode(code))
		}
		ack(i)
	}
	if v := gaugeValue(t, c.Metrics(0), "runnel_log_partitions_storage_error"); v != 0 {
		t.Fatalf("runnel_log_partitions_storage_error %v after recovery", v)
	}
	if v := gaugeValue(t, c.Metrics(0), "runnel_log_storage_errors_total"); v < 1 {
		t.Fatalf("runnel_log_storage_errors_total %v", v)
	}

	consumer := c.Client(kgo.ConsumeTopics("full"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < len(acked) {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v (read %d of %d)", err, len(seen), len(acked))
		}
		fs.EachRecord(func(r *kgo.Record) {
			key := string(r.Value[:9])
			if !acked[key] || seen[key] {
				t.Fatalf("record %s read but not acknowledged, or read twice", key)
			}
			seen[key] = true
		})
	}
}

// gaugeValue sums the samples of a metric family in reg.
func gaugeValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mf := familyOf(t, reg, name)
	if mf == nil {
		t.Fatalf("no metric %s", name)
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		sum += metricValue(m)
	}
	return sum
}

// familyOf returns the metric family name of reg, nil if it has none.
func familyOf(t testing.TB, reg *prometheus.Registry, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return 0
}
