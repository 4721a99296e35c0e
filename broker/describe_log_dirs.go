package broker

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

func init() { register(kmsg.DescribeLogDirs, 0, 4, (*Broker).handleDescribeLogDirs) }

// handleDescribeLogDirs describes the broker's one log directory (its data
// directory): the size and offset lag of each partition replica it holds,
// of the requested partitions or, when the topic list is null, of all, and
// (v4) the file system's total and usable bytes. A replica is never a
// "future" one: Runnel does not move replicas between directories.
func (b *Broker) handleDescribeLogDirs(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	var want map[string]map[int32]bool // nil: every partition
	if req.Topics != nil {
		want = make(map[string]map[int32]bool, len(req.Topics))
		for _, t := range req.Topics {
			if want[t.Topic] == nil {
				want[t.Topic] = make(map[int32]bool, len(t.Partitions))
			}
			for _, p := range t.Partitions {
				want[t.Topic][p] = true
			}
		}
	}
	d := kmsg.NewDescribeLogDirsResponseDir()
	d.Dir = b.store.Dir()
	if abs, err := filepath.Abs(d.Dir); err == nil {
		d.Dir = abs
	}
	total, usable, err := diskSpace(d.Dir)
	if err != nil {
		b.log.Warn("describe log dirs: file system size", "dir", d.Dir, "error", err)
		d.ErrorCode = kerr.KafkaStorageError.Code
	}
	d.TotalBytes, d.UsableBytes = total, usable
	topicIndex := map[string]int{}
	for _, p := range b.partitionsSorted() {
		if want != nil && !want[p.tp.Topic][p.tp.Partition] {
			continue
		}
		i, ok := topicIndex[p.tp.Topic]
		if !ok {
			i = len(d.Topics)
			topicIndex[p.tp.Topic] = i
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = p.tp.Topic
			d.Topics = append(d.Topics, t)
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition, dp.Size, dp.OffsetLag, dp.IsFuture = p.tp.Partition, p.log.Size(), p.offsetLag(), false
		d.Topics[i].Partitions = append(d.Topics[i].Partitions, dp)
	}
	resp.Dirs = append(resp.Dirs, d)
	return &kafkaserver.Response{Msg: resp}, nil
}

// offsetLag is how far the replica's log end is behind: 0 for the leader;
// for a follower, the high watermark its leader last reported minus its log
// end, 0 when it is not behind.
func (p *partition) offsetLag() int64 {
	if st := p.state.Load(); st == nil || st.isLeader {
		return 0
	}
	return max(p.leaderHW.Load()-p.log.Offsets().LogEnd, 0)
}

// diskSpace returns the total bytes of the file system holding dir and the
// bytes an unprivileged writer may still use there; -1 and -1 when statfs
// fails.
func diskSpace(dir string) (total, usable int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1, -1, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), nil
}
