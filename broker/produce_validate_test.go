package broker_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/broker/recordbatch/recordbatchtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// record encodes one record body (attributes 0, no key, value v, no headers)
// with the given timestamp and offset deltas, prefixed with its length.
func record(tsDelta, offDelta int64, v string) []byte {
	var body []byte
	body = append(body, 0)
	body = binary.AppendVarint(body, tsDelta)
	body = binary.AppendVarint(body, offDelta)
	body = binary.AppendVarint(body, -1)
	body = binary.AppendVarint(body, int64(len(v)))
	body = append(body, v...)
	body = binary.AppendVarint(body, 0)
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

// TestProducePoisonBatchesRefused produces batches whose CRC is right but
// whose inside is wrong, over the Kafka port with raw requests. Each is
// refused with Kafka's error (CORRUPT_MESSAGE for what does not decompress,
// INVALID_RECORD for broken records, INVALID_TIMESTAMP, naming the records at
// fault from produce v8), nothing of it is stored, and the partition stays
// readable by franz-go: a good batch afterwards lands at offset 0.
func TestProducePoisonBatchesRefused(t *testing.T) {
	c := brokertest.StartBroker(t, brokertest.Options{})
	c.CreateTopic("poison", 1, nil)
	raw := newRawKafka(c)
	now := time.Now().UnixMilli()
	good := buildBatch(t, recordbatch.BuildOptions{}, now, "a", "b", "c")
	zstd := buildBatch(t, recordbatch.BuildOptions{Codec: recordbatch.CodecZstd}, now, "a", "b")
	setAttr := func(bits int16) func(h []byte) {
		return func(h []byte) {
			binary.BigEndian.PutUint16(h[hdrAttributes:], binary.BigEndian.Uint16(h[hdrAttributes:])|uint16(bits))
		}
	}
	count := func(n int32) func(h []byte) {
		return func(h []byte) {
			binary.BigEndian.PutUint32(h[hdrRecordCount:], uint32(n))
			binary.BigEndian.PutUint32(h[hdrLastOffDelta:], uint32(n-1))
		}
	}
	twoRecords := append(record(0, 0, "x"), record(0, 1, "y")...)
	cases := []struct {
		name    string
		version int16
		records []byte
		want    *kerr.Error
		indexes []int32 // records named at fault (v8+)
		message string
	}{
		{"gzip payload that does not decompress", 9, reframe(good, []byte("definitely not gzip, but a valid CRC"), setAttr(int16(recordbatch.CodecGzip))), kerr.CorruptMessage, nil, "gzip"},
		{"zstd payload that does not decompress", 9, reframe(zstd, bytes.Repeat([]byte{0xfd}, 40), nil), kerr.CorruptMessage, nil, "zstd"},
		{"broken record varint", 9, reframe(good, append(record(0, 0, "x"), 0x0c, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0), count(2)), kerr.InvalidRecord, []int32{1}, "record 1"},
		{"record length past the batch", 9, reframe(good, append(binary.AppendVarint(nil, 90), record(0, 0, "x")...), count(1)), kerr.InvalidRecord, []int32{0}, "length 90"},
		{"count above the records", 9, reframe(good, twoRecords, count(3)), kerr.InvalidRecord, nil, "record count 3"},
		{"count below the records", 9, reframe(good, twoRecords, count(1)), kerr.InvalidRecord, nil, "follow the last of 1 records"},
		{"duplicate offset deltas", 9, reframe(good, append(record(0, 0, "x"), record(0, 0, "y")...), count(2)), kerr.InvalidRecord, []int32{1}, "offset delta 0"},
		{"decreasing offset deltas", 9, reframe(good, append(record(0, 1, "x"), record(0, 0, "y")...), count(2)), kerr.InvalidRecord, []int32{0}, "offset delta 1"},
		{"count and last offset delta disagree", 9, reframe(good, twoRecords, func(h []byte) { count(2)(h); binary.BigEndian.PutUint32(h[hdrLastOffDelta:], 7) }), kerr.InvalidRecord, nil, "lastOffsetDelta 7"},
		{"timestamps two hours ahead", 9, reframe(good, append(record(0, 0, "x"), record(2*time.Hour.Milliseconds(), 1, "y")...), count(2)), kerr.InvalidTimestamp, []int32{1}, "outside"},
		{"log append time set by the producer", 9, reframe(good, twoRecords, func(h []byte) { count(2)(h); setAttr(recordbatch.AttrLogAppendTime)(h) }), kerr.InvalidTimestamp, []int32{0, 1}, "LogAppendTime"},
		{"control batch", 9, reframe(good, twoRecords, func(h []byte) { count(2)(h); setAttr(recordbatch.AttrControl)(h) }), kerr.InvalidRecord, nil, "control batch"},
		{"two batches", 9, append(slices.Clone(good), good...), kerr.InvalidRecord, nil, "exactly one record batch"},
		{"no batch", 9, []byte{}, kerr.InvalidRecord, nil, "exactly one record batch"},
		{"magic 1", 9, reframe(good, twoRecords, func(h []byte) { count(2)(h); h[hdrMagic] = 1 }), kerr.InvalidRecord, nil, "magic"},
		{"zstd before produce v7", 6, zstd, kerr.UnsupportedCompressionType, nil, "v7"},
		{"per-record errors need v8", 7, reframe(good, append(record(0, 0, "x"), record(0, 0, "y")...), count(2)), kerr.InvalidRecord, nil, ""},
		{"transactional batch", 9, reframe(good, twoRecords, func(h []byte) { count(2)(h); setAttr(recordbatch.AttrTransactional)(h) }), kerr.UnsupportedVersion, nil, "transactions are not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rp := raw.produce(t, tc.version, "poison", 0, tc.records)
			if rp.ErrorCode != tc.want.Code {
				t.Fatalf("error %v (%s), want %v", kerr.ErrorForCode(rp.ErrorCode), msgOf(rp.ErrorMessage), tc.want)
			}
			if tc.version >= 8 && tc.message != "" && !strings.Contains(msgOf(rp.ErrorMessage), tc.message) {
				t.Errorf("message %q does not mention %q", msgOf(rp.ErrorMessage), tc.message)
			}
			var got []int32
			for _, er := range rp.ErrorRecords {
				got = append(got, er.RelativeOffset)
				if msgOf(er.ErrorMessage) == "" {
					t.Errorf("record %d named without a message", er.RelativeOffset)
				}
			}
			if !slices.Equal(got, tc.indexes) {
				t.Errorf("records at fault %v, want %v", got, tc.indexes)
			}
			if end := logEnd(t, c.Broker, "poison", 0); end != 0 {
				t.Fatalf("log end %d after a refused batch, want 0", end)
			}
		})
	}

	// The partition is intact: the next good batch is offset 0, and a
	// franz-go consumer reads exactly it.
	if rp := raw.produce(t, 9, "poison", 0, good); rp.ErrorCode != 0 || rp.BaseOffset != 0 {
		t.Fatalf("good batch after the poison: %v at %d", kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset)
	}
	consumer := c.Client(kgo.ConsumeTopics("poison"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var values []string
	for len(values) < 3 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	if !slices.Equal(values, []string{"a", "b", "c"}) {
		t.Fatalf("consumed %q", values)
	}
}

// TestProduceMaxTimestampStamped sends a batch whose header claims a max
// timestamp its records do not have: it is stored with its records' real
// max, as Kafka's LogValidator does, so time lookups and retention see the
// truth.
func TestProduceMaxTimestampStamped(t *testing.T) {
	c := brokertest.StartBroker(t, brokertest.Options{})
	c.CreateTopic("stamped", 1, nil)
	raw := newRawKafka(c)
	now := time.Now().UnixMilli()
	recs := []recordbatch.Record{{Value: []byte("a"), Timestamp: now - 50}, {Value: []byte("b"), Timestamp: now - 10}, {Value: []byte("c"), Timestamp: now - 30}}
	for _, codec := range []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecLZ4} {
		batch, err := recordbatch.Build(recordbatch.BuildOptions{Codec: codec}, recs)
		if err != nil {
			t.Fatal(err)
		}
		lying := reframe(batch, batch[recordbatch.HeaderSize:], func(h []byte) {
			binary.BigEndian.PutUint64(h[hdrMaxTimestamp:], uint64(now+time.Hour.Milliseconds()/2))
		})
		rp := raw.produce(t, 9, "stamped", 0, lying)
		if rp.ErrorCode != 0 || rp.LogAppendTime != -1 {
			t.Fatalf("%s: %v, log append time %d", codec, kerr.ErrorForCode(rp.ErrorCode), rp.LogAppendTime)
		}
		fp := raw.fetch(t, "stamped", 0, rp.BaseOffset, 1<<20)
		h, err := recordbatch.ParseHeader(fp.RecordBatches)
		if err != nil {
			t.Fatal(err)
		}
		stored := fp.RecordBatches[:h.Size()]
		if _, err := recordbatch.Validate(stored, 0); err != nil || h.MaxTimestamp != now-10 || h.TimestampType() != recordbatch.TimestampCreate {
			t.Fatalf("%s: stored max timestamp %d (%v), want %d: %v", codec, h.MaxTimestamp, h.TimestampType(), now-10, err)
		}
		got, err := recordbatchtest.FranzGoDecode(stored, rp.BaseOffset)
		if err != nil || len(got) != 3 || got[1].Timestamp.UnixMilli() != now-10 {
			t.Fatalf("%s: franz-go reads %d records: %v", codec, len(got), err)
		}
	}
}

// TestProduceTimestampTopicConfigs checks message.timestamp.type and the
// KIP-937 window as topic configs: a LogAppendTime topic stamps the broker's
// clock into the batch (and answers it), whatever the producer's timestamps;
// message.timestamp.before.max.ms refuses records older than it allows.
func TestProduceTimestampTopicConfigs(t *testing.T) {
	c := brokertest.StartBroker(t, brokertest.Options{})
	lat, minute := "LogAppendTime", "60000"
	c.CreateTopic("appended", 1, map[string]*string{"message.timestamp.type": &lat})
	c.CreateTopic("recent", 1, map[string]*string{"message.timestamp.before.max.ms": &minute})
	raw := newRawKafka(c)

	before := time.Now().UnixMilli()
	batch := buildBatch(t, recordbatch.BuildOptions{Codec: recordbatch.CodecSnappy}, before+10*time.Hour.Milliseconds(), "x", "y")
	rp := raw.produce(t, 9, "appended", 0, batch)
	after := time.Now().UnixMilli()
	if rp.ErrorCode != 0 || rp.LogAppendTime < before || rp.LogAppendTime > after {
		t.Fatalf("LogAppendTime topic: %v, log append time %d not in [%d, %d]", kerr.ErrorForCode(rp.ErrorCode), rp.LogAppendTime, before, after)
	}
	fp := raw.fetch(t, "appended", 0, 0, 1<<20)
	got, err := recordbatchtest.FranzGoDecode(fp.RecordBatches, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("franz-go reads %d records: %v", len(got), err)
	}
	for _, r := range got {
		if r.Timestamp.UnixMilli() != rp.LogAppendTime || r.Attrs.TimestampType() != 1 {
			t.Fatalf("record timestamp %d type %d, want the log append time %d", r.Timestamp.UnixMilli(), r.Attrs.TimestampType(), rp.LogAppendTime)
		}
	}

	old := buildBatch(t, recordbatch.BuildOptions{}, time.Now().Add(-time.Hour).UnixMilli(), "old")
	if rp := raw.produce(t, 9, "recent", 0, old); rp.ErrorCode != kerr.InvalidTimestamp.Code || len(rp.ErrorRecords) != 1 {
		t.Fatalf("hour-old record on a one-minute topic: %v with %d record errors", kerr.ErrorForCode(rp.ErrorCode), len(rp.ErrorRecords))
	}
	fresh := buildBatch(t, recordbatch.BuildOptions{}, time.Now().UnixMilli(), "fresh")
	if rp := raw.produce(t, 9, "recent", 0, fresh); rp.ErrorCode != 0 || rp.BaseOffset != 0 {
		t.Fatalf("fresh record: %v at %d", kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset)
	}

	// DescribeConfigs reports them, with Kafka's defaults.
	cfgs := describeTopicConfigs(t, c.Admin(), "recent")
	for name, want := range map[string]string{
		"message.timestamp.type":          "CreateTime",
		"message.timestamp.before.max.ms": "60000",
		"message.timestamp.after.max.ms":  "3600000",
	} {
		if v := cfgs[name].Value; v == nil || *v != want {
			t.Errorf("%s = %v, want %s", name, cfgs[name].Value, want)
		}
	}
}
