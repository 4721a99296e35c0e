package broker

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// TestPartitionMetadataEveryBitFlipIsFound: the identity file round-trips,
// and flipping any one bit of it makes it unreadable instead of naming
// another topic: the checksum line covers the id.
func TestPartitionMetadataEveryBitFlipIsFound(t *testing.T) {
	id := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	file := encodePartitionMetadata(id)
	got, checked, err := parsePartitionMetadata(file)
	if err != nil || got != id || !checked {
		t.Fatalf("round trip: %v %v %v", got, checked, err)
	}
	for i := range file {
		for bit := range 8 {
			b := append([]byte(nil), file...)
			b[i] ^= 1 << bit
			if got, _, err := parsePartitionMetadata(b); err == nil {
				t.Fatalf("byte %d bit %d flipped: read as topic %s", i, bit, got)
			}
		}
	}
	// Files of earlier versions have no checksum line and are accepted.
	legacy := []byte("version: 0\ntopic_id: " + id.String() + "\n")
	if got, checked, err := parsePartitionMetadata(legacy); err != nil || got != id || checked {
		t.Fatalf("legacy file: %v %v %v", got, checked, err)
	}
	for _, bad := range []string{"", "version: 0\n", "version: 1\ntopic_id: " + id.String() + "\n",
		"version: 0\ntopic_id: " + uuid.Nil.String() + "\n", "version: 0\ntopic_id: " + id.String() + "\nextra: 1\n",
		"version: 0\ntopic_id: " + id.String()} {
		if _, _, err := parsePartitionMetadata([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestReconcileWaitsForCatchUp: before the member has caught up, a partition
// directory naming another topic id than the image's may be the newer of the
// two, so reconcile leaves it alone (no rename, no delete, not opened) and
// does not report it as refused: it waits. A directory with the image's id
// opens at once.
func TestReconcileWaitsForCatchUp(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dataDir := t.TempDir()
	// A metadata-only member never registers a broker, so it never catches up.
	m, err := raftmeta.Open(raftmeta.Config{NodeID: 1, ClusterID: 1, Dir: filepath.Join(dataDir, "meta"), Listen: "127.0.0.1:0", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := New(Config{BrokerID: 1, DataDir: dataDir, Member: m, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	newer, current := uuid.New(), uuid.New()
	// "lag-0" holds data of a topic id the image does not know yet.
	lagDir := filepath.Join(dataDir, "lag-0")
	if err := os.MkdirAll(lagDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lagDir, partitionMetadataFile), encodePartitionMetadata(newer), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lagDir, "00000000000000000000.log"), []byte("records of the newer topic"), 0o644); err != nil {
		t.Fatal(err)
	}
	ps := func() []metadata.PartitionState {
		return []metadata.PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}
	}
	img, err := metadata.NewImage().Apply(5, metadata.Batch{Records: []metadata.Record{
		{BrokerRegistered: &metadata.BrokerRegistered{ID: 1, Addr: "127.0.0.1:9", Incarnation: uuid.New()}},
		{BrokerUnfenced: &metadata.BrokerUnfenced{ID: 1, Epoch: 5}},
		{TopicCreated: &metadata.TopicCreated{Name: "lag", ID: uuid.New(), Partitions: ps()}},
		{TopicCreated: &metadata.TopicCreated{Name: "ok", ID: current, Partitions: ps()}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	before := dirFiles(t, dataDir)
	b.reconcile(img)
	after := dirFiles(t, dataDir)
	for name := range before {
		if _, ok := after[name]; !ok {
			t.Fatalf("%s is gone after reconciling with an image that has not caught up", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok && filepath.Dir(name) != "ok-0" && filepath.Base(name) != "ok-0" {
			t.Fatalf("%s appeared", name)
		}
	}
	if _, ok := b.Log(commitlog.TopicPartition{Topic: "lag", Partition: 0}); ok {
		t.Fatal("a directory of another topic id was opened")
	}
	if _, ok := b.Log(commitlog.TopicPartition{Topic: "ok", Partition: 0}); !ok {
		t.Fatal("a new partition was not opened")
	}
	if len(b.refused) != 0 {
		t.Fatalf("waiting reported as refused: %v", b.refused)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.Ready(ctx); !errors.Is(err, ErrNotReady) {
		t.Fatalf("ready before registering: %v", err)
	}
}

// dirFiles lists every path under dir (relative), directories included.
func dirFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel != "." && rel != "meta" && filepath.Dir(rel) != "meta" && filepath.Dir(filepath.Dir(rel)) != "meta" {
			out[rel] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzParsePartitionMetadata: the identity file parser never panics, and a
// file it accepts is exactly what encodePartitionMetadata writes for that id
// (or, without the checksum line, its first two lines).
func FuzzParsePartitionMetadata(f *testing.F) {
	id := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	f.Add(encodePartitionMetadata(id))
	f.Add([]byte("version: 0\ntopic_id: " + id.String() + "\n"))
	f.Add([]byte("version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, checked, err := parsePartitionMetadata(b)
		if err != nil {
			return
		}
		want := encodePartitionMetadata(got)
		if !checked {
			want = []byte("version: 0\ntopic_id: " + got.String() + "\n")
		}
		if string(want) != string(b) {
			t.Fatalf("accepted %q, which is not the canonical %q", b, want)
		}
	})
}
