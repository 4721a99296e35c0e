package group

import (
	"bytes"
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup serves SyncGroup v0-v5: the leader hands in the assignment,
// every member gets its own once it is written.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	wait, err := c.sync(req, resp)
	if err != nil {
		resp.ErrorCode = codeOf(err)
		return resp
	}
	if wait == nil {
		return resp
	}
	select {
	case r := <-wait:
		resp.ErrorCode, resp.MemberAssignment = codeOf(r.err), r.assignment
	case <-ctx.Done():
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp
}

func (c *Coordinator) sync(req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse) (<-chan syncResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkLocked(req.Group); err != nil {
		return nil, err
	}
	g := c.groupLocked(req.Group, false)
	if g == nil {
		return nil, kerr.UnknownMemberID
	}
	m, err := g.memberLocked(req.MemberID, req.InstanceID)
	if err != nil {
		return nil, err
	}
	if req.Generation != g.generation {
		return nil, kerr.IllegalGeneration
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		return nil, kerr.InconsistentGroupProtocol
	}
	// Copies: the response is encoded after the lock is released, while
	// a rebalance may change the group's protocol.
	ptype, proto := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &ptype, &proto
	switch g.state {
	case PreparingRebalance:
		return nil, kerr.RebalanceInProgress
	case Stable:
		g.armSessionLocked(m)
		resp.MemberAssignment = m.assignment
		return nil, nil
	case CompletingRebalance:
	default:
		return nil, kerr.UnknownMemberID
	}
	g.armSessionLocked(m)
	ch := make(chan syncResult, 1)
	g.answerSyncLocked(m, syncResult{err: kerr.RebalanceInProgress}) // a repeated sync replaces the older
	m.sync = ch
	if m.id == g.leader {
		for _, a := range req.GroupAssignment {
			if o := g.members[a.MemberID]; o != nil {
				o.assignment = bytes.Clone(a.MemberAssignment) // the request's bytes share the connection's buffer
			}
		}
		g.storeAssignmentLocked()
	}
	return ch, nil
}

// memberLocked finds a member, fencing a static member's older instance.
func (g *group) memberLocked(id string, instanceID *string) (*member, error) {
	if instanceID != nil {
		if cur, ok := g.static[*instanceID]; ok && cur != id {
			return nil, kerr.FencedInstanceID
		}
	}
	m := g.members[id]
	if m == nil {
		return nil, kerr.UnknownMemberID
	}
	return m, nil
}

// storeAssignmentLocked writes the generation's assignment and then makes
// the group Stable and answers every waiting SyncGroup; a failed write
// starts the rebalance over.
func (g *group) storeAssignmentLocked() {
	rec, gen, c := g.metadataRecordLocked(), g.generation, g.c
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		off, err := c.write(g.part, []Record{rec})
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.groups[g.id] != g || g.generation != gen || g.state != CompletingRebalance {
			return
		}
		if err != nil {
			c.log.Warn("write group assignment; rebalancing again", "group", g.id, "generation", gen, "error", err)
			for _, m := range g.members {
				m.assignment = nil
				g.answerSyncLocked(m, syncResult{err: kerr.NotCoordinator})
			}
			g.prepareRebalanceLocked("assignment not written")
			return
		}
		g.metaOffset = max(g.metaOffset, off)
		g.transitionLocked(Stable)
		for _, m := range g.members {
			g.answerSyncLocked(m, syncResult{assignment: m.assignment})
		}
	}()
}
