package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// startSingle starts a one-node cluster on dataDir as "runnel dev" does.
func startSingle(dataDir string, startFresh bool) (*broker.Node, error) {
	return broker.StartNode(broker.NodeConfig{
		ID: 1, DataDir: dataDir, KafkaListen: "127.0.0.1:0", RaftListen: "127.0.0.1:0",
		Voters: map[uint64]string{1: "127.0.0.1:0"}, AutoCreateTopics: true, StartFreshMetadata: startFresh,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// produceSingle creates topic on node (auto-create) and writes n records.
func produceSingle(t *testing.T, node *broker.Node, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddr()), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range n {
		if err := cl.ProduceSync(adminCtx(t), &kgo.Record{Value: fmt.Appendf(nil, "%s event %d", topic, i)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// TestMissingMetadataRefusesStart: a data directory holding partition data
// whose meta/ is gone or emptied must not start new metadata on top of it
// (which would later let a topic of the same name take the data): StartNode
// refuses with ErrMetadataMissing, naming the partitions and the way out, and
// touches nothing. With StartFreshMetadata it starts new metadata and sets
// the old partition directories aside as *-stray, whole.
func TestMissingMetadataRefusesStart(t *testing.T) {
	damages := map[string]func(t *testing.T, meta string){
		"meta removed": func(t *testing.T, meta string) {
			if err := os.RemoveAll(meta); err != nil {
				t.Fatal(err)
			}
		},
		"meta emptied": func(t *testing.T, meta string) {
			files, _ := filepath.Glob(filepath.Join(meta, "*", "*"))
			for _, f := range files {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dataDir := t.TempDir()
			node, err := startSingle(dataDir, false)
			if err != nil {
				t.Fatal(err)
			}
			produceSingle(t, node, "keep", 10)
			if err := node.Close(); err != nil {
				t.Fatal(err)
			}
			damage(t, filepath.Join(dataDir, "meta"))
			before := tree(t, filepath.Join(dataDir, "keep-0"))

			_, err = startSingle(dataDir, false)
			if !errors.Is(err, broker.ErrMetadataMissing) || !strings.Contains(err.Error(), "keep-0") ||
				!strings.Contains(err.Error(), "--start-fresh-metadata") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("start without metadata beside partition data: %v", err)
			}
			if err := sameTree(before, tree(t, filepath.Join(dataDir, "keep-0"))); err != nil {
				t.Fatalf("the refused start changed the partition: %v", err)
			}

			node, err = startSingle(dataDir, true)
			if err != nil {
				t.Fatalf("start with StartFreshMetadata: %v", err)
			}
			defer func() { node.Close() }()
			aside := asideDirs(t, dataDir)
			if len(aside) != 1 || !strings.HasPrefix(aside[0], "keep-0.") || !strings.HasSuffix(aside[0], "-stray") {
				t.Fatalf("set aside: %v", aside)
			}
			if err := sameTree(before, tree(t, filepath.Join(dataDir, aside[0]))); err != nil {
				t.Fatalf("the set-aside partition changed: %v", err)
			}
			// The name is free for a new topic, which starts empty.
			produceSingle(t, node, "keep", 1)
			md, err := kadm.NewClient(mustClient(t, node)).ListEndOffsets(adminCtx(t), "keep")
			if err != nil {
				t.Fatal(err)
			}
			if o, _ := md.Lookup("keep", 0); o.Offset != 1 {
				t.Fatalf("the new topic's end offset is %d, want 1", o.Offset)
			}
			if err := node.Close(); err != nil {
				t.Fatal(err)
			}
			// The flag only matters without metadata: a restart with it
			// leaves the new topic alone.
			node, err = startSingle(dataDir, true)
			if err != nil {
				t.Fatal(err)
			}
			testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error { return node.Broker.Ready(context.Background()) })
			if l, ok := node.Broker.Log(commitlogTP("keep", 0)); !ok || l.LogEndOffset() != 1 {
				t.Fatal("the new topic's partition was set aside on a restart with metadata")
			}
			if got := asideDirs(t, dataDir); len(got) != 1 {
				t.Fatalf("set aside after the restart: %v", got)
			}
		})
	}
}

func mustClient(t *testing.T, node *broker.Node) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
