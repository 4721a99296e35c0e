package controller

import (
	"context"
	"fmt"
	"slices"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// eligible reports whether broker id may lead or join an ISR in img: it
// is registered, unfenced and not shutting down.
func (c *Controller) eligible(img *metadata.Image, id int32) bool {
	b, ok := img.Broker(id)
	return ok && !b.Fenced && !c.shuttingDown(id)
}

// liveISR returns the eligible members of isr.
func (c *Controller) liveISR(img *metadata.Image, isr []int32) []int32 {
	return slices.DeleteFunc(slices.Clone(isr), func(b int32) bool { return !c.eligible(img, b) })
}

// fenceChanges returns the partition changes that follow from broker id
// being fenced in img: it leaves every ISR it is in (except as the last
// member of a leaderless partition, so that it can lead again when it
// returns), and each partition it led gets a new leader. The new leader is
// the first replica, in replica order, that is in the remaining ISR and
// unfenced. With no such replica, a topic that allows unclean election takes
// the first unfenced replica with an ISR of just that replica; any other
// topic's partition goes leaderless.
func (c *Controller) fenceChanges(img *metadata.Image, id int32) []metadata.Record {
	var recs []metadata.Record
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if p.Leader == metadata.NoLeader || !slices.Contains(p.ISR, id) {
				continue
			}
			isr := slices.DeleteFunc(slices.Clone(p.ISR), func(b int32) bool { return b == id })
			leader := p.Leader
			if leader == id {
				leader, isr = c.elect(img, t, p.Replicas, isr)
			}
			if len(isr) == 0 {
				isr = []int32{id}
			}
			recs = append(recs, change(t, p, leader, isr))
		}
	}
	return recs
}

// elect picks a leader among replicas for a partition whose ISR is isr. It
// returns the leader (or NoLeader) and the ISR to go with it.
func (c *Controller) elect(img *metadata.Image, t *metadata.Topic, replicas, isr []int32) (int32, []int32) {
	for _, r := range replicas {
		if slices.Contains(isr, r) && c.eligible(img, r) {
			return r, isr
		}
	}
	if t.UncleanLeaderElection() {
		for _, r := range replicas {
			if c.eligible(img, r) {
				return r, []int32{r}
			}
		}
	}
	return metadata.NoLeader, isr
}

// unfenceChanges returns the partition changes that follow from broker id
// being unfenced in img: every leaderless partition that can now elect a
// leader does so (from its ISR, or with unclean election where the topic
// allows it). Fenced members are dropped from the ISR of a partition that
// gets a leader.
func (c *Controller) unfenceChanges(img *metadata.Image, id int32) []metadata.Record {
	var recs []metadata.Record
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if p.Leader != metadata.NoLeader || !slices.Contains(p.Replicas, id) {
				continue
			}
			leader, isr := c.elect(img, t, p.Replicas, c.liveISR(img, p.ISR))
			if leader == metadata.NoLeader {
				continue
			}
			recs = append(recs, change(t, p, leader, isr))
		}
	}
	return recs
}

// change builds a PartitionChanged record against p's current epoch.
func change(t *metadata.Topic, p metadata.Partition, leader int32, isr []int32) metadata.Record {
	return metadata.Record{PartitionChanged: &metadata.PartitionChanged{
		ID: t.ID, Partition: p.Index, PartitionEpoch: p.PartitionEpoch, Leader: leader, ISR: isr,
	}}
}

// AlterPartition changes a partition's ISR at the request of its leader,
// following Kafka's rules: the request must come from the current leader,
// quoting its current broker epoch, the current leader epoch and the current
// partition epoch; the new ISR must contain the leader, name only replicas,
// and add only eligible brokers. An ISR that holds every target replica of
// a reassignment in progress completes it in the same commit. It returns
// the partition as committed. A request for the ISR the partition already
// has succeeds without a proposal.
func (c *Controller) AlterPartition(ctx context.Context, req AlterPartitionRequest) (metadata.Partition, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return metadata.Partition{}, err
	}
	img := c.image()
	if err := checkBrokerEpoch(img, req.BrokerID, req.BrokerEpoch); err != nil {
		return metadata.Partition{}, err
	}
	p, err := checkPartitionLeader(img, req.TopicID, req.Partition, req.BrokerID, req.LeaderEpoch)
	if err != nil {
		return metadata.Partition{}, err
	}
	t, _ := img.TopicByID(req.TopicID)
	if p.PartitionEpoch != req.PartitionEpoch {
		return metadata.Partition{}, fmt.Errorf("%w: topic %q partition %d is at partition epoch %d, request has %d", metadata.ErrStalePartitionEpoch, t.Name, p.Index, p.PartitionEpoch, req.PartitionEpoch)
	}
	if !slices.Contains(req.ISR, req.BrokerID) {
		return metadata.Partition{}, fmt.Errorf("%w: ISR %v does not contain the leader %d", metadata.ErrInvalidISR, req.ISR, req.BrokerID)
	}
	for i, b := range req.ISR {
		if !slices.Contains(p.Replicas, b) || slices.Contains(req.ISR[:i], b) {
			return metadata.Partition{}, fmt.Errorf("%w: ISR %v for replicas %v", metadata.ErrInvalidISR, req.ISR, p.Replicas)
		}
		if !slices.Contains(p.ISR, b) && !c.eligible(img, b) {
			return metadata.Partition{}, fmt.Errorf("%w: broker %d is fenced", metadata.ErrIneligibleReplica, b)
		}
	}
	if sameSet(p.ISR, req.ISR) {
		return p, nil
	}
	rec := change(t, p, p.Leader, slices.Clone(req.ISR))
	next := p
	next.ISR = req.ISR
	if done := c.completeReassignment(img, t, p, next); done != nil {
		rec = *done
	}
	if _, err := c.proposeLocked(ctx, rec); err != nil {
		return metadata.Partition{}, err
	}
	p, ok := c.image().Partition(req.TopicID, req.Partition)
	if !ok {
		return metadata.Partition{}, fmt.Errorf("%w: topic %q deleted", metadata.ErrUnknownTopic, t.Name)
	}
	return p, nil
}

// sameSet reports whether a and b hold the same brokers.
func sameSet(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
