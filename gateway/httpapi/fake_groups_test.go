package httpapi

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/backend"
)

// fakeGroup is a consumer group of the fake backend: its live members and
// committed offsets. The group named "unavailable" answers 503.
type fakeGroup struct {
	members   []backend.GroupMember
	committed map[string]map[int32]int64
	// at is when each offset was committed through the fake (ms).
	at map[string]map[int32]int64
}

// addGroup adds a group with members and committed offsets.
func (f *fakeBackend) addGroup(name string, members []backend.GroupMember, committed map[string]map[int32]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.groups == nil {
		f.groups = map[string]*fakeGroup{}
	}
	if committed == nil {
		committed = map[string]map[int32]int64{}
	}
	f.groups[name] = &fakeGroup{members: members, committed: committed}
}

func groupUnavailable(name string) error {
	if name != "unavailable" {
		return nil
	}
	e := apierr.New(http.StatusServiceUnavailable, apierr.CodeUnavailable, "the coordinator of group %q cannot answer now; retry", name)
	e.RetryAfter = 1e9
	return e
}

func (f *fakeBackend) groupLocked(name string) (*fakeGroup, error) {
	if err := groupUnavailable(name); err != nil {
		return nil, err
	}
	g, ok := f.groups[name]
	if !ok {
		return nil, apierr.New(http.StatusNotFound, apierr.CodeGroupNotFound, "group %q does not exist", name)
	}
	return g, nil
}

func (f *fakeBackend) ListGroups(ctx context.Context) ([]backend.GroupSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []backend.GroupSummary{}
	for name, g := range f.groups {
		out = append(out, backend.GroupSummary{Name: name, Type: backend.GroupTypeClassic, State: g.state(), ProtocolType: "consumer"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (g *fakeGroup) state() string {
	if len(g.members) > 0 {
		return "Stable"
	}
	return backend.GroupEmpty
}

func (f *fakeBackend) DescribeGroup(ctx context.Context, name string) (backend.GroupInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.groupLocked(name)
	if err != nil {
		return backend.GroupInfo{}, err
	}
	info := backend.GroupInfo{Name: name, Type: backend.GroupTypeClassic, State: g.state(), ProtocolType: "consumer", Members: g.members}
	if len(g.members) > 0 {
		info.Protocol = "range"
	}
	owner := map[string]map[int32]string{}
	for _, m := range g.members {
		for t, ps := range m.Assignment {
			if owner[t] == nil {
				owner[t] = map[int32]string{}
			}
			for _, p := range ps {
				owner[t][p] = m.MemberID
			}
		}
	}
	topics := map[string]bool{}
	for t := range g.committed {
		topics[t] = true
	}
	for t := range owner {
		topics[t] = true
	}
	for t := range topics {
		ft, ok := f.topics[t]
		if !ok {
			continue
		}
		for i, p := range ft.parts {
			c, committed := g.committed[t][int32(i)]
			member := owner[t][int32(i)]
			if !committed && member == "" {
				continue
			}
			end := p.logStart + int64(len(p.records))
			gp := backend.GroupPartition{Topic: t, Partition: int32(i), Committed: -1, LogStart: p.logStart, LogEnd: end, MemberID: member, CommitTime: -1}
			if at, ok := g.at[t][int32(i)]; ok {
				gp.CommitTime = at
			}
			from := p.logStart
			if committed {
				gp.Committed, from = c, c
			}
			gp.Lag = end - from
			info.Partitions = append(info.Partitions, gp)
		}
	}
	sort.Slice(info.Partitions, func(i, j int) bool {
		a, b := info.Partitions[i], info.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return info, nil
}

// emptyGroupLocked returns the group, made when unknown, refusing one
// with live members.
func (f *fakeBackend) emptyGroupLocked(name string) (*fakeGroup, error) {
	if err := groupUnavailable(name); err != nil {
		return nil, err
	}
	g, ok := f.groups[name]
	if !ok {
		if f.groups == nil {
			f.groups = map[string]*fakeGroup{}
		}
		g = &fakeGroup{committed: map[string]map[int32]int64{}}
		f.groups[name] = g
	}
	if len(g.members) > 0 {
		return nil, apierr.New(http.StatusConflict, apierr.CodeGroupNotEmpty, "group %q has live members", name)
	}
	return g, nil
}

func (g *fakeGroup) commit(topic string, p int32, off int64) {
	if g.committed[topic] == nil {
		g.committed[topic] = map[int32]int64{}
	}
	g.committed[topic][p] = off
	if g.at == nil {
		g.at = map[string]map[int32]int64{}
	}
	if g.at[topic] == nil {
		g.at[topic] = map[int32]int64{}
	}
	g.at[topic][p] = time.Now().UnixMilli()
}

func (f *fakeBackend) CommitGroupOffset(ctx context.Context, group, topic string, partition int32, offset int64) (backend.CommittedOffset, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.topicLocked(topic)
	if err != nil {
		return backend.CommittedOffset{}, err
	}
	if int(partition) >= len(t.parts) {
		return backend.CommittedOffset{}, apierr.New(http.StatusNotFound, apierr.CodePartitionNotFound, "topic %q has no partition %d", topic, partition)
	}
	p := t.parts[partition]
	if end := p.logStart + int64(len(p.records)); offset < p.logStart || offset > end {
		e := apierr.New(http.StatusRequestedRangeNotSatisfiable, apierr.CodeOffsetOutOfRange, "offset %d is outside [%d, %d]", offset, p.logStart, end)
		e.Extra = map[string]any{"log_start_offset": p.logStart, "high_watermark": end}
		return backend.CommittedOffset{}, e
	}
	g, err := f.emptyGroupLocked(group)
	if err != nil {
		return backend.CommittedOffset{}, err
	}
	g.commit(topic, partition, offset)
	return backend.CommittedOffset{Topic: topic, Partition: partition, Offset: offset}, nil
}

func (f *fakeBackend) ResetGroupOffsets(ctx context.Context, group, topic string, partition *int32, to backend.ResetTo) ([]backend.CommittedOffset, error) {
	bounds, err := f.Offsets(ctx, topic, to.Time)
	if err != nil {
		return nil, err
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i].Partition < bounds[j].Partition })
	if partition != nil && int(*partition) >= len(bounds) {
		return nil, apierr.New(http.StatusNotFound, apierr.CodePartitionNotFound, "topic %q has no partition %d", topic, *partition)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.emptyGroupLocked(group)
	if err != nil {
		return nil, err
	}
	var out []backend.CommittedOffset
	for _, po := range bounds {
		if partition != nil && po.Partition != *partition {
			continue
		}
		at := po.Earliest
		switch {
		case to.Latest:
			at = po.Latest
		case to.Time != nil:
			at = *po.ForTimestamp
			if at < 0 {
				at = po.Latest
			}
		}
		g.commit(topic, po.Partition, at)
		out = append(out, backend.CommittedOffset{Topic: topic, Partition: po.Partition, Offset: at})
	}
	return out, nil
}

func (f *fakeBackend) CommittedOffsetOf(ctx context.Context, group, topic string, partition int32) (int64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := groupUnavailable(group); err != nil {
		return 0, false, err
	}
	g, ok := f.groups[group]
	if !ok {
		return 0, false, nil
	}
	off, ok := g.committed[topic][partition]
	return off, ok, nil
}

func (f *fakeBackend) DeleteGroup(ctx context.Context, group string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.groupLocked(group)
	if err != nil {
		return err
	}
	if len(g.members) > 0 {
		return apierr.New(http.StatusConflict, apierr.CodeGroupNotEmpty, "group %q has live members", group)
	}
	delete(f.groups, group)
	return nil
}
