package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat serves Heartbeat v0-v4.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = codeOf(c.heartbeat(req))
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkLocked(req.Group); err != nil {
		return err
	}
	g := c.groupLocked(req.Group, false)
	switch {
	case g == nil || g.state == Empty:
		return kerr.UnknownMemberID
	case g.state == Dead:
		return kerr.CoordinatorNotAvailable
	}
	m, err := g.memberLocked(req.MemberID, req.InstanceID)
	if err != nil {
		return err
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	g.armSessionLocked(m)
	if g.state == PreparingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// LeaveGroup serves LeaveGroup v0-v5: one member before v3, a batch of
// members (by member id or group.instance.id) from v3.
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkLocked(req.Group); err != nil {
		resp.ErrorCode = codeOf(err)
		return resp
	}
	leaving := req.Members
	if req.Version < 3 {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = req.MemberID
		leaving = []kmsg.LeaveGroupRequestMember{lm}
	}
	g := c.groupLocked(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	left := false
	for _, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		err := g.leaveLocked(lm.MemberID, lm.InstanceID)
		if err == nil {
			left = true
		}
		rm.ErrorCode = codeOf(err)
		resp.Members = append(resp.Members, rm)
	}
	if req.Version < 3 {
		resp.ErrorCode, resp.Members = resp.Members[0].ErrorCode, nil
	}
	if left {
		g.memberLeftLocked()
	}
	return resp
}

// leaveLocked removes one member; a static member may be named by its
// instance id alone.
func (g *group) leaveLocked(id string, instanceID *string) error {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if id != "" && id != cur {
			return kerr.FencedInstanceID
		}
		id = cur
	}
	if t, ok := g.pending[id]; ok {
		t.Stop()
		delete(g.pending, id)
		return nil
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID
	}
	g.c.log.Debug("member left", "group", g.id, "member", id)
	g.removeMemberLocked(m)
	return nil
}
