package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/tiering"
)

// TestTierCommandsWithoutTiering runs "runnel tier" against a real
// "runnel dev --metrics" that has no object store: ls answers from the
// metadata, verify and an unknown topic fail with one line and exit 1.
func TestTierCommandsWithoutTiering(t *testing.T) {
	ops := freePort(t)
	dev := startDev(t, t.TempDir(), "--metrics", ops)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dev.do(ctx, http.MethodPost, "/v1/topics", map[string]any{"name": "plain", "partitions": 2}, nil); err != nil {
		t.Fatal(err)
	}
	r := runnel(t, nil, "tier", "ls", "plain", "--broker-http", ops, "--json")
	if r.code != 0 {
		t.Fatalf("tier ls: exit %d: %s", r.code, r.stderr)
	}
	var l broker.TierListing
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("tier ls --json: %v: %s", err, r.stdout)
	}
	if l.Topic != "plain" || len(l.Partitions) != 2 || l.Total.Segments != 0 || len(l.Segments) != 0 {
		t.Fatalf("tier ls of a topic without remote data: %+v", l)
	}
	r = runnel(t, nil, "tier", "ls", "plain", "--broker-http", ops)
	if r.code != 0 || !strings.Contains(r.stdout, "PARTITION") || !strings.Contains(r.stdout, "total") {
		t.Fatalf("tier ls table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tier", "ls", "nope", "--broker-http", ops}, "(unknown_topic)"},
		{[]string{"tier", "verify", "--broker-http", ops}, "(tiering_off)"},
	} {
		r := runnel(t, nil, tc.args...)
		if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, tc.want) {
			t.Fatalf("%v: exit %d, stderr %q, want one line with %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// The operator address still serves the metrics.
	resp, err := http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics on the operator address: %s", resp.Status)
	}
}

// TestTierRemoteDataLifecycle runs "runnel dev --tier-dir --metrics" with a
// tiered topic whose local copy is one segment, and follows its remote
// data: retention.bytes deletes the oldest remote segments (record and
// objects), DeleteRecords inside the remote range moves the remote start
// and deletes the segments below it, "runnel tier verify" finds a damaged
// object, a missing one and an orphan (exit 1), and deleting the topic
// deletes every object it had.
func TestTierRemoteDataLifecycle(t *testing.T) {
	if help := runnel(t, nil, "dev", "--help"); !strings.Contains(help.stdout+help.stderr, "-tier-dir") {
		t.Skip("runnel dev has no --tier-dir: the upload path is not in this build")
	}
	dataDir, tierDir, ops := t.TempDir(), t.TempDir(), freePort(t)
	dev := startDev(t, dataDir, "--tier-dir", tierDir, "--metrics", ops, "--retention-check-interval", "100ms")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Uncompressed, so that the 16 KiB segments roll every other batch.
	cl, err := kgo.NewClient(kgo.SeedBrokers(dev.kafka), kgo.DefaultProduceTopic("tiered"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	str := func(s string) *string { return &s }
	cr, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"segment.bytes": str("16384"), "remote.storage.enable": str("true"), "local.retention.bytes": str("1"),
	}, "tiered")
	if err != nil || cr.Err != nil {
		t.Fatalf("create topic: %v %v %s", err, cr.Err, cr.ErrMessage)
	}
	for i := range 40 {
		recs := make([]*kgo.Record, 10)
		for j := range recs {
			recs[j] = &kgo.Record{Value: []byte(fmt.Sprintf("%05d-%s", i*10+j, strings.Repeat("r", 1000)))}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	store, err := tiering.OpenDir(tierDir)
	if err != nil {
		t.Fatal(err)
	}
	ls := func() broker.TierListing {
		t.Helper()
		r := runnel(t, nil, "tier", "ls", "tiered", "--broker-http", ops, "--json")
		if r.code != 0 {
			t.Fatalf("tier ls: exit %d: %s", r.code, r.stderr)
		}
		var l broker.TierListing
		if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
			t.Fatalf("tier ls: %v: %s", err, r.stdout)
		}
		return l
	}
	objectsOf := func(key string) int {
		t.Helper()
		n := 0
		if err := store.List(ctx, key+"/", func(tiering.ObjectInfo) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var l broker.TierListing
	// Every rolled segment is uploaded once the local log is down to its
	// active segment (local retention deletes only uploaded ones).
	testwait.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		logs, err := filepath.Glob(filepath.Join(dataDir, "tiered-0", "*.log"))
		if err != nil {
			return err
		}
		if l = ls(); l.Total.Segments < 10 || len(logs) != 1 {
			return fmt.Errorf("%d segments uploaded, %d local", l.Total.Segments, len(logs))
		}
		return nil
	})

	// retention.bytes (the whole log's bound) below the remote total: the
	// oldest remote segments go, records and objects.
	before := l
	bound := before.Total.Bytes / 2
	alter := func(key, value string) {
		t.Helper()
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, "tiered")
		if err == nil {
			_, err = resp.On("tiered", nil)
		}
		if err != nil {
			t.Fatalf("set %s=%s: %v", key, value, err)
		}
	}
	alter("retention.bytes", strconv.FormatInt(bound, 10))
	testwait.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		if l = ls(); l.Total.Bytes > bound || len(l.Segments) == 0 || l.Segments[0].BaseOffset == before.Segments[0].BaseOffset {
			return fmt.Errorf("remote: %d segments, %d bytes (bound %d)", l.Total.Segments, l.Total.Bytes, bound)
		}
		return nil
	})
	alter("retention.bytes", "-1")
	for _, s := range before.Segments {
		if s.EndOffset < l.Segments[0].BaseOffset {
			if n := objectsOf(s.Key); n != 0 {
				t.Fatalf("segment [%d,%d] deleted by retention still has %d objects", s.BaseOffset, s.EndOffset, n)
			}
		}
	}

	// DeleteRecords inside the second remote segment.
	first, second := l.Segments[0], l.Segments[1]
	target := second.BaseOffset + 1
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"tiered": {0: kadm.Offset{At: target}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := dr.Lookup("tiered", 0); !ok || got.Err != nil || got.LowWatermark != target {
		t.Fatalf("delete records before %d: %+v", target, got)
	}
	testwait.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		l = ls()
		if l.Segments[0].Key != second.Key || l.Partitions[0].RemoteStart == nil || *l.Partitions[0].RemoteStart != target {
			return fmt.Errorf("after delete records before %d: first segment [%d,%d], partition %+v", target, l.Segments[0].BaseOffset, l.Segments[0].EndOffset, l.Partitions[0])
		}
		if n := objectsOf(first.Key); n != 0 {
			return fmt.Errorf("segment below the new start has %d objects", n)
		}
		return nil
	})

	// verify: sound, then a flipped byte, a deleted object and an orphan.
	if r := runnel(t, nil, "tier", "verify", "--broker-http", ops); r.code != 0 {
		t.Fatalf("verify of a sound store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	damaged := tiering.SegmentObject(l.Segments[0].Key, tiering.SegmentLogFile)
	path, err := store.Path(damaged)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-10] ^= 0x01 // past the 32-byte header (tiering/dirstore_format.go)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := tiering.SegmentObject(l.Segments[1].Key, tiering.SegmentIndexFile)
	if path, err = store.Path(missing); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	k, _, err := tiering.ParseSegmentKey(strings.TrimSuffix(l.Segments[0].Key[:strings.Index(l.Segments[0].Key, l.TopicID)], "/"), l.Segments[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	orphan := tiering.NewSegmentKey(k.ClusterPrefix, k.TopicID, 0, 1<<40, k.LeaderEpoch).Object(tiering.SegmentLogFile)
	if _, err := store.Put(ctx, orphan, bytes.NewReader([]byte("orphan")), 6); err != nil {
		t.Fatal(err)
	}
	r := runnel(t, nil, "tier", "verify", "--broker-http", ops, "--json")
	if r.code != 1 || !strings.Contains(r.stderr, "problems") {
		t.Fatalf("verify of a damaged store: exit %d\n%s", r.code, r.stderr)
	}
	var rep broker.TierVerifyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify --json: %v: %s", err, r.stdout)
	}
	found := map[string]string{}
	for _, p := range rep.Problems {
		found[p.Key] = p.Kind
	}
	want := map[string]string{damaged: broker.TierDamaged, missing: broker.TierMissing, orphan: broker.TierOrphan}
	if len(found) != len(want) || found[damaged] != want[damaged] || found[missing] != want[missing] || found[orphan] != want[orphan] {
		t.Fatalf("verify found %v, want %v", found, want)
	}
	if r := runnel(t, nil, "tier", "verify", "--broker-http", ops); r.code != 1 || !strings.Contains(r.stdout, "damaged") || !strings.Contains(r.stdout, "missing") || !strings.Contains(r.stdout, "orphan") {
		t.Fatalf("verify table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Deleting the topic deletes every object under its id.
	topicPrefix := tiering.TopicPrefix(k.ClusterPrefix, k.TopicID)
	if _, err := adm.DeleteTopics(ctx, "tiered"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		n := 0
		if err := store.List(ctx, topicPrefix, func(tiering.ObjectInfo) error { n++; return nil }); err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("%d objects of the deleted topic left", n)
		}
		return nil
	})
	resp, err := http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`runnel_tier_segments_deleted_total{reason="retention.bytes"}`, `runnel_tier_segments_deleted_total{reason="log_start"}`, `runnel_tier_objects_deleted_total{reason="topic_deleted"}`} {
		if !strings.Contains(string(body), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// TestBrokerServesTierEndpoints: "runnel broker --metrics" serves the
// tiering endpoints once its node has started (503 "starting" before).
func TestBrokerServesTierEndpoints(t *testing.T) {
	kafka, raft, ops := freePort(t), freePort(t), freePort(t)
	startBroker(t, kafka, "--id", "1", "--raft", raft, "--voters", "1@"+raft,
		"--data-dir", filepath.Join(t.TempDir(), "data"), "--metrics", ops)
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		r := runnel(t, nil, "tier", "ls", "nope", "--broker-http", ops)
		if r.code != 1 || !strings.Contains(r.stderr, "(unknown_topic)") {
			return fmt.Errorf("tier ls of an unknown topic: exit %d: %s", r.code, r.stderr)
		}
		return nil
	})
}
