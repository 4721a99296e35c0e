package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDamagedDerivedFilesDoNotWedgeAPartition replaces the
// leader-epoch-checkpoint with the 8 garbage bytes that left a partition
// answering NOT_LEADER forever in the outside tests, and damages the
// producer snapshot and an index beside it, while the broker is stopped:
// after the restart the partition serves produce and fetch again, all its
// records are there, and the damaged files are kept aside.
func TestDamagedDerivedFilesDoNotWedgeAPartition(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("epochs", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("epochs"))
	for i := 0; i < 50; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.Stop(0)
	dir := filepath.Join(c.DataDir(0), "epochs-0")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "leader-epoch-checkpoint"), []byte("\xde\xad\xbe\xef\x00\x01\x02\x03"), 0o644))
	snaps, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	if len(snaps) == 0 {
		t.Fatal("no producer snapshot after a clean stop")
	}
	must(os.WriteFile(snaps[len(snaps)-1], []byte("not a snapshot"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "00000000000000000000.index"), []byte{1, 2, 3}, 0o644))
	c.Restart(0)

	cl = c.Client(kgo.DefaultProduceTopic("epochs"))
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	if err := cl.ProduceSync(pctx, &kgo.Record{Value: []byte("50")}).FirstErr(); err != nil {
		t.Fatalf("produce after the restart: %v", err)
	}
	consumer := c.Client(kgo.ConsumeTopics("epochs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for read := 0; read < 51; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != fmt.Sprint(read) {
				t.Fatalf("offset %d: %q", r.Offset, r.Value)
			}
			read++
		})
	}
	for _, kept := range []string{filepath.Join(dir, "leader-epoch-checkpoint.corrupt"), snaps[len(snaps)-1] + ".corrupt"} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("damaged file not kept aside: %v", err)
		}
	}
	if e := c.Nodes[0].Broker.StorageError(); e != nil {
		t.Fatalf("storage error: %v", e)
	}
}
