package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit serves OffsetCommit v0-v9: the offsets are written to
// __consumer_offsets (acks=all) before they are answered and visible.
// Generation -1 is a commit from outside the group (an admin or a
// consumer without a group), allowed while the group has no members.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	now := time.Now().UnixMilli()
	type pending struct {
		tp  topicPartition
		off Offset
		rp  *kmsg.OffsetCommitResponseTopicPartition
	}
	var todo []pending
	var records []Record
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	setAll := func(err error) *kmsg.OffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = codeOf(err)
			}
		}
		return resp
	}

	c.mu.Lock()
	g, err := c.commitTargetLocked(req)
	if err != nil {
		c.mu.Unlock()
		return setAll(err)
	}
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			rp := &resp.Topics[i].Partitions[j]
			if p.Metadata != nil && len(*p.Metadata) > c.cfg.MaxMetadataSize {
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			if p.Offset < 0 {
				rp.ErrorCode = kerr.InvalidCommitOffsetSize.Code
				continue
			}
			o := Offset{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, CommitTime: now, ExpireTime: -1}
			if req.Version < 6 {
				o.LeaderEpoch = -1
			}
			if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis > 0 {
				// An explicit retention (v2-v4) sets the offset's own
				// expiry, written as Kafka does in OffsetCommitValue v1.
				o.ExpireTime = now + req.RetentionTimeMillis
			}
			if p.Metadata != nil {
				o.Metadata = *p.Metadata
			}
			tp := topicPartition{t.Topic, p.Partition}
			todo = append(todo, pending{tp, o, rp})
			records = append(records, Record{Key: offsetKey(g.id, t.Topic, p.Partition), Value: offsetValue(o)})
		}
	}
	if len(records) == 0 {
		c.mu.Unlock()
		return resp
	}
	// The commit goes through the group's write queue, behind the
	// group's changes made before it (a member's release of the
	// partitions it committed) and ahead of those made after (their new
	// owner's assignment), and the offsets are in memory before any
	// later write is answered: a member answered with an assignment
	// fetches the offsets committed before it, as Kafka's log order
	// guarantees.
	written := g.enqueueAppliedLocked(records, func(first int64) {
		if c.groups[g.id] != g {
			// Unloaded or deleted meanwhile: the records are in the
			// log and the next load sees them.
			return
		}
		for i, p := range todo {
			p.off.logOffset = first + int64(i)
			if cur, ok := g.offsets[p.tp]; !ok || cur.logOffset < p.off.logOffset {
				g.offsets[p.tp] = p.off
			}
		}
		c.m.commits.Add(float64(len(todo)))
	})
	c.mu.Unlock()
	if err := <-written; err != nil {
		for _, p := range todo {
			p.rp.ErrorCode = commitWriteError(err)
		}
	}
	return resp
}

// commitWriteError maps a failed write to what Kafka answers a commit
// with: retriable coordinator errors, so the client finds the coordinator
// again.
func commitWriteError(err error) int16 {
	switch code := codeOf(err); code {
	case kerr.NotLeaderForPartition.Code, kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code, kerr.RequestTimedOut.Code, kerr.UnknownServerError.Code:
		return kerr.NotCoordinator.Code
	default:
		if code == kerr.MessageTooLarge.Code || code == kerr.RecordListTooLarge.Code {
			return kerr.InvalidCommitOffsetSize.Code
		}
		return kerr.CoordinatorNotAvailable.Code
	}
}

// commitTargetLocked checks a commit's member and generation, as Kafka's
// GroupCoordinator.doCommitOffsets does.
func (c *Coordinator) commitTargetLocked(req *kmsg.OffsetCommitRequest) (*group, error) {
	if err := c.checkLocked(req.Group); err != nil {
		return nil, err
	}
	g := c.groupLocked(req.Group, false)
	if g == nil {
		if req.Generation >= 0 {
			return nil, kerr.IllegalGeneration
		}
		return c.groupLocked(req.Group, true), nil
	}
	if g.consumer != nil {
		return g, c.validateCommitLocked(g.consumer, req.MemberID, req.Generation, req.Topics)
	}
	switch {
	case g.state == Dead:
		return nil, kerr.CoordinatorNotAvailable
	case req.InstanceID != nil && g.static[*req.InstanceID] != "" && g.static[*req.InstanceID] != req.MemberID:
		return nil, kerr.FencedInstanceID
	case req.Generation < 0 && g.state == Empty:
		return g, nil
	case g.state == CompletingRebalance:
		return nil, kerr.RebalanceInProgress
	}
	m := g.members[req.MemberID]
	if m == nil {
		return nil, kerr.UnknownMemberID
	}
	if req.Generation != g.generation {
		return nil, kerr.IllegalGeneration
	}
	g.armSessionLocked(m)
	return g, nil
}

// OffsetFetch serves OffsetFetch v0-v9; from v8 a request names many
// groups. Partitions without a committed offset get offset -1.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []kmsg.OffsetFetchRequestTopic
			if rg.Topics != nil {
				topics = []kmsg.OffsetFetchRequestTopic{}
				for _, t := range rg.Topics {
					ft := kmsg.NewOffsetFetchRequestTopic()
					ft.Topic, ft.Partitions = t.Topic, t.Partitions
					topics = append(topics, ft)
				}
			}
			out := kmsg.NewOffsetFetchResponseGroup()
			out.Group = rg.Group
			fetched, err := c.fetchMemberLocked(rg.Group, rg.MemberID, rg.MemberEpoch, topics, req.Version)
			out.ErrorCode = codeOf(err)
			for _, t := range fetched {
				ot := kmsg.NewOffsetFetchResponseGroupTopic()
				ot.Topic = t.Topic
				for _, p := range t.Partitions {
					op := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					op.Partition, op.Offset, op.LeaderEpoch, op.Metadata, op.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
					ot.Partitions = append(ot.Partitions, op)
				}
				out.Topics = append(out.Topics, ot)
			}
			resp.Groups = append(resp.Groups, out)
		}
		return resp
	}
	topics := req.Topics
	if req.Version < 2 && topics == nil {
		topics = []kmsg.OffsetFetchRequestTopic{}
	}
	fetched, err := c.fetchLocked(req.Group, topics, req.Version)
	resp.Topics = fetched
	if err != nil {
		if req.Version >= 2 {
			resp.ErrorCode = codeOf(err)
		}
		// Before v2 the error goes on every partition asked for.
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.ErrorCode = p, -1, codeOf(err)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return resp
}

// fetchMemberLocked is fetchLocked for a request naming a member (v9):
// a consumer group's member must be in the group at that epoch.
func (c *Coordinator) fetchMemberLocked(id string, memberID *string, memberEpoch int32, topics []kmsg.OffsetFetchRequestTopic, version int16) ([]kmsg.OffsetFetchResponseTopic, error) {
	if err := c.checkLocked(id); err != nil {
		return nil, err
	}
	if g := c.groupLocked(id, false); g != nil && g.consumer != nil && (memberID != nil || memberEpoch >= 0) {
		mid := ""
		if memberID != nil {
			mid = *memberID
		}
		if err := g.consumer.validateFetchLocked(mid, memberEpoch); err != nil {
			return nil, err
		}
	}
	return c.fetchLocked(id, topics, version)
}

// fetchLocked returns a group's committed offsets for topics, or all of
// them when topics is nil.
func (c *Coordinator) fetchLocked(id string, topics []kmsg.OffsetFetchRequestTopic, version int16) ([]kmsg.OffsetFetchResponseTopic, error) {
	if err := c.checkLocked(id); err != nil {
		return nil, err
	}
	g := c.groupLocked(id, false)
	partition := func(tp topicPartition) kmsg.OffsetFetchResponseTopicPartition {
		rp := kmsg.NewOffsetFetchResponseTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = tp.partition, -1, -1
		if g != nil {
			if o, ok := g.offsets[tp]; ok {
				rp.Offset, rp.LeaderEpoch = o.Offset, o.LeaderEpoch
				md := o.Metadata
				rp.Metadata = &md
			}
		}
		if version < 5 {
			rp.LeaderEpoch = -1
		}
		return rp
	}
	var out []kmsg.OffsetFetchResponseTopic
	if topics == nil {
		if g == nil {
			return nil, nil
		}
		byTopic := map[string]int{}
		for _, tp := range sortedOffsets(g.offsets) {
			i, ok := byTopic[tp.topic]
			if !ok {
				i = len(out)
				byTopic[tp.topic] = i
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = tp.topic
				out = append(out, rt)
			}
			out[i].Partitions = append(out[i].Partitions, partition(tp))
		}
		return out, nil
	}
	for _, t := range topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, partition(topicPartition{t.Topic, p}))
		}
		out = append(out, rt)
	}
	return out, nil
}

// OffsetDelete serves OffsetDelete v0: removes committed offsets of
// topics the group does not consume (tombstones are written).
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	c.mu.Lock()
	if err := c.checkLocked(req.Group); err != nil {
		c.mu.Unlock()
		resp.ErrorCode = codeOf(err)
		return resp
	}
	g := c.groupLocked(req.Group, false)
	if g == nil || g.state == Dead {
		c.mu.Unlock()
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	subscribed := g.subscribedTopicsLocked()
	var records []Record
	var gone []topicPartition
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case subscribed == nil && g.state != Empty:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code // not a consumer group: every topic counts
			case subscribed[t.Topic]:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				tp := topicPartition{t.Topic, p.Partition}
				if _, ok := g.offsets[tp]; ok {
					gone = append(gone, tp)
					records = append(records, Record{Key: offsetKey(g.id, t.Topic, p.Partition)})
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	part := g.part
	c.mu.Unlock()
	if len(records) == 0 {
		return resp
	}
	if _, err := c.write(part, records); err != nil {
		resp.Topics, resp.ErrorCode = nil, commitWriteError(err)
		return resp
	}
	c.mu.Lock()
	for _, tp := range gone {
		delete(g.offsets, tp)
	}
	c.mu.Unlock()
	return resp
}

// subscribedTopicsLocked is the topics the members of a consumer group
// subscribe to; nil when the group's protocol is not the consumer
// protocol (its subscriptions cannot be read).
func (g *group) subscribedTopicsLocked() map[string]bool {
	if g.consumer != nil {
		out := map[string]bool{}
		for name := range g.c.subscribedTopicsLocked(g.consumer) {
			out[name] = true
		}
		return out
	}
	if len(g.members) == 0 {
		return map[string]bool{}
	}
	if g.protocolType != "consumer" {
		return nil
	}
	out := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadata(g.protocol)); err != nil {
			return nil
		}
		for _, t := range md.Topics {
			out[t] = true
		}
	}
	return out
}
