package group

import (
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a classic group's state, named as Kafka names it.
type State string

// The states of a classic group.
const (
	Empty               State = "Empty"
	PreparingRebalance  State = "PreparingRebalance"
	CompletingRebalance State = "CompletingRebalance"
	Stable              State = "Stable"
	Dead                State = "Dead"
)

// Offset is a committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	CommitTime  int64 // ms
	ExpireTime  int64 // ms; -1 unless a v1 value set it
	logOffset   int64 // where it is in __consumer_offsets; a later record wins
}

type topicPartition struct {
	topic     string
	partition int32
}

// group is one classic group. All fields are guarded by Coordinator.mu.
type group struct {
	c            *Coordinator
	id           string
	part         int32
	state        State
	stateTime    time.Time
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string // group.instance.id → member id
	pending      map[string]*time.Timer
	offsets      map[topicPartition]Offset
	metaOffset   int64 // log offset of the last group metadata written or loaded

	consumer *consumerGroup // set for a KIP-848 group (type "consumer")
	// written848 is the KIP-848 records last queued for writing, by key:
	// what the log holds once the queue is written (persist848.go).
	written848 map[string]written848
	// written848Epochs is the group and assignment epochs when records
	// were last queued; full848 asks for a whole diff next time (a
	// static member took another's place).
	written848Epochs [2]int32
	full848          bool
	// dropClassic: the group was a classic group with metadata in the
	// log; its next KIP-848 write tombstones that metadata.
	dropClassic bool
	queue       writeQueue // writes kept in the order their changes were made

	joinTimer    *time.Timer
	joinDeadline time.Time // the initial delay's end (rebalance timeout bound)
	initialDelay bool
}

// member is a member of a group.
type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	assignment       []byte

	join    chan *kmsg.JoinGroupResponse // set while awaiting the join's end
	joinVer int16
	sync    chan syncResult // set while awaiting the leader's assignment
	timer   *time.Timer     // session expiry
	seq     uint64          // invalidates older timers
	isNew   bool            // joined during this rebalance (Kafka's isNew)
}

type syncResult struct {
	err        error
	assignment []byte
}

func newGroup(c *Coordinator, id string, part int32) *group {
	return &group{
		c: c, id: id, part: part, state: Empty, stateTime: time.Now(),
		members: map[string]*member{}, static: map[string]string{}, pending: map[string]*time.Timer{},
		offsets: map[topicPartition]Offset{}, metaOffset: -1,
	}
}

func (g *group) transitionLocked(s State) {
	if g.state != s {
		g.state, g.stateTime = s, time.Now()
	}
}

// supportsProtocols reports whether a joining member's protocols fit the
// group: same protocol type, and one protocol every member supports.
func (g *group) supportsProtocols(ptype string, protos []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return ptype != "" && len(protos) > 0
	}
	if ptype != g.protocolType {
		return false
	}
	for _, p := range protos {
		all := true
		for _, m := range g.members {
			if !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (m *member) supports(name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (m *member) metadata(name string) []byte {
	for _, p := range m.protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

// selectProtocolLocked picks the protocol all members support that most
// members prefer (each votes for its first supported one), as Kafka does.
func (g *group) selectProtocolLocked() string {
	var candidates []string
	for _, m := range g.members {
		for _, p := range m.protocols {
			all := true
			for _, o := range g.members {
				all = all && o.supports(p.Name)
			}
			if all {
				candidates = append(candidates, p.Name)
			}
		}
		break
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	for _, name := range candidates {
		if votes[name] > bestVotes {
			best, bestVotes = name, votes[name]
		}
	}
	return best
}

// codeOf is err's Kafka error code: 0 for nil, UNKNOWN_SERVER_ERROR when
// err carries none.
func codeOf(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// sortedKeys is m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// shutdownLocked answers every waiting request with err and stops timers:
// the group is unloaded or deleted.
func (g *group) shutdownLocked(err error) {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	for _, t := range g.pending {
		t.Stop()
	}
	if g.consumer != nil {
		g.consumer.shutdownLocked()
	}
	for _, m := range g.members {
		if m.timer != nil {
			m.timer.Stop()
		}
		g.answerJoinLocked(m, joinError(m.id, err))
		g.answerSyncLocked(m, syncResult{err: err})
	}
	g.transitionLocked(Dead)
}

func (g *group) answerJoinLocked(m *member, r *kmsg.JoinGroupResponse) {
	if m.join != nil {
		m.join <- r
		m.join = nil
	}
}

func (g *group) answerSyncLocked(m *member, r syncResult) {
	if m.sync != nil {
		m.sync <- r
		m.sync = nil
	}
}

func joinError(memberID string, err error) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.ErrorCode, r.MemberID, r.Generation = codeOf(err), memberID, -1
	return r
}

// armSessionLocked (re)starts m's session timer: a member that is not
// heard from within its session timeout leaves the group.
func (g *group) armSessionLocked(m *member) {
	m.seq++
	seq := m.seq
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timer = time.AfterFunc(m.sessionTimeout, func() { g.c.expireMember(g, m, seq) })
}

// expireMember removes a member whose session timed out.
func (c *Coordinator) expireMember(g *group, m *member, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[g.id] != g || g.members[m.id] != m || m.seq != seq {
		return
	}
	if m.join != nil {
		// Awaiting the join's end counts as alive (Kafka completes the
		// heartbeat of a member waiting in a join).
		g.armSessionLocked(m)
		return
	}
	c.log.Info("member session expired", "group", g.id, "member", m.id, "session_timeout", m.sessionTimeout)
	g.removeMemberLocked(m)
	g.memberLeftLocked()
}

// removeMemberLocked takes m out of the group.
func (g *group) removeMemberLocked(m *member) {
	if m.timer != nil {
		m.timer.Stop()
	}
	m.seq++
	g.answerJoinLocked(m, joinError(m.id, kerr.UnknownMemberID))
	g.answerSyncLocked(m, syncResult{err: kerr.UnknownMemberID})
	delete(g.members, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		for id := range g.members {
			g.leader = id
			break
		}
	}
}

// memberLeftLocked moves the group on after members left.
func (g *group) memberLeftLocked() {
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalanceLocked("member left")
	case PreparingRebalance:
		g.maybeCompleteJoinLocked()
	}
}
