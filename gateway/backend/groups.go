package backend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// Consumer groups, read through kadm from the groups' coordinators: the
// gateway keeps nothing about a group in memory, so any gateway copy
// answers the same.

// Group states as the coordinator names them (Kafka's).
const (
	GroupEmpty = "Empty"
	GroupDead  = "Dead"
)

// Group types, as Kafka's ListGroups v5 names them: a classic group
// (JoinGroup/SyncGroup, client-side assignors) or a consumer group of
// KIP-848's protocol (ConsumerGroupHeartbeat, server-side assignors).
const (
	GroupTypeClassic  = "classic"
	GroupTypeConsumer = "consumer"
)

// GroupSummary is one group of GET /v1/groups.
type GroupSummary struct {
	Name         string
	Type         string // GroupTypeClassic or GroupTypeConsumer
	State        string
	ProtocolType string
}

// GroupInfo describes one group: its members and, per partition it has
// committed offsets for or has assigned, where it is.
type GroupInfo struct {
	Name         string
	Type         string // GroupTypeClassic or GroupTypeConsumer
	State        string
	ProtocolType string
	// Protocol is the assignor the members agreed on ("range",
	// "cooperative-sticky"...; a consumer group's server-side assignor,
	// "uniform" or "range"); empty when a classic group has no members.
	Protocol   string
	Members    []GroupMember
	Partitions []GroupPartition // by topic, then partition
}

// GroupMember is a live member of a group.
type GroupMember struct {
	MemberID   string
	InstanceID string // static membership's group.instance.id; empty if none
	ClientID   string
	ClientHost string
	// Assignment is the partitions the member consumes, by topic; empty
	// for a group whose protocol type is not "consumer".
	Assignment map[string][]int32
}

// GroupPartition is where a group is on one partition.
type GroupPartition struct {
	Topic     string
	Partition int32
	// Committed is the committed offset, -1 when none.
	Committed int64
	// LogStart and LogEnd are the partition's log start offset and high
	// watermark.
	LogStart int64
	LogEnd   int64
	// Lag is LogEnd minus Committed, or LogEnd minus LogStart when nothing
	// is committed (everything readable is still to consume); -1 when the
	// partition's offsets could not be listed.
	Lag int64
	// MemberID is the member it is assigned to, empty when none.
	MemberID string
	// CommitTime is when the committed offset was committed, in
	// milliseconds since the Unix epoch; -1 when not known (nothing
	// committed, or the commit lies beyond what is searched: see
	// commitTimes).
	CommitTime int64
}

// groupError maps the group calls' Kafka errors to the API's.
func groupError(err error, group string) error {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return apiError(err, scope{partition: -1})
	}
	switch ke {
	case kerr.GroupIDNotFound:
		return apierr.New(http.StatusNotFound, apierr.CodeGroupNotFound, "group %q does not exist", group)
	case kerr.NonEmptyGroup, kerr.UnknownMemberID, kerr.IllegalGeneration, kerr.RebalanceInProgress:
		return liveMembers(group, err)
	case kerr.InvalidGroupID:
		return apierr.Invalid("group %q is not a valid group id", group)
	case kerr.GroupAuthorizationFailed:
		return apierr.New(http.StatusForbidden, apierr.CodeForbidden, "the cluster refused access to group %q", group)
	}
	if ke.Retriable { // coordinator moving or loading
		return unavailable(err, "the coordinator of group %q cannot answer now (%s)", group, ke.Message)
	}
	return apiError(err, scope{partition: -1})
}

// liveMembers is the 409 for changing the offsets of, or deleting, a group
// that has live members, as kafka-consumer-groups refuses it.
func liveMembers(group string, err error) error {
	e := apierr.New(http.StatusConflict, apierr.CodeGroupNotEmpty,
		"group %q has live members; stop its consumers first (its offsets change only while it is empty)", group)
	e.Err = err
	return e
}

// ListGroups lists every group of the cluster, by name.
func (b *Backend) ListGroups(ctx context.Context) ([]GroupSummary, error) {
	if err := b.live(); err != nil {
		return nil, apiError(err, scope{partition: -1})
	}
	listed, err := b.adm.ListGroups(ctx)
	if err != nil {
		return nil, groupError(fmt.Errorf("backend: list groups: %w", err), "")
	}
	// ListGroups v5 names each group's type only when asked to filter
	// by it: the consumer groups are listed apart.
	consumers, err := b.adm.ListGroupsByType(ctx, []string{GroupTypeConsumer})
	if err != nil {
		return nil, groupError(fmt.Errorf("backend: list consumer groups: %w", err), "")
	}
	out := make([]GroupSummary, 0, len(listed))
	for _, g := range listed.Sorted() {
		typ := GroupTypeClassic
		if _, ok := consumers[g.Group]; ok {
			typ = GroupTypeConsumer
		}
		out = append(out, GroupSummary{Name: g.Group, Type: typ, State: g.State, ProtocolType: g.ProtocolType})
	}
	return out, nil
}

// describeConsumerGroup describes group with ConsumerGroupDescribe;
// found is false when it is not a consumer group (GROUP_ID_NOT_FOUND).
func (b *Backend) describeConsumerGroup(ctx context.Context, group string) (d kadm.DescribedConsumerGroup, found bool, err error) {
	described, err := b.adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		return d, false, groupError(fmt.Errorf("backend: describe consumer group %q: %w", group, err), group)
	}
	d, ok := described[group]
	switch {
	case !ok || errors.Is(d.Err, kerr.GroupIDNotFound):
		return d, false, nil
	case d.Err != nil:
		return d, false, groupError(fmt.Errorf("backend: describe consumer group %q: %w", group, d.Err), group)
	}
	return d, true, nil
}

// consumerGroupMembers is a consumer group's members as GroupMembers, and
// the member each assigned partition belongs to.
func consumerGroupMembers(d kadm.DescribedConsumerGroup) ([]GroupMember, map[topicPartition]string) {
	members := make([]GroupMember, 0, len(d.Members))
	owners := map[topicPartition]string{}
	for _, m := range d.Members {
		gm := GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assignment: map[string][]int32{}}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		m.Assignment.EachPartitions(func(t string, ps []int32) {
			ps = slices.Sorted(slices.Values(ps))
			gm.Assignment[t] = ps
			for _, p := range ps {
				owners[topicPartition{t, p}] = m.MemberID
			}
		})
		members = append(members, gm)
	}
	return members, owners
}

// DescribeGroup describes a group with its lag. A group the coordinator does
// not know (state Dead, nothing committed) is 404 group_not_found.
func (b *Backend) DescribeGroup(ctx context.Context, group string) (GroupInfo, error) {
	if err := b.live(); err != nil {
		return GroupInfo{}, apiError(err, scope{partition: -1})
	}
	lags, err := b.adm.Lag(ctx, group)
	if err != nil {
		return GroupInfo{}, groupError(fmt.Errorf("backend: describe group %q: %w", group, err), group)
	}
	l, ok := lags[group]
	if !ok {
		return GroupInfo{}, groupError(kerr.GroupIDNotFound, group)
	}
	if err := l.Error(); err != nil {
		return GroupInfo{}, groupError(fmt.Errorf("backend: describe group %q: %w", group, err), group)
	}
	var consumer *kadm.DescribedConsumerGroup
	if l.State == GroupDead {
		// Not a classic group: a KIP-848 consumer group, or none.
		d, found, err := b.describeConsumerGroup(ctx, group)
		if err != nil {
			return GroupInfo{}, err
		}
		if found {
			consumer = &d
		}
	}
	if l.State == GroupDead && len(l.Lag) == 0 && consumer == nil {
		return GroupInfo{}, groupError(kerr.GroupIDNotFound, group)
	}
	info := GroupInfo{Name: group, Type: GroupTypeClassic, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Members: make([]GroupMember, 0, len(l.Members)), Partitions: make([]GroupPartition, 0)}
	var owners map[topicPartition]string
	if consumer != nil {
		info.Type, info.State, info.ProtocolType, info.Protocol = GroupTypeConsumer, consumer.State, GroupTypeConsumer, consumer.AssignorName
		info.Members, owners = consumerGroupMembers(*consumer)
	}
	for _, m := range l.Members {
		gm := GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assignment: map[string][]int32{}}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				gm.Assignment[t.Topic] = append(gm.Assignment[t.Topic], ps...)
			}
		}
		info.Members = append(info.Members, gm)
	}
	want := map[topicPartition]bool{}
	for _, pl := range l.Lag.Sorted() {
		gp := groupPartition(pl)
		if owner, ok := owners[topicPartition{gp.Topic, gp.Partition}]; ok {
			gp.MemberID = owner
		}
		if gp.Committed >= 0 {
			want[topicPartition{gp.Topic, gp.Partition}] = true
		}
		info.Partitions = append(info.Partitions, gp)
	}
	if len(owners) > 0 {
		// A consumer group's assigned partitions without a commit, which
		// kadm's lag (from the classic description) does not know.
		uncommitted, err := b.uncommittedPartitions(ctx, owners, info.Partitions)
		if err != nil {
			return GroupInfo{}, err
		}
		info.Partitions = append(info.Partitions, uncommitted...)
		slices.SortFunc(info.Partitions, func(a, b GroupPartition) int {
			return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
		})
	}
	times, err := b.commitTimes(ctx, group, want)
	if err != nil {
		// The offsets and lag stand without their times.
		b.log.Warn("commit times of group not read", "group", group, "error", err)
	}
	for i := range info.Partitions {
		gp := &info.Partitions[i]
		if at, ok := times[topicPartition{gp.Topic, gp.Partition}]; ok {
			gp.CommitTime = at
		}
	}
	return info, nil
}

// uncommittedPartitions is where a group is on the partitions of owners
// (partition → member) that have no entry in have: nothing committed,
// lag from the log start.
func (b *Backend) uncommittedPartitions(ctx context.Context, owners map[topicPartition]string, have []GroupPartition) ([]GroupPartition, error) {
	missing := maps.Clone(owners)
	for _, gp := range have {
		delete(missing, topicPartition{gp.Topic, gp.Partition})
	}
	if len(missing) == 0 {
		return nil, nil
	}
	var topics []string
	for tp := range missing {
		if !slices.Contains(topics, tp.topic) {
			topics = append(topics, tp.topic)
		}
	}
	starts, err := b.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, apiError(fmt.Errorf("backend: log start offsets of %v: %w", topics, err), scope{partition: -1})
	}
	ends, err := b.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, apiError(fmt.Errorf("backend: log end offsets of %v: %w", topics, err), scope{partition: -1})
	}
	listed := func(l kadm.ListedOffsets, tp topicPartition) kadm.ListedOffset {
		o, ok := l.Lookup(tp.topic, tp.partition)
		if !ok {
			o.Err = fmt.Errorf("partition %s/%d missing from list offsets", tp.topic, tp.partition)
		}
		return o
	}
	out := make([]GroupPartition, 0, len(missing))
	for tp, member := range missing {
		gp := groupPartition(kadm.GroupMemberLag{Topic: tp.topic, Partition: tp.partition, Commit: kadm.Offset{At: -1},
			Start: listed(starts, tp), End: listed(ends, tp)})
		gp.MemberID = member
		out = append(out, gp)
	}
	return out, nil
}

// groupPartition is one partition's lag as GroupPartition.
func groupPartition(pl kadm.GroupMemberLag) GroupPartition {
	gp := GroupPartition{Topic: pl.Topic, Partition: pl.Partition, Committed: pl.Commit.At,
		LogStart: pl.Start.Offset, LogEnd: pl.End.Offset, Lag: -1, CommitTime: -1}
	if gp.Committed < 0 {
		gp.Committed = -1
	}
	if pl.Member != nil {
		gp.MemberID = pl.Member.MemberID
	}
	if pl.Start.Err != nil || pl.End.Err != nil {
		gp.LogStart, gp.LogEnd = -1, -1
		return gp
	}
	from := gp.Committed
	if from < 0 {
		from = gp.LogStart
	}
	gp.Lag = max(gp.LogEnd-from, 0)
	return gp
}
