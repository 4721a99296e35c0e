package group

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup serves JoinGroup v0-v9. It blocks until the rebalance the
// member joins completes, the member is removed, or ctx ends.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, clientID, clientHost string) *kmsg.JoinGroupResponse {
	wait, resp := c.join(req, clientID, clientHost)
	if resp != nil {
		return resp
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		return joinError(req.MemberID, kerr.RebalanceInProgress)
	}
}

func (c *Coordinator) join(req *kmsg.JoinGroupRequest, clientID, clientHost string) (<-chan *kmsg.JoinGroupResponse, *kmsg.JoinGroupResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkLocked(req.Group); err != nil {
		return nil, joinError(req.MemberID, err)
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return nil, joinError(req.MemberID, kerr.InvalidSessionTimeout)
	}
	rebalance := session
	if req.Version >= 1 {
		rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	g := c.groupLocked(req.Group, req.MemberID == "")
	if g == nil {
		return nil, joinError(req.MemberID, kerr.UnknownMemberID)
	}
	if g.state == Dead {
		return nil, joinError(req.MemberID, kerr.CoordinatorNotAvailable)
	}
	if g.consumer != nil {
		if len(g.consumer.members) > 0 {
			return nil, joinError(req.MemberID, kerr.InconsistentGroupProtocol)
		}
		g.consumer = nil     // an empty consumer group becomes a classic group
		g.persist848Locked() // its records are tombstoned
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		if len(g.members) == 0 && g.state == Empty && len(g.offsets) == 0 {
			delete(c.groups, g.id)
		}
		return nil, joinError(req.MemberID, kerr.InconsistentGroupProtocol)
	}
	if req.MemberID == "" {
		id := clientID + "-" + uuid.NewString()
		if req.InstanceID != nil {
			return g.joinStaticLocked(req, id, clientID, clientHost, session, rebalance)
		}
		if req.Version >= 4 {
			// KIP-394: the member comes back with this id.
			g.addPendingLocked(id, session)
			r := joinError(id, kerr.MemberIDRequired)
			return nil, r
		}
		return g.addAndJoinLocked(req, id, clientID, clientHost, session, rebalance), nil
	}
	if t, ok := g.pending[req.MemberID]; ok {
		t.Stop()
		delete(g.pending, req.MemberID)
		return g.addAndJoinLocked(req, req.MemberID, clientID, clientHost, session, rebalance), nil
	}
	m := g.members[req.MemberID]
	if req.InstanceID != nil {
		if cur, ok := g.static[*req.InstanceID]; ok && cur != req.MemberID {
			return nil, joinError(req.MemberID, kerr.FencedInstanceID)
		}
	}
	if m == nil {
		return nil, joinError(req.MemberID, kerr.UnknownMemberID)
	}
	return g.rejoinLocked(m, req, clientID, clientHost, session, rebalance)
}

// addPendingLocked remembers a member id handed out with
// MEMBER_ID_REQUIRED until the member joins with it or its session ends.
func (g *group) addPendingLocked(id string, session time.Duration) {
	g.pending[id] = time.AfterFunc(session, func() {
		g.c.mu.Lock()
		defer g.c.mu.Unlock()
		if _, ok := g.pending[id]; ok {
			delete(g.pending, id)
			if g.state == PreparingRebalance {
				g.maybeCompleteJoinLocked()
			}
		}
	})
}

func newMember(req *kmsg.JoinGroupRequest, id, clientID, clientHost string, session, rebalance time.Duration) *member {
	return &member{
		id: id, instanceID: req.InstanceID, clientID: clientID, clientHost: clientHost,
		protocolType: req.ProtocolType, protocols: cloneProtocols(req.Protocols),
		sessionTimeout: session, rebalanceTimeout: rebalance, isNew: true,
	}
}

// addAndJoinLocked adds a new member and starts or joins a rebalance.
func (g *group) addAndJoinLocked(req *kmsg.JoinGroupRequest, id, clientID, clientHost string, session, rebalance time.Duration) <-chan *kmsg.JoinGroupResponse {
	m := newMember(req, id, clientID, clientHost, session, rebalance)
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.members[id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = id
	}
	if g.leader == "" {
		g.leader = id
	}
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	m.join, m.joinVer = ch, req.Version
	g.armSessionLocked(m)
	switch g.state {
	case PreparingRebalance:
		if g.initialDelay {
			g.extendInitialDelayLocked()
		}
		g.maybeCompleteJoinLocked()
	default:
		g.prepareRebalanceLocked("new member joined")
	}
	return ch
}

// joinStaticLocked serves the first join of a static member (KIP-345): a
// known instance takes over its old member's place under a new id, with no
// rebalance when the group is stable and its protocols did not change.
func (g *group) joinStaticLocked(req *kmsg.JoinGroupRequest, id, clientID, clientHost string, session, rebalance time.Duration) (<-chan *kmsg.JoinGroupResponse, *kmsg.JoinGroupResponse) {
	oldID, known := g.static[*req.InstanceID]
	old := g.members[oldID]
	if !known || old == nil {
		return g.addAndJoinLocked(req, id, clientID, clientHost, session, rebalance), nil
	}
	// The old member's waiting requests learn it was fenced.
	g.answerJoinLocked(old, joinError(old.id, kerr.FencedInstanceID))
	g.answerSyncLocked(old, syncResult{err: kerr.FencedInstanceID})
	if old.timer != nil {
		old.timer.Stop()
	}
	old.seq++
	delete(g.members, oldID)
	m := newMember(req, id, clientID, clientHost, session, rebalance)
	m.assignment, m.isNew = old.assignment, false
	g.members[id] = m
	g.static[*req.InstanceID] = id
	if g.leader == oldID {
		g.leader = id
	}
	g.armSessionLocked(m)
	sameProtocols := sameProtocols(old.protocols, req.Protocols)
	switch {
	case g.state == Stable && sameProtocols:
		// No rebalance: the member gets its old assignment in SyncGroup.
		r := g.joinResponseLocked(m, req.Version)
		// A leader gets the members but must not assign again (v9
		// SkipAssignment; an older leader's SyncGroup in Stable gets
		// the assignment it has). The new member id is written.
		r.SkipAssignment = g.leader == id
		g.persistGroupAsync()
		return nil, r
	case g.state == PreparingRebalance:
		ch := make(chan *kmsg.JoinGroupResponse, 1)
		m.join, m.joinVer = ch, req.Version
		g.maybeCompleteJoinLocked()
		return ch, nil
	default:
		ch := make(chan *kmsg.JoinGroupResponse, 1)
		m.join, m.joinVer = ch, req.Version
		g.prepareRebalanceLocked("static member rejoined with new metadata")
		return ch, nil
	}
}

// cloneProtocols copies a JoinGroup's protocols, metadata bytes included: a
// decoded request's byte fields share the connection's read buffer, which
// the next request overwrites.
func cloneProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := slices.Clone(ps)
	for i := range out {
		out[i].Metadata = bytes.Clone(out[i].Metadata)
	}
	return out
}

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(a, b, func(x, y kmsg.JoinGroupRequestProtocol) bool {
		return x.Name == y.Name && bytes.Equal(x.Metadata, y.Metadata)
	})
}

// rejoinLocked serves the join of a known member.
func (g *group) rejoinLocked(m *member, req *kmsg.JoinGroupRequest, clientID, clientHost string, session, rebalance time.Duration) (<-chan *kmsg.JoinGroupResponse, *kmsg.JoinGroupResponse) {
	changed := !sameProtocols(m.protocols, req.Protocols)
	m.protocols, m.protocolType = cloneProtocols(req.Protocols), req.ProtocolType
	m.sessionTimeout, m.rebalanceTimeout, m.clientID, m.clientHost = session, rebalance, clientID, clientHost
	g.armSessionLocked(m)
	if (g.state == Stable && m.id != g.leader && !changed) || (g.state == CompletingRebalance && !changed) {
		// Nothing to rebalance: the member lost a response; answer it
		// with the current generation.
		return nil, g.joinResponseLocked(m, req.Version)
	}
	if m.join != nil {
		g.answerJoinLocked(m, joinError(m.id, kerr.RebalanceInProgress))
	}
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	m.join, m.joinVer = ch, req.Version
	if g.state == PreparingRebalance {
		g.maybeCompleteJoinLocked()
	} else {
		g.prepareRebalanceLocked("member rejoined")
	}
	return ch, nil
}

// prepareRebalanceLocked starts a rebalance: members must rejoin within the
// rebalance timeout.
func (g *group) prepareRebalanceLocked(why string) {
	if g.state == CompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			g.answerSyncLocked(m, syncResult{err: kerr.RebalanceInProgress})
		}
	}
	wasEmpty := g.state == Empty
	g.transitionLocked(PreparingRebalance)
	g.c.m.rebalances.Inc()
	g.c.log.Debug("preparing rebalance", "group", g.id, "generation", g.generation, "reason", why)
	var wait time.Duration
	for _, m := range g.members {
		wait = max(wait, m.rebalanceTimeout)
	}
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.initialDelay = false
	if wasEmpty && g.c.cfg.InitialRebalanceDelay > 0 {
		// group.initial.rebalance.delay.ms: wait for more members, each
		// new one extending the wait, up to the rebalance timeout.
		g.initialDelay = true
		g.joinDeadline = time.Now().Add(wait)
		wait = min(g.c.cfg.InitialRebalanceDelay, wait)
	}
	g.armJoinTimerLocked(wait)
	g.maybeCompleteJoinLocked()
}

func (g *group) armJoinTimerLocked(d time.Duration) {
	gen := g.generation
	g.joinTimer = time.AfterFunc(d, func() {
		g.c.mu.Lock()
		defer g.c.mu.Unlock()
		if g.state == PreparingRebalance && g.generation == gen {
			g.completeJoinLocked()
		}
	})
}

// extendInitialDelayLocked restarts the initial delay after a new member
// joined, within the rebalance timeout.
func (g *group) extendInitialDelayLocked() {
	left := time.Until(g.joinDeadline)
	if left <= 0 {
		return
	}
	g.joinTimer.Stop()
	g.armJoinTimerLocked(min(g.c.cfg.InitialRebalanceDelay, left))
}

// maybeCompleteJoinLocked ends the join phase early when every member has
// rejoined and no new member may still come (no initial delay running and
// no pending member ids).
func (g *group) maybeCompleteJoinLocked() {
	if g.state != PreparingRebalance || g.initialDelay || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	g.completeJoinLocked()
}

// completeJoinLocked ends the join phase: members that did not rejoin are
// removed, a new generation starts and every joined member is answered.
func (g *group) completeJoinLocked() {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.initialDelay = false
	for _, m := range g.members {
		if m.join == nil {
			g.c.log.Info("member did not rejoin in time", "group", g.id, "member", m.id)
			g.removeMemberLocked(m)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.transitionLocked(Empty)
		g.protocol, g.leader = "", ""
		g.persistGroupAsync()
		return
	}
	g.protocol = g.selectProtocolLocked()
	if _, ok := g.members[g.leader]; !ok || g.leader == "" {
		for id := range g.members {
			g.leader = id
			break
		}
	}
	g.transitionLocked(CompletingRebalance)
	for _, m := range g.members {
		r := g.joinResponseLocked(m, m.joinVer)
		m.isNew = false
		g.answerJoinLocked(m, r)
		g.armSessionLocked(m)
	}
}

// joinResponseLocked is the successful JoinGroup answer for m: the leader
// gets every member's metadata for the chosen protocol.
func (g *group) joinResponseLocked(m *member, version int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.Generation, r.MemberID, r.LeaderID = g.generation, m.id, g.leader
	proto, ptype := g.protocol, g.protocolType
	r.Protocol, r.ProtocolType = &proto, &ptype
	if m.id == g.leader {
		for _, id := range sortedKeys(g.members) {
			o := g.members[id]
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID, jm.InstanceID, jm.ProtocolMetadata = o.id, o.instanceID, o.metadata(g.protocol)
			r.Members = append(r.Members, jm)
		}
	}
	return r
}
