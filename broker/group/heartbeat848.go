package group

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Member epochs of a ConsumerGroupHeartbeat that leave the group.
const (
	leaveEpoch       = -1
	leaveStaticEpoch = -2
)

// ConsumerGroupHeartbeat serves ConsumerGroupHeartbeat v0-v1 (KIP-848):
// joining (epoch 0), heartbeating with the owned partitions, and leaving
// (epoch -1, or -2 for a static member that will return). As in Kafka, the
// answer goes out once the records of the group's changes (and of every
// change before them) are written with acks=all; a failed write answers
// with the coordinator error Kafka maps it to.
func (c *Coordinator) ConsumerGroupHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	c.mu.Lock()
	g, err := c.heartbeat848Locked(req, resp, clientID, clientHost)
	var written <-chan error
	switch {
	case g != nil && err == nil && resp.MemberID != nil:
		written = g.persistMember848Locked(*resp.MemberID)
	case g != nil:
		written = g.persist848Locked()
	}
	c.mu.Unlock()
	if written != nil {
		if werr := <-written; werr != nil && err == nil {
			err = fmt.Errorf("%w: consumer group records not written: %v", writeError(werr), werr)
		}
	}
	if err != nil {
		resp.ErrorCode = codeOf(err)
		msg := err.Error()
		resp.ErrorMessage = &msg
		resp.MemberEpoch = -1
		resp.Assignment = nil
	}
	return resp
}

// heartbeat848Locked serves the heartbeat in memory and returns the group
// it may have changed (nil when it reached none).
func (c *Coordinator) heartbeat848Locked(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse, clientID, clientHost string) (*group, error) {
	if err := validateHeartbeat848(req); err != nil {
		return nil, err
	}
	if err := c.checkLocked(req.Group); err != nil {
		return nil, err
	}
	if c.cfg.Topics == nil {
		return nil, fmt.Errorf("%w: this coordinator has no topic metadata for server-side assignment", kerr.UnsupportedVersion)
	}
	memberID := req.MemberID
	if memberID == "" { // v0: the coordinator names the member
		memberID = uuid.NewString()
	}
	g := c.groupLocked(req.Group, false)
	if g != nil && g.consumer == nil {
		if len(g.members) > 0 || g.state != Empty {
			return nil, fmt.Errorf("%w: group %q is a classic group with members, not a consumer group", kerr.GroupIDNotFound, req.Group)
		}
		// An empty classic group becomes a consumer group, as Kafka
		// converts it, and its classic metadata is tombstoned.
		g.consumer, g.dropClassic = newConsumerGroup(), g.metaOffset >= 0
	}
	if req.MemberEpoch < 0 {
		return g, c.leave848Locked(g, req, resp)
	}
	if g == nil {
		if req.MemberEpoch != 0 {
			return nil, fmt.Errorf("%w: group %q has no member %q", kerr.UnknownMemberID, req.Group, memberID)
		}
		g = c.groupLocked(req.Group, true)
		g.consumer = newConsumerGroup()
	}
	cg := g.consumer
	before := cg.epoch
	m, err := c.memberFor848Locked(g, req, memberID, clientID, clientHost)
	if err != nil {
		return g, err
	}
	if err := c.updateMember848Locked(cg, m, req); err != nil {
		return g, err
	}
	c.armSession848Locked(g, m)
	if req.Topics != nil {
		owned := tpSet{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				owned[tp848{t.TopicID, p}] = struct{}{}
			}
		}
		for tp := range m.revoking {
			if _, still := owned[tp]; !still {
				delete(m.revoking, tp)
			}
		}
		if len(m.revoking) == 0 && m.revokeTimer != nil {
			m.revokeSeq++
			m.revokeTimer.Stop()
		}
	}
	g.transitionLocked(Stable)
	c.refreshTargetLocked(cg, before)
	changed := c.reconcileLocked(g, m)
	resp.MemberID = &m.id
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	if changed || req.Topics != nil || req.MemberEpoch == 0 {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		a.Topics = assignmentTopics(m.assigned)
		resp.Assignment = &a
	}
	return g, nil
}

// validateHeartbeat848 checks what Kafka requires of a heartbeat.
func validateHeartbeat848(req *kmsg.ConsumerGroupHeartbeatRequest) error {
	switch {
	case req.Group == "":
		return fmt.Errorf("%w: empty group id", kerr.InvalidGroupID)
	case req.MemberEpoch < leaveStaticEpoch:
		return fmt.Errorf("%w: member epoch %d", kerr.InvalidRequest, req.MemberEpoch)
	case req.Version >= 1 && req.MemberID == "":
		return fmt.Errorf("%w: MemberId can't be empty", kerr.InvalidRequest)
	case req.MemberID == "" && req.MemberEpoch != 0:
		return fmt.Errorf("%w: MemberId can't be empty", kerr.InvalidRequest)
	case req.MemberEpoch == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return fmt.Errorf("%w: SubscribedTopicNames or SubscribedTopicRegex must be set when joining", kerr.InvalidRequest)
	case req.MemberEpoch == 0 && req.RebalanceTimeoutMillis <= 0:
		return fmt.Errorf("%w: RebalanceTimeoutMs must be positive when joining", kerr.InvalidRequest)
	case req.ServerAssignor != nil && *req.ServerAssignor != assignorUniform && *req.ServerAssignor != assignorRange:
		return fmt.Errorf("%w: server assignor %q (this coordinator has %q and %q)", kerr.UnsupportedAssignor, *req.ServerAssignor, assignorUniform, assignorRange)
	}
	if req.SubscribedTopicRegex != nil {
		if _, err := regexp.Compile(*req.SubscribedTopicRegex); err != nil {
			return fmt.Errorf("%w: SubscribedTopicRegex: %v", kerr.InvalidRegularExpression, err)
		}
	}
	return nil
}

// memberFor848Locked finds or admits the heartbeat's member, checking its
// epoch: the current one, or the previous one when the member owns no
// more than it was given (its last answer was lost), as Kafka accepts.
func (c *Coordinator) memberFor848Locked(g *group, req *kmsg.ConsumerGroupHeartbeatRequest, memberID, clientID, clientHost string) (*cmember, error) {
	cg := g.consumer
	m := cg.members[memberID]
	if req.MemberEpoch > 0 {
		if m == nil || m.left {
			return nil, fmt.Errorf("%w: group %q has no member %q", kerr.UnknownMemberID, g.id, memberID)
		}
		if req.MemberEpoch == m.epoch {
			return m, nil
		}
		if req.MemberEpoch == m.prevEpoch && req.Topics != nil && ownedWithin(req.Topics, m.assigned) {
			return m, nil
		}
		return nil, fmt.Errorf("%w: member %q is at epoch %d, not %d", kerr.FencedMemberEpoch, memberID, m.epoch, req.MemberEpoch)
	}
	// Epoch 0: a new member, or one rejoining after losing its state.
	if req.InstanceID != nil {
		if prev, ok := cg.static[*req.InstanceID]; ok && prev != memberID {
			old := cg.members[prev]
			if old != nil && !old.left {
				return nil, fmt.Errorf("%w: instance %q is held by member %q", kerr.UnreleasedInstanceID, *req.InstanceID, prev)
			}
			// The static member returns under a new id: it takes over
			// the old member's epoch and assignment.
			if old != nil {
				g.full848 = true // the old id's records go
				old.stopTimers()
				delete(cg.members, prev)
				m = &cmember{epoch: old.epoch, prevEpoch: old.prevEpoch, assigned: old.assigned, revoking: old.revoking, since: old.since,
					topics: old.topics, regex: old.regex, re: old.re, assignor: old.assignor}
				cg.target[memberID] = cg.target[prev]
				delete(cg.target, prev)
			}
		}
	}
	if m == nil {
		m = &cmember{assigned: tpSet{}, revoking: tpSet{}, since: map[tp848]int32{}}
		cg.epoch++ // a new member
	} else if cg.members[memberID] == m {
		// Rejoin at epoch 0 under the same id: the member abandoned
		// what it owned.
		m.assigned, m.revoking, m.since = tpSet{}, tpSet{}, map[tp848]int32{}
		m.prevEpoch, m.epoch = m.epoch, 0
	}
	m.id, m.clientID, m.clientHost, m.left = memberID, clientID, clientHost, false
	cg.members[memberID] = m
	if req.InstanceID != nil {
		cg.static[*req.InstanceID] = memberID
	}
	return m, nil
}

// ownedWithin reports whether every partition of topics is in s.
func ownedWithin(topics []kmsg.ConsumerGroupHeartbeatRequestTopic, s tpSet) bool {
	for _, t := range topics {
		for _, p := range t.Partitions {
			if _, ok := s[tp848{t.TopicID, p}]; !ok {
				return false
			}
		}
	}
	return true
}

// updateMember848Locked applies the heartbeat's fields that are set (a
// field left null means unchanged); a changed subscription bumps the
// group epoch.
func (c *Coordinator) updateMember848Locked(cg *consumerGroup, m *cmember, req *kmsg.ConsumerGroupHeartbeatRequest) error {
	if req.InstanceID != nil {
		m.instanceID = req.InstanceID
	}
	if req.RackID != nil {
		m.rackID = req.RackID
	}
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor = *req.ServerAssignor
		cg.epoch++
	}
	if req.SubscribedTopicNames != nil {
		topics := slices.Clone(req.SubscribedTopicNames)
		sort.Strings(topics)
		topics = slices.Compact(topics)
		if !slices.Equal(topics, m.topics) {
			m.topics = topics
			cg.epoch++
		}
	}
	if req.SubscribedTopicRegex != nil {
		if m.regex == nil || *m.regex != *req.SubscribedTopicRegex {
			re, err := regexp.Compile("^(?:" + *req.SubscribedTopicRegex + ")$")
			if err != nil {
				return fmt.Errorf("%w: SubscribedTopicRegex: %v", kerr.InvalidRegularExpression, err)
			}
			regex := *req.SubscribedTopicRegex
			m.regex, m.re = &regex, re
			cg.epoch++
		}
	}
	return nil
}

// leave848Locked serves a heartbeat at epoch -1 (leave) or -2 (a static
// member leaving for a while: it keeps its assignment until its session
// times out or it returns).
func (c *Coordinator) leave848Locked(g *group, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) error {
	var m *cmember
	if g != nil && g.consumer != nil {
		m = g.consumer.members[req.MemberID]
		if m == nil && req.InstanceID != nil {
			m = g.consumer.members[g.consumer.static[*req.InstanceID]]
		}
	}
	if m == nil {
		return fmt.Errorf("%w: group %q has no member %q", kerr.UnknownMemberID, req.Group, req.MemberID)
	}
	resp.MemberID = &m.id
	resp.MemberEpoch = req.MemberEpoch
	if req.MemberEpoch == leaveStaticEpoch && m.instanceID != nil {
		m.left = true
		c.armSession848Locked(g, m)
		return nil
	}
	g.removeConsumerMemberLocked(m)
	return nil
}
