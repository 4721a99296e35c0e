package group

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupDescribe serves ConsumerGroupDescribe v0-v1: a consumer
// group's epochs, assignor and members with their current and target
// assignments. A classic group or an unknown one is GROUP_ID_NOT_FOUND.
func (c *Coordinator) ConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	names := c.topicNamesLocked()
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group, dg.AuthorizedOperations = id, -2147483648
		if err := c.checkLocked(id); err != nil {
			dg.ErrorCode = codeOf(err)
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		g := c.groupLocked(id, false)
		if g == nil || g.consumer == nil || g.state == Dead {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " is not a consumer group."
			if g == nil {
				msg = "Group " + id + " not found."
			}
			dg.ErrorMessage = &msg
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		cg := g.consumer
		dg.State, dg.Epoch, dg.AssignmentEpoch, dg.AssignorName = cg.stateLocked(), cg.epoch, cg.assignEpoch, cg.assignorLocked()
		for _, mid := range sortedKeys(cg.members) {
			m := cg.members[mid]
			dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = m.id, m.instanceID, m.rackID, m.epoch
			dm.ClientID, dm.ClientHost, dm.SubscribedTopics, dm.SubscribedTopicRegex = m.clientID, m.clientHost, slices.Clone(m.topics), m.regex
			if dm.SubscribedTopics == nil {
				dm.SubscribedTopics = []string{}
			}
			dm.Assignment.TopicPartitions = describeTopics(m.assigned, names)
			dm.TargetAssignment.TopicPartitions = describeTopics(cg.target[m.id], names)
			dm.MemberType = 1 // consumer protocol (0 would be a classic member)
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// topicNamesLocked maps topic ids to names.
func (c *Coordinator) topicNamesLocked() map[[16]byte]string {
	out := map[[16]byte]string{}
	if c.cfg.Topics != nil {
		for _, t := range c.cfg.Topics() {
			out[t.ID] = t.Name
		}
	}
	return out
}

func describeTopics(s tpSet, names map[[16]byte]string) []kmsg.AssignmentTopicPartition {
	out := []kmsg.AssignmentTopicPartition{}
	for _, t := range assignmentTopics(s) {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Topic, tp.Partitions = t.TopicID, names[t.TopicID], t.Partitions
		out = append(out, tp)
	}
	return out
}
