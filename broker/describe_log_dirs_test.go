package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeLogDirs asks every broker of a three-broker cluster for its
// log dirs with kadm's DescribeAllLogDirs: each has one, its data
// directory, holding every replica it hosts with the size of its segment
// files on disk and no offset lag once replication caught up, and the file
// system's total and usable bytes (v4). A request for some partitions
// answers those only.
func TestDescribeLogDirs(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	c.WaitForBrokers(3)
	c.CreateReplicatedTopic("dirs-a", 2, 3, nil)
	c.CreateReplicatedTopic("dirs-b", 1, 3, nil)
	cl := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := range 300 {
		topic, partition := "dirs-a", int32(i%2)
		if i%3 == 0 {
			topic, partition = "dirs-b", 0
		}
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Value: fmt.Appendf(nil, "record %d", i)})
	}
	start := time.Now()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced in %v", time.Since(start))
	adm := kadm.NewClient(cl)
	onDisk := func(broker int, topic string, partition int32) int64 {
		segs, err := filepath.Glob(filepath.Join(c.DataDir(broker-1), topic+"-"+strconv.Itoa(int(partition)), "*.log"))
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, s := range segs {
			st, err := os.Stat(s)
			if err != nil {
				t.Fatal(err)
			}
			n += st.Size()
		}
		return n
	}
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		all, err := adm.DescribeAllLogDirs(ctx, nil)
		if err != nil {
			return err
		}
		if len(all) != 3 {
			return fmt.Errorf("%d brokers answered", len(all))
		}
		for broker := 1; broker <= 3; broker++ {
			dirs := all[int32(broker)]
			if len(dirs) != 1 {
				return fmt.Errorf("broker %d: %d log dirs", broker, len(dirs))
			}
			abs, _ := filepath.Abs(c.DataDir(broker - 1))
			d, ok := dirs[abs]
			if !ok || d.Err != nil {
				return fmt.Errorf("broker %d: dirs %v, want %s: %v", broker, dirs, abs, d.Err)
			}
			if d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes {
				return fmt.Errorf("broker %d: total %d usable %d bytes", broker, d.TotalBytes, d.UsableBytes)
			}
			for _, tp := range []struct {
				topic     string
				partition int32
			}{{"dirs-a", 0}, {"dirs-a", 1}, {"dirs-b", 0}} {
				p, ok := d.Topics.Lookup(tp.topic, tp.partition)
				if !ok {
					return fmt.Errorf("broker %d lacks %s-%d", broker, tp.topic, tp.partition)
				}
				if want := onDisk(broker, tp.topic, tp.partition); p.Size != want || want == 0 {
					return fmt.Errorf("broker %d %s-%d: size %d, files hold %d", broker, tp.topic, tp.partition, p.Size, want)
				}
				if p.OffsetLag != 0 || p.IsFuture {
					return fmt.Errorf("broker %d %s-%d: offset lag %d future %v", broker, tp.topic, tp.partition, p.OffsetLag, p.IsFuture)
				}
			}
		}
		return nil
	})

	some, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"dirs-a": {1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for broker, dirs := range some {
		for _, d := range dirs {
			if len(d.Topics) != 1 || len(d.Topics["dirs-a"]) != 1 {
				t.Fatalf("broker %d, asked for dirs-a-1: %v", broker, d.Topics)
			}
			if _, ok := d.Topics.Lookup("dirs-a", 1); !ok {
				t.Fatalf("broker %d, asked for dirs-a-1: %v", broker, d.Topics)
			}
		}
	}

	// v0 has no sizes of the file system; the partitions are there.
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.SetVersion(0)
	resp := rawRequest(t, c.Addrs()[0], req).(*kmsg.DescribeLogDirsResponse)
	if len(resp.Dirs) != 1 || len(resp.Dirs[0].Topics) < 2 {
		t.Fatalf("v0 answer: %+v", resp.Dirs)
	}
}
