package group

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// loader replays a partition of __consumer_offsets: the last record of
// each key wins, a tombstone removes.
type loader struct {
	groups    map[string]*loadedGroup
	skipped   int
	firstSkip error // the first skipped record's problem, for the log
}

type loadedGroup struct {
	meta       *kmsg.GroupMetadataValue
	metaOffset int64
	offsets    map[topicPartition]Offset
	c848       *loaded848 // KIP-848 records, nil when none
}

func newLoader() *loader { return &loader{groups: map[string]*loadedGroup{}} }

func (l *loader) group(id string) *loadedGroup {
	g := l.groups[id]
	if g == nil {
		g = &loadedGroup{offsets: map[topicPartition]Offset{}, metaOffset: -1}
		l.groups[id] = g
	}
	return g
}

// skip counts a record that does not decode.
func (l *loader) skip(offset int64, err error) {
	if l.skipped == 0 {
		l.firstSkip = fmt.Errorf("offset %d: %w", offset, err)
	}
	l.skipped++
}

// apply takes one record; records that do not decode are counted and
// skipped.
func (l *loader) apply(offset int64, r Record) {
	if is848Key(r.Key) {
		l.apply848(offset, r)
		return
	}
	k, err := decodeKey(r.Key)
	if err != nil {
		if !errors.Is(err, errUnknownKeyVersion) {
			l.skip(offset, err)
		}
		return
	}
	g := l.group(k.group)
	if k.isOffset {
		tp := topicPartition{k.topic, k.partition}
		if r.Value == nil {
			delete(g.offsets, tp)
			return
		}
		o, err := decodeOffsetValue(r.Value)
		if err != nil {
			l.skip(offset, err)
			return
		}
		o.logOffset = offset
		g.offsets[tp] = o
		return
	}
	if r.Value == nil {
		// As in Kafka, a group's tombstone removes its metadata only:
		// its offsets go by their own tombstones.
		g.meta, g.metaOffset = nil, offset
		return
	}
	v, err := decodeGroupValue(r.Value)
	if err != nil {
		l.skip(offset, err)
		return
	}
	g.meta, g.metaOffset = v, offset
}

// build turns what was loaded into groups: a classic group with members
// is Stable in its last generation (its members keep their assignment and
// must heartbeat within their session timeout), one without is Empty; a
// consumer group is rebuilt from its KIP-848 records (load848.go).
func (l *loader) build(c *Coordinator, part int32) []*group {
	var out []*group
	for id, lg := range l.groups {
		if lg.meta == nil && len(lg.offsets) == 0 && !lg.isConsumer() {
			continue
		}
		g := newGroup(c, id, part)
		g.offsets, g.metaOffset = lg.offsets, lg.metaOffset
		if lg.isConsumer() {
			g.dropClassic = lg.meta != nil
			c.buildConsumerLocked(g, lg.c848)
			out = append(out, g)
			continue
		}
		if lg.c848 != nil {
			g.written848 = lg.c848.written // stale records, tombstoned by the group's next KIP-848 write
		}
		if v := lg.meta; v != nil {
			g.protocolType, g.generation = v.ProtocolType, v.Generation
			if v.Protocol != nil {
				g.protocol = *v.Protocol
			}
			if v.Leader != nil {
				g.leader = *v.Leader
			}
			if v.CurrentStateTimestamp > 0 {
				g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
			}
			for _, vm := range v.Members {
				m := &member{
					id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
					protocolType: v.ProtocolType, sessionTimeout: time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
					rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond, assignment: vm.Assignment,
				}
				if m.sessionTimeout <= 0 {
					m.sessionTimeout = c.cfg.MinSessionTimeout
				}
				if m.rebalanceTimeout <= 0 {
					m.rebalanceTimeout = m.sessionTimeout
				}
				m.protocols = []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}}
				g.members[m.id] = m
				if m.instanceID != nil {
					g.static[*m.instanceID] = m.id
				}
			}
		}
		if len(g.members) > 0 {
			g.state = Stable
			for _, m := range g.members {
				g.armSessionLocked(m)
			}
		}
		out = append(out, g)
	}
	return out
}
