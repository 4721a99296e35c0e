package group

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups serves ListGroups v0-v5: the groups this broker coordinates,
// filtered by state (v4) and type (v5: "classic" is every group here).
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range c.parts {
		if !op.loaded {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			return resp
		}
	}
	wantState := func(s State) bool {
		return len(req.StatesFilter) == 0 || slices.ContainsFunc(req.StatesFilter, func(f string) bool { return strings.EqualFold(f, string(s)) })
	}
	wantType := func(t string) bool {
		return len(req.TypesFilter) == 0 || slices.ContainsFunc(req.TypesFilter, func(f string) bool { return strings.EqualFold(f, t) })
	}
	for _, id := range sortedKeys(c.groups) {
		g := c.groups[id]
		typ, state, ptype := "classic", g.state, g.protocolType
		if g.consumer != nil {
			typ, state, ptype = "consumer", State(g.consumer.stateLocked()), "consumer"
		}
		if g.state == Dead || !wantState(state) || !wantType(typ) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = id, ptype, string(state), typ
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DescribeGroups serves DescribeGroups v0-v5. A group not found is
// described as Dead, as Kafka does before v6.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.AuthorizedOperations = id, -2147483648
		if err := c.checkLocked(id); err != nil {
			dg.ErrorCode = codeOf(err)
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		g := c.groupLocked(id, false)
		if g == nil || g.consumer != nil {
			// A consumer group is not a classic group: Kafka describes
			// it as Dead here (v0-v5); ConsumerGroupDescribe describes it.
			dg.State = string(Dead)
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg.State, dg.ProtocolType = string(g.state), g.protocolType
		if g.state == Stable {
			dg.Protocol = g.protocol
		}
		for _, mid := range sortedKeys(g.members) {
			m := g.members[mid]
			dm := kmsg.NewDescribeGroupsResponseGroupMember()
			dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
			if g.state == Stable {
				dm.ProtocolMetadata, dm.MemberAssignment = m.metadata(g.protocol), m.assignment
			}
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// DeleteGroups serves DeleteGroups v0-v2: an empty group's offsets and
// metadata are tombstoned and the group is gone.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		rg.ErrorCode = codeOf(c.deleteGroup(id))
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(id string) error {
	c.mu.Lock()
	if err := c.checkLocked(id); err != nil {
		c.mu.Unlock()
		return err
	}
	g := c.groupLocked(id, false)
	switch {
	case g == nil || g.state == Dead:
		c.mu.Unlock()
		return kerr.GroupIDNotFound
	case g.state != Empty:
		c.mu.Unlock()
		return kerr.NonEmptyGroup
	}
	written := g.enqueueLocked(g.tombstonesLocked(sortedOffsets(g.offsets), true))
	c.mu.Unlock()
	if err := <-written; err != nil {
		return writeError(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[id] == g && g.state == Empty {
		g.shutdownLocked(kerr.GroupIDNotFound)
		delete(c.groups, id)
	}
	return nil
}

// tombstonesLocked is the records that delete offsets (and, when
// withGroup, the group's metadata and its KIP-848 records: the group is
// gone from the log once compacted). They are written through the
// group's queue, after the changes made before them.
func (g *group) tombstonesLocked(tps []topicPartition, withGroup bool) []Record {
	out := make([]Record, 0, len(tps)+1)
	for _, tp := range tps {
		out = append(out, Record{Key: offsetKey(g.id, tp.topic, tp.partition)})
	}
	if withGroup {
		out = append(out, Record{Key: groupKey(g.id)})
		cg := g.consumer
		g.consumer = nil
		out = append(out, g.changes848Locked()...)
		g.consumer = cg
	}
	return out
}

func sortedOffsets(m map[topicPartition]Offset) []topicPartition {
	out := make([]topicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b topicPartition) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition) - int(b.partition)
	})
	return out
}
