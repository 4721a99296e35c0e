package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// produceTo writes n records to one partition of topic.
func produceTo(t *testing.T, c *brokertest.Cluster, topic string, partition int32, n int) {
	t.Helper()
	p := c.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range n {
		r := &kgo.Record{Value: fmt.Appendf(nil, "%s-%d event %d", topic, partition, i), Partition: partition}
		if err := p.ProduceSync(adminCtx(t), r).FirstErr(); err != nil {
			t.Fatalf("produce to %s-%d: %v", topic, partition, err)
		}
	}
}

// tree lists the files under dir with their sizes.
func tree(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			out[rel+"/"] = 0
		} else {
			out[rel] = info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(a, b map[string]int64) error {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return fmt.Errorf("%s: %d bytes before, %d (present %v) after", k, v, w, ok)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			return fmt.Errorf("%s appeared", k)
		}
	}
	return nil
}

// asideDirs lists the directories of dataDir renamed aside (-delete, -stray).
func asideDirs(t *testing.T, dataDir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && (strings.HasSuffix(e.Name(), "-delete") || strings.HasSuffix(e.Name(), "-stray")) {
			out = append(out, e.Name())
		}
	}
	return out
}

// waitNoAsideDirs waits until every directory renamed aside is removed.
func waitNoAsideDirs(t *testing.T, dataDir string) {
	t.Helper()
	testwait.For(t, 10*time.Second, 10*time.Millisecond, func() error {
		if aside := asideDirs(t, dataDir); len(aside) != 0 {
			return fmt.Errorf("still there: %v", aside)
		}
		return nil
	})
}

// refusedGauge reads runnel_broker_partitions_refused from node i's registry.
func refusedGauge(t *testing.T, c *brokertest.Cluster, i int) float64 {
	t.Helper()
	mfs, err := c.Metrics(i).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "runnel_broker_partitions_refused" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no runnel_broker_partitions_refused metric")
	return 0
}

// TestDamagedPartitionMetadataRefusesPartition: a partition whose directory
// holds data beside a partition.metadata that is damaged (a flipped bit),
// emptied, deleted or replaced by garbage is refused: not opened, not
// renamed, not deleted, every file kept as it was, across restarts. Ready
// names it, the metric counts it, and the topic's intact partition serves.
func TestDamagedPartitionMetadataRefusesPartition(t *testing.T) {
	damages := []func(t *testing.T, path string){
		func(t *testing.T, path string) { // a flipped bit: one hex digit of the id to another
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[strings.Index(string(b), "topic_id: ")+12] ^= 0x01
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		func(t *testing.T, path string) { // emptied
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		},
		func(t *testing.T, path string) { // deleted
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		},
		func(t *testing.T, path string) { // garbage
			if err := os.WriteFile(path, []byte("\x00\x13garbage\xff\xfe\nversion: 7\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	// With the default delete delay, anything moved aside would still be
	// there to see, and anything deleted would be missing.
	c := brokertest.Start(t, 1, brokertest.Options{})
	intact := int32(len(damages))
	c.CreateTopic("ident", intact+1, nil)
	for p := range intact + 1 {
		produceTo(t, c, "ident", p, 5)
	}
	c.Stop(0)
	dataDir := c.DataDir(0)
	before := map[int]map[string]int64{}
	for i, damage := range damages {
		dir := filepath.Join(dataDir, fmt.Sprintf("ident-%d", i))
		damage(t, filepath.Join(dir, "partition.metadata"))
		before[i] = tree(t, dir)
	}
	for run := range 2 {
		c.Restart(0)
		node := c.Nodes[0]
		testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			err := node.Broker.Ready(context.Background())
			if err == nil {
				t.Fatal("ready with refused partitions")
			}
			msg := err.Error()
			if !errors.Is(err, broker.ErrNotReady) || !strings.Contains(msg, "refused") || strings.Contains(msg, fmt.Sprintf("ident-%d", intact)) {
				return err
			}
			for i := range damages {
				if !strings.Contains(msg, fmt.Sprintf("ident-%d", i)) {
					return err
				}
			}
			return nil
		})
		if got := refusedGauge(t, c, 0); got != float64(len(damages)) {
			t.Fatalf("run %d: refused partitions metric %v, want %d", run, got, len(damages))
		}
		produceTo(t, c, "ident", intact, 1)
		// A refused partition answers with a storage error and the reason,
		// not with a NOT_LEADER that clients would retry forever.
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 1, 1000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "ident"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = oneBatch(t)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(adminCtx(t), c.Client().Broker(1))
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Topics[0].Partitions[0]
		if got.ErrorCode != kerr.KafkaStorageError.Code || got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, "partition.metadata") {
			t.Fatalf("produce to a refused partition: %v %v", kerr.ErrorForCode(got.ErrorCode), msgOf(got.ErrorMessage))
		}
		for i := range damages {
			if err := sameTree(before[i], tree(t, filepath.Join(dataDir, fmt.Sprintf("ident-%d", i)))); err != nil {
				t.Fatalf("run %d: the files of refused partition ident-%d changed: %v", run, i, err)
			}
		}
		if aside := asideDirs(t, dataDir); len(aside) != 0 {
			t.Fatalf("run %d: directories moved aside: %v", run, aside)
		}
		c.Stop(0)
	}
}

// TestPartitionMetadataMissingInEmptyDir: a partition directory without data
// may lack its identity file (it is written again); the partition opens.
func TestPartitionMetadataMissingInEmptyDir(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("empty", 1, nil)
	c.Stop(0)
	path := filepath.Join(c.DataDir(0), "empty-0", "partition.metadata")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	c.Restart(0)
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error { return c.Nodes[0].Broker.Ready(context.Background()) })
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "crc32c: ") {
		t.Fatalf("identity not written again: %q %v", b, err)
	}
	produceTo(t, c, "empty", 0, 1)
}

// TestDeletedTopicDirRenamedAsideThenRemoved: deleting a topic renames its
// partition directories <dir>.<hex>-delete at once; they go after the file
// delete delay.
func TestDeletedTopicDirRenamedAsideThenRemoved(t *testing.T) {
	const delay = 500 * time.Millisecond
	c := brokertest.Start(t, 1, brokertest.Options{FileDeleteDelay: delay})
	c.CreateTopic("del", 1, nil)
	produceTo(t, c, "del", 0, 10)
	dataDir := c.DataDir(0)
	if _, err := kadm.NewClient(c.Client()).DeleteTopics(adminCtx(t), "del"); err != nil {
		t.Fatal(err)
	}
	var renamed string
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		aside := asideDirs(t, dataDir)
		if _, err := os.Stat(filepath.Join(dataDir, "del-0")); !errors.Is(err, os.ErrNotExist) || len(aside) != 1 {
			return fmt.Errorf("del-0: %v, aside: %v", err, aside)
		}
		renamed = aside[0]
		return nil
	})
	seen := time.Now()
	if !strings.HasPrefix(renamed, "del-0.") || !strings.HasSuffix(renamed, "-delete") {
		t.Fatalf("renamed to %s", renamed)
	}
	if segs, _ := filepath.Glob(filepath.Join(dataDir, renamed, "*.log")); len(segs) == 0 {
		t.Fatal("the renamed directory has no segments")
	}
	waitNoAsideDirs(t, dataDir)
	if time.Since(seen) < delay/2 {
		t.Fatalf("removed %v after it was seen renamed; the delay is %v", time.Since(seen), delay)
	}
}

// TestOlderTopicDirMovedAsideAfterCatchUp: a partition directory found with a
// valid identity naming another topic id than the (caught-up) metadata's is
// the data of an older topic of the same name: it is renamed aside (and
// removed after the delay), never served as the new topic's.
func TestOlderTopicDirMovedAsideAfterCatchUp(t *testing.T) {
	const delay = 2 * time.Second
	c := brokertest.Start(t, 1, brokertest.Options{FileDeleteDelay: delay})
	c.CreateTopic("re", 1, nil)
	produceTo(t, c, "re", 0, 10)
	dataDir := c.DataDir(0)
	c.Stop(0)
	old := filepath.Join(t.TempDir(), "re-0")
	if out, err := exec.Command("cp", "-a", filepath.Join(dataDir, "re-0"), old).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v %s", err, out)
	}
	c.Restart(0)
	if _, err := kadm.NewClient(c.Client()).DeleteTopics(adminCtx(t), "re"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, 10*time.Millisecond, func() error {
		if _, ok := c.Nodes[0].Member.Image().Topic("re"); ok {
			return errors.New("topic still there")
		}
		return nil
	})
	c.CreateTopic("re", 1, nil)
	c.Stop(0)
	// The directory of the older "re" comes back (say, from a backup).
	if err := os.RemoveAll(filepath.Join(dataDir, "re-0")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(old, filepath.Join(dataDir, "re-0")); err != nil {
		t.Fatal(err)
	}
	c.Restart(0)
	// The older data waits aside for the delay, whole. It is watched for
	// from the restart: the rename comes once the metadata caught up,
	// before the broker has registered and leads (Ready), which may take
	// longer than the delay on a loaded machine.
	testwait.For(t, 30*time.Second, 5*time.Millisecond, func() error {
		for _, name := range asideDirs(t, dataDir) {
			if strings.HasPrefix(name, "re-0.") && strings.HasSuffix(name, "-delete") {
				if b, err := os.ReadFile(filepath.Join(dataDir, name, "00000000000000000000.log")); err == nil && strings.Contains(string(b), "re-0 event 9") {
					return nil
				}
			}
		}
		return fmt.Errorf("the older topic's directory was not renamed aside with its data: %v", asideDirs(t, dataDir))
	})
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error { return c.Nodes[0].Broker.Ready(context.Background()) })
	l, ok := c.Nodes[0].Broker.Log(commitlogTP("re", 0))
	if !ok || l.LogEndOffset() != 0 {
		t.Fatalf("the new topic's partition serves the older topic's data (open %v)", ok)
	}
	waitNoAsideDirs(t, dataDir)
}

// oneBatch is a RecordBatch of one record.
func oneBatch(t *testing.T) []byte {
	t.Helper()
	b, err := recordbatch.Build(recordbatch.BuildOptions{}, []recordbatch.Record{{Value: []byte("x"), Timestamp: time.Now().UnixMilli()}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func commitlogTP(topic string, p int32) commitlog.TopicPartition {
	return commitlog.TopicPartition{Topic: topic, Partition: p}
}
