package group

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gatedLog is a memLog whose next append, once held, waits until
// released.
type gatedLog struct {
	memLog
	hold    atomic.Bool
	entered chan struct{} // closed when the held append began
	release chan struct{} // closed to let it go on
}

func (l *gatedLog) Append(ctx context.Context, p int32, records []Record) (int64, error) {
	if l.hold.CompareAndSwap(true, false) {
		close(l.entered)
		<-l.release
	}
	return l.memLog.Append(ctx, p, records)
}

// TestCommitBeforeReleaseReachesNewOwner: a member commits a partition it
// is revoking, then releases it (franz-go commits in OnPartitionsRevoked
// before the heartbeat that drops the partitions). While the commit is
// still being written, the partition's new owner must not be answered
// with it: once answered, its OffsetFetch sees the commit, as Kafka's log
// order (commit, release, new assignment) guarantees. Before, a commit
// was written beside the group's queue and applied after it, so the new
// owner could fetch the older offset and consume records twice.
func TestCommitBeforeReleaseReachesNewOwner(t *testing.T) {
	l := &gatedLog{entered: make(chan struct{}), release: make(chan struct{})}
	c := newTestCoordinator(t, l, config848())
	ea, _ := beat(t, c, hb848("a", 0), nil)
	eb, _ := beat(t, c, hb848("b", 0), nil)
	_, keep := beat(t, c, hb848("a", ea, 0, 1, 2, 3, 4, 5), nil)
	if !slices.Equal(keep, []int32{0, 1, 2}) {
		t.Fatalf("a keeps %v during revocation, want 0-2", keep)
	}

	// a commits partition 5 at offset 25; its write is held.
	l.hold.Store(true)
	committed := make(chan int16, 1)
	go func() {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = 9, "g", "a", ea
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 5, Offset: 25}}}}
		committed <- c.OffsetCommit(req).Topics[0].Partitions[0].ErrorCode
	}()
	select {
	case <-l.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("a's commit never reached the log")
	}

	// a releases 3-5 (in memory at once; its answer waits for the log).
	go c.ConsumerGroupHeartbeat(hb848("a", ea, keep...), "client", "/127.0.0.1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		released := len(c.groups["g"].consumer.members["a"].revoking) == 0
		c.mu.Unlock()
		if released {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a's release was never taken")
		}
		time.Sleep(time.Millisecond)
	}

	// b takes 3-5 and fetches their offsets.
	type owner struct {
		assigned []int32
		offset   int64
		err      error
	}
	got := make(chan owner, 1)
	go func() {
		r := c.ConsumerGroupHeartbeat(hb848("b", eb), "client", "/127.0.0.1")
		if r.ErrorCode != 0 {
			got <- owner{err: kerr.ErrorForCode(r.ErrorCode)}
			return
		}
		var o owner
		if r.Assignment != nil {
			for _, tp := range r.Assignment.Topics {
				o.assigned = append(o.assigned, tp.Partitions...)
			}
		}
		slices.Sort(o.assigned)
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 9
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberID, rg.MemberEpoch = "g", r.MemberID, r.MemberEpoch
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{5}}}
		req.Groups = append(req.Groups, rg)
		fr := c.OffsetFetch(req).Groups[0]
		if fr.ErrorCode != 0 {
			o.err = kerr.ErrorForCode(fr.ErrorCode)
		} else {
			o.offset = fr.Topics[0].Partitions[0].Offset
		}
		got <- o
	}()
	select {
	case o := <-got:
		t.Fatalf("b was answered (partitions %v, offset of 5: %d, err %v) while a's commit of 5 was not yet written", o.assigned, o.offset, o.err)
	case <-time.After(300 * time.Millisecond):
	}
	close(l.release)
	if code := <-committed; code != 0 {
		t.Fatalf("a's commit: %v", kerr.ErrorForCode(code))
	}
	var o owner
	select {
	case o = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("b was never answered")
	}
	if o.err != nil || !slices.Equal(o.assigned, []int32{3, 4, 5}) || o.offset != 25 {
		t.Fatalf("b: partitions %v, offset of 5: %d, err %v; want 3-5 from offset 25 (a's commit)", o.assigned, o.offset, o.err)
	}
}
