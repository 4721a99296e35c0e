package group

import (
	"crypto/sha256"
	"encoding/binary"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Consumer group (KIP-848) states, named as Kafka names them.
const (
	consumerEmpty       = "Empty"
	consumerAssigning   = "Assigning"
	consumerReconciling = "Reconciling"
	consumerStable      = "Stable"
)

// consumerGroup is the KIP-848 state of a group of type "consumer": the
// group epoch (bumped by every change of members, subscriptions or
// subscribed topics), the target assignment computed at assignEpoch, and
// the members each reconciling toward their target. Every change is
// written to __consumer_offsets as Kafka's ConsumerGroup* records
// (persist848.go) before it is answered, and a new coordinator rebuilds
// the group from them (load848.go): members keep their ids, epochs and
// partitions across a coordinator change.
type consumerGroup struct {
	epoch       int32
	assignEpoch int32
	assignor    string
	members     map[string]*cmember
	static      map[string]string // instance id → member id
	target      map[string]tpSet
	topicsHash  int64 // of the subscribed topics at the last epoch bump (the record's MetadataHash)
	created     time.Time
}

// cmember is a KIP-848 member.
type cmember struct {
	id, clientID, clientHost string
	instanceID, rackID       *string
	epoch, prevEpoch         int32
	rebalanceTimeout         time.Duration
	topics                   []string // subscribed topic names, sorted
	regex                    *string
	re                       *regexp.Regexp
	assignor                 string
	assigned                 tpSet           // what the member was told it owns
	revoking                 tpSet           // what it was told to release and has not yet
	since                    map[tp848]int32 // the member epoch each owned partition was given at (KIP-1251)
	left                     bool            // a static member that left (epoch -2): its assignment waits for its return
	timer, revokeTimer       *time.Timer
	seq, revokeSeq           uint64
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{members: map[string]*cmember{}, static: map[string]string{}, target: map[string]tpSet{}, created: time.Now()}
}

// subscribes reports whether m subscribes to topic.
func (m *cmember) subscribes(topic string) bool {
	if _, ok := slices.BinarySearch(m.topics, topic); ok {
		return true
	}
	return m.re != nil && m.re.MatchString(topic)
}

// stateLocked is the group's state as ConsumerGroupDescribe and
// ListGroups report it.
func (cg *consumerGroup) stateLocked() string {
	if len(cg.members) == 0 {
		return consumerEmpty
	}
	if cg.assignEpoch != cg.epoch {
		return consumerAssigning
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignEpoch || len(m.revoking) > 0 || !m.assigned.equal(cg.target[m.id]) {
			return consumerReconciling
		}
	}
	return consumerStable
}

// topicsLocked is the topics the members subscribe to that exist, by name.
func (c *Coordinator) subscribedTopicsLocked(cg *consumerGroup) map[string]TopicInfo {
	out := map[string]TopicInfo{}
	if c.cfg.Topics == nil {
		return out
	}
	for _, t := range c.cfg.Topics() {
		for _, m := range cg.members {
			if m.subscribes(t.Name) {
				out[t.Name] = t
				break
			}
		}
	}
	return out
}

// hashTopics fingerprints topics' names, ids and partition counts (the
// first 8 bytes of a SHA-256): a change (a topic created, deleted or
// grown) bumps the group epoch.
func hashTopics(topics map[string]TopicInfo) int64 {
	h := sha256.New()
	for _, n := range sortedKeys(topics) {
		t := topics[n]
		h.Write([]byte(n))
		h.Write(t.ID[:])
		_ = binary.Write(h, binary.BigEndian, t.Partitions)
	}
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
}

// refreshTargetLocked bumps the group epoch when the subscribed topics
// changed since before (the epoch the group had when the current request
// began: all its changes make one bump, as in Kafka) and recomputes the
// target assignment when it is older than the group epoch.
func (c *Coordinator) refreshTargetLocked(cg *consumerGroup, before int32) {
	topics := c.subscribedTopicsLocked(cg)
	if h := hashTopics(topics); h != cg.topicsHash {
		cg.topicsHash = h
		cg.epoch++
	}
	cg.epoch = min(cg.epoch, before+1)
	if cg.assignEpoch == cg.epoch {
		return
	}
	in := assignInput{subs: map[string][]string{}, topics: topics, previous: cg.target}
	for id, m := range cg.members {
		in.members = append(in.members, id)
		for name := range topics {
			if m.subscribes(name) {
				in.subs[id] = append(in.subs[id], name)
			}
		}
		sort.Strings(in.subs[id])
	}
	sort.Strings(in.members)
	cg.target = assign(cg.assignorLocked(), in)
	cg.assignEpoch = cg.epoch
}

// assignorLocked is the assignor the members ask for most (ties to the
// first in name order), uniform by default, as Kafka picks it.
func (cg *consumerGroup) assignorLocked() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := assignorUniform
	for _, name := range []string{assignorRange, assignorUniform} {
		if votes[name] > votes[best] {
			best = name
		}
	}
	cg.assignor = best
	return best
}

// heldByOthersLocked is every partition a member other than m owns or
// has not yet released.
func (cg *consumerGroup) heldByOthersLocked(m *cmember) tpSet {
	out := tpSet{}
	for _, o := range cg.members {
		if o == m {
			continue
		}
		for tp := range o.assigned {
			out[tp] = struct{}{}
		}
		for tp := range o.revoking {
			out[tp] = struct{}{}
		}
	}
	return out
}

// reconcileLocked moves m toward its target: partitions not in the
// target are revoked first (the member keeps its epoch, so it can commit
// them, until it reports them released); then it takes the target's
// partitions that no other member holds any more, at the target epoch.
// It reports whether m's assignment changed.
func (c *Coordinator) reconcileLocked(g *group, m *cmember) bool {
	cg := g.consumer
	if len(m.revoking) > 0 {
		return false
	}
	target := cg.target[m.id]
	if drop := m.assigned.minus(target); len(drop) > 0 {
		m.revoking = drop
		m.assigned = m.assigned.minus(drop)
		c.armRevokeLocked(g, m)
		return true
	}
	changed := false
	if m.epoch != cg.assignEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignEpoch
		changed = true
	}
	held := cg.heldByOthersLocked(m)
	for tp := range target {
		if _, ok := m.assigned[tp]; ok {
			continue
		}
		if _, ok := held[tp]; ok {
			continue // unreleased: given once its owner lets it go
		}
		m.assigned[tp] = struct{}{}
		m.since[tp] = m.epoch
		changed = true
	}
	return changed
}

// armSession848Locked (re)starts m's session timer.
func (c *Coordinator) armSession848Locked(g *group, m *cmember) {
	m.seq++
	seq := m.seq
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timer = time.AfterFunc(c.cfg.ConsumerSessionTimeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.groups[g.id] != g || g.consumer == nil || g.consumer.members[m.id] != m || m.seq != seq {
			return
		}
		c.log.Info("consumer group member session expired", "group", g.id, "member", m.id, "session_timeout", c.cfg.ConsumerSessionTimeout)
		g.removeConsumerMemberLocked(m)
		g.persist848Locked()
	})
}

// armRevokeLocked fences m when it does not release its revoked
// partitions within its rebalance timeout.
func (c *Coordinator) armRevokeLocked(g *group, m *cmember) {
	m.revokeSeq++
	seq := m.revokeSeq
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
	}
	m.revokeTimer = time.AfterFunc(m.rebalanceTimeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.groups[g.id] != g || g.consumer == nil || g.consumer.members[m.id] != m || m.revokeSeq != seq || len(m.revoking) == 0 {
			return
		}
		c.log.Info("consumer group member did not release its partitions in time; fenced", "group", g.id, "member", m.id, "rebalance_timeout", m.rebalanceTimeout)
		g.removeConsumerMemberLocked(m)
		g.persist848Locked()
	})
}

// removeConsumerMemberLocked takes m out of the group and bumps the epoch.
func (g *group) removeConsumerMemberLocked(m *cmember) {
	cg := g.consumer
	m.stopTimers()
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	cg.epoch++
	g.c.refreshTargetLocked(cg, cg.epoch-1)
	if len(cg.members) == 0 {
		g.transitionLocked(Empty)
	}
}

func (m *cmember) stopTimers() {
	m.seq++
	m.revokeSeq++
	if m.timer != nil {
		m.timer.Stop()
	}
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
	}
}

// shutdownConsumerLocked stops every member's timers: the group is
// unloaded or deleted.
func (cg *consumerGroup) shutdownLocked() {
	for _, m := range cg.members {
		m.stopTimers()
	}
}

// assignmentTopics renders s as the heartbeat's assignment.
func assignmentTopics(s tpSet) []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic {
	out := []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, tp := range sortedTPs(s) {
		if n := len(out); n > 0 && out[n-1].TopicID == tp.id {
			out[n-1].Partitions = append(out[n-1].Partitions, tp.partition)
			continue
		}
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID, t.Partitions = tp.id, []int32{tp.partition}
		out = append(out, t)
	}
	return out
}

// validateCommitLocked checks an OffsetCommit's member and epoch (its
// generation field), as Kafka's ConsumerGroup.validateOffsetCommit: a
// commit from outside the group (epoch < 0) only while it is empty. As
// KIP-1251 allows, an epoch older than the member's is accepted when the
// member still owns every partition committed and was given each at that
// epoch or before (a commit sent while a heartbeat moved the member on).
func (c *Coordinator) validateCommitLocked(cg *consumerGroup, memberID string, epoch int32, topics []kmsg.OffsetCommitRequestTopic) error {
	if epoch < 0 && len(cg.members) == 0 {
		return nil
	}
	err := cg.validateMemberLocked(memberID, epoch)
	m := cg.members[memberID]
	if err != kerr.StaleMemberEpoch || epoch < 0 || epoch > m.epoch {
		return err
	}
	ids := map[string][16]byte{}
	for _, t := range c.cfg.Topics() {
		ids[t.Name] = t.ID
	}
	for _, t := range topics {
		id, ok := ids[t.Topic]
		if !ok {
			return err
		}
		for _, p := range t.Partitions {
			tp := tp848{id, p.Partition}
			_, owned := m.assigned[tp]
			_, revoking := m.revoking[tp]
			if since, ok := m.since[tp]; !ok || since > epoch || (!owned && !revoking) {
				return err
			}
		}
	}
	return nil
}

// validateFetchLocked checks an OffsetFetch's member and epoch, as
// Kafka's ConsumerGroup.validateOffsetFetch.
func (cg *consumerGroup) validateFetchLocked(memberID string, epoch int32) error {
	if epoch < 0 && memberID == "" {
		return nil
	}
	return cg.validateMemberLocked(memberID, epoch)
}

func (cg *consumerGroup) validateMemberLocked(memberID string, epoch int32) error {
	m := cg.members[memberID]
	if m == nil || m.left {
		return kerr.UnknownMemberID
	}
	if epoch != m.epoch {
		return kerr.StaleMemberEpoch
	}
	return nil
}
