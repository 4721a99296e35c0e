package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/storetest"
)

// TestDevTiersToDir runs "runnel dev --tier-dir" with a tiered topic whose
// local retention holds a few segments, produces many segments, SIGKILLs
// the process while it uploads and restarts it. Afterwards the local log
// holds only the last segments, the store holds the rest (each uploaded
// copy complete and identical to any other copy of its range), and every
// record produced is found exactly once at its offset: below the local log
// start in the store, above it in the log.
func TestDevTiersToDir(t *testing.T) {
	dataDir, tierDir := t.TempDir(), t.TempDir()
	flags := []string{"--tier-dir", tierDir, "--retention-check-interval", "100ms", "--log-level", "info"}
	dev := startDev(t, dataDir, flags...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("runnel dev stderr:\n%s", dev.output())
		}
	})
	ctx := context.Background()
	const topic, segBytes, localBytes = "tiered", 65536, 200000
	cl := devKafkaClient(t, dev)
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"segment.bytes": kadmString(fmt.Sprint(segBytes)), "remote.storage.enable": kadmString("true"),
		"local.retention.bytes": kadmString(fmt.Sprint(localBytes)),
	}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v %s", err, resp.Err, resp.ErrMessage)
	}
	var want []string
	produce := func(cl *kgo.Client, n int) {
		t.Helper()
		recs := make([]*kgo.Record, 0, 100)
		for i := 0; i < n; i++ {
			v := fmt.Sprintf("%08d-%s", len(want), strings.Repeat("x", 1000))
			want = append(want, v)
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
			if len(recs) == cap(recs) || i == n-1 {
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
				recs = recs[:0]
			}
		}
	}
	produce(cl, 3000) // ~3 MB: ~45 segments
	store, err := tiering.OpenDir(tierDir)
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 60*time.Second, 5*time.Millisecond, func() error {
		if n := len(uploadedLogs(t, store)); n < 3 {
			return fmt.Errorf("%d segment logs uploaded", n)
		}
		return nil
	})
	dev.kill() // uploads of the other ~40 segments are under way
	killed := dev
	cl.Close()

	dev = startDev(t, dataDir, flags...)
	cl = devKafkaClient(t, dev)
	produce(cl, 1000)
	partDir := filepath.Join(dataDir, topic+"-0")
	var localStart int64
	testwait.For(t, 120*time.Second, 50*time.Millisecond, func() error {
		size, logs, first := localLogBytes(t, partDir)
		if size > localBytes+2*segBytes {
			return fmt.Errorf("local log holds %d bytes in %d segments", size, logs)
		}
		if first <= 0 {
			return fmt.Errorf("local log starts at %d", first)
		}
		// The partition's log start is the remote start: offset 0 is
		// still served, from the store.
		starts, err := kadm.NewClient(cl).ListStartOffsets(ctx, topic)
		if err != nil {
			return err
		}
		if o, _ := starts.Lookup(topic, 0); o.Err != nil || o.Offset != 0 {
			return fmt.Errorf("log start %d (%v), want 0 (the remote start)", o.Offset, o.Err)
		}
		localStart = first
		return nil
	})

	// Every offset below the local log start is in the store, each range's
	// copies identical; every copy whose log exists is complete.
	remote := map[int64]string{}
	copies := map[int64][]byte{}
	orphans := 0
	for prefix, logKey := range uploadedLogs(t, store) {
		for _, f := range tiering.SegmentFiles {
			if _, err := store.Stat(ctx, tiering.SegmentObject(prefix, f)); err != nil {
				t.Fatalf("segment %s has its log but not %s: %v", prefix, f, err)
			}
		}
		k, _, err := tiering.ParseSegmentKey("", strings.SplitN(prefix, "/", 3)[2])
		if err != nil {
			t.Fatal(err)
		}
		data := storetest.ReadAll(t, store, logKey)
		if prev, ok := copies[k.BaseOffset]; ok {
			orphans++
			if string(prev) != string(data) {
				t.Fatalf("two copies of the segment at %d differ", k.BaseOffset)
			}
			continue
		}
		copies[k.BaseOffset] = data
		for rest := data; len(rest) > 0; {
			batch, next, err := recordbatch.Next(rest)
			if err != nil {
				t.Fatalf("segment %s: %v", prefix, err)
			}
			recs, err := recordbatch.DecodeRecords(nil, batch, recordbatch.DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				remote[r.Offset] = string(r.Value)
			}
			rest = next
		}
	}
	t.Logf("local log start %d; %d uploaded ranges, %d extra copies left by the kill; %d records remote", localStart, len(copies), orphans, len(remote))
	// The segments both processes logged as recorded: one record per
	// range, none overlapping another. (A record the killed process
	// committed but had not logged yet is missing here; the read below
	// checks in the objects that every offset is remote.)
	recorded := recordedSegments(t, killed.output()+dev.output())
	if len(recorded) == 0 {
		t.Fatal("no segment recorded")
	}
	for i := 1; i < len(recorded); i++ {
		if recorded[i].base <= recorded[i-1].end {
			t.Fatalf("recorded segments %+v and %+v overlap", recorded[i-1], recorded[i])
		}
	}
	// A consumer from the start reads every record, those below the local
	// log start from the store, the rest from the local log.
	cons := devKafkaClient(t, dev, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	next := int64(0)
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for next < int64(len(want)) {
		fs := cons.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			t.Fatalf("read back: at %d of %d: %v", next, len(want), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next || string(r.Value) != want[next] {
				t.Fatalf("offset %d: got offset %d %.12q, want %.12q", next, r.Offset, r.Value, want[next])
			}
			next++
		})
	}
}

// devKafkaClient is a franz-go client of a "runnel dev" process, closed at
// the end of the test.
func devKafkaClient(t *testing.T, dev *devProc, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(dev.kafka), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func kadmString(s string) *string { return &s }

// uploadedLogs returns the segment.log objects of a store, by segment
// prefix.
func uploadedLogs(t *testing.T, store tiering.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := store.List(context.Background(), "", func(o tiering.ObjectInfo) error {
		if prefix, ok := strings.CutSuffix(o.Key, "/"+tiering.SegmentLogFile); ok {
			out[prefix] = o.Key
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// localLogBytes sums the .log files of a partition directory and gives
// the base offset of its first segment (-1 when it has none).
func localLogBytes(t *testing.T, dir string) (size int64, logs int, first int64) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	first = -1
	for _, e := range ents {
		base, suffix, ok := commitlog.ParseSegmentFileName(e.Name())
		if !ok || suffix != commitlog.LogFileSuffix {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // deleted meanwhile
		}
		size += info.Size()
		logs++
		if first < 0 || base < first {
			first = base
		}
	}
	return size, logs, first
}

// recordedSegment is one "uploaded segment" a broker logged: recorded in
// the metadata.
type recordedSegment struct {
	base, end int64
	key       string
}

var uploadedLine = regexp.MustCompile(`msg="uploaded segment" .*base_offset=(\d+) end_offset=(\d+) .*key=(\S+)`)

// recordedSegments reads the segments a broker's log says it recorded, by
// base offset; a range recorded under two keys fails the test.
func recordedSegments(t *testing.T, stderr string) []recordedSegment {
	t.Helper()
	byBase := map[int64]recordedSegment{}
	for _, m := range uploadedLine.FindAllStringSubmatch(stderr, -1) {
		base, _ := strconv.ParseInt(m[1], 10, 64)
		end, _ := strconv.ParseInt(m[2], 10, 64)
		s := recordedSegment{base, end, m[3]}
		if prev, ok := byBase[base]; ok && prev != s {
			t.Fatalf("the range at %d was recorded twice: %+v and %+v", base, prev, s)
		}
		byBase[base] = s
	}
	out := slices.Collect(maps.Values(byBase))
	slices.SortFunc(out, func(a, b recordedSegment) int { return cmp.Compare(a.base, b.base) })
	return out
}
