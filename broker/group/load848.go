package group

import (
	"encoding/binary"
	"regexp"
	"slices"
	"time"
)

// loaded848 is a consumer group's KIP-848 records as replayed: the last
// value of each key, tombstoned keys removed.
type loaded848 struct {
	meta       *cgMetadataValue
	target     *cgTargetMetadataValue
	members    map[string]cgMemberValue
	targets    map[string]cgTargetMemberValue
	current    map[string]cgCurrentValue
	written    map[string]written848 // the live records, as the group's written848
	lastOffset int64
}

// is848Key reports whether a record key is of a KIP-848 record type (3
// to 8).
func is848Key(key []byte) bool {
	if len(key) < 2 {
		return false
	}
	t := int16(binary.BigEndian.Uint16(key))
	return t >= cgMetadataType && t <= cgCurrentAssignmentType
}

// apply848 takes one KIP-848 record; one that does not decode is counted
// and skipped (the log is never changed for it).
func (l *loader) apply848(offset int64, r Record) {
	k, err := decodeKey848(r.Key)
	if err != nil {
		l.skip(offset, err)
		return
	}
	if k.typ == cgPartitionMetadataType {
		return // deprecated since Kafka 4.1: nothing in it is needed
	}
	lg := l.group(k.group)
	c := lg.c848
	if c == nil {
		c = &loaded848{members: map[string]cgMemberValue{}, targets: map[string]cgTargetMemberValue{},
			current: map[string]cgCurrentValue{}, written: map[string]written848{}}
		lg.c848 = c
	}
	if r.Value == nil {
		delete(c.written, string(r.Key))
		switch k.typ {
		case cgMetadataType:
			c.meta = nil
		case cgTargetMetadataType:
			c.target = nil
		case cgMemberMetadataType:
			delete(c.members, k.member)
		case cgTargetMemberType:
			delete(c.targets, k.member)
		case cgCurrentAssignmentType:
			delete(c.current, k.member)
		}
		c.lastOffset = offset
		return
	}
	switch k.typ {
	case cgMetadataType:
		var v cgMetadataValue
		if v, err = decodeCGMetadataValue(r.Value); err == nil {
			c.meta = &v
		}
	case cgTargetMetadataType:
		var v cgTargetMetadataValue
		if v, err = decodeCGTargetMetadataValue(r.Value); err == nil {
			c.target = &v
		}
	case cgMemberMetadataType:
		var v cgMemberValue
		if v, err = decodeCGMemberValue(r.Value); err == nil {
			c.members[k.member] = v
		}
	case cgTargetMemberType:
		var v cgTargetMemberValue
		if v, err = decodeCGTargetMemberValue(r.Value); err == nil {
			c.targets[k.member] = v
		}
	case cgCurrentAssignmentType:
		var v cgCurrentValue
		if v, err = decodeCGCurrentValue(r.Value); err == nil {
			c.current[k.member] = v
		}
	}
	if err != nil {
		l.skip(offset, err)
		return
	}
	c.written[string(r.Key)] = written848{k.typ, r.Value}
	c.lastOffset = offset
}

// isConsumer reports whether the loaded group is a consumer group: its
// epoch record is live and written after any classic metadata.
func (lg *loadedGroup) isConsumer() bool {
	return lg.c848 != nil && lg.c848.meta != nil && lg.c848.lastOffset > lg.metaOffset
}

// buildConsumerLocked rebuilds g's KIP-848 state from its records: the
// group and assignment epochs, the target, and each member with its
// subscription, epochs, partitions and pending revocations. Every member's
// session starts afresh (and its revocation timer, when it has partitions
// to release): members of the previous coordinator go on heartbeating
// here with their epochs and keep their partitions.
func (c *Coordinator) buildConsumerLocked(g *group, lc *loaded848) {
	cg := newConsumerGroup()
	cg.epoch, cg.topicsHash = lc.meta.epoch, lc.meta.metadataHash
	if lc.meta.creationTimeMs >= 0 {
		cg.created = time.UnixMilli(lc.meta.creationTimeMs)
	}
	if lc.target != nil {
		cg.assignEpoch = lc.target.assignmentEpoch
	}
	for id, mv := range lc.members {
		m := &cmember{id: id, clientID: mv.clientID, clientHost: mv.clientHost, instanceID: mv.instanceID, rackID: mv.rackID,
			rebalanceTimeout: time.Duration(mv.rebalanceTimeoutMs) * time.Millisecond, regex: mv.regex,
			assigned: tpSet{}, revoking: tpSet{}, since: map[tp848]int32{}}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = c.cfg.ConsumerSessionTimeout
		}
		m.topics = slices.Compact(slices.Sorted(slices.Values(mv.topics)))
		if mv.serverAssignor != nil {
			m.assignor = *mv.serverAssignor
		}
		if m.regex != nil {
			re, err := regexp.Compile("^(?:" + *m.regex + ")$")
			if err != nil {
				c.log.Warn("consumer group member's loaded regex does not compile; subscribed by name only", "group", g.id, "member", id, "error", err)
				m.regex = nil
			}
			m.re = re
		}
		if cur, ok := lc.current[id]; ok {
			m.epoch, m.prevEpoch = cur.memberEpoch, cur.previousMemberEpoch
			if cur.memberEpoch == leaveStaticEpoch {
				m.left, m.epoch = true, cur.previousMemberEpoch
			}
			loadPartitions(m.assigned, m.since, cur.assigned, m.epoch)
			loadPartitions(m.revoking, m.since, cur.revoking, m.epoch)
		}
		cg.members[id] = m
		if m.instanceID != nil {
			cg.static[*m.instanceID] = id
		}
		if tv, ok := lc.targets[id]; ok {
			cg.target[id] = tpSet{}
			loadPartitions(cg.target[id], nil, tv.partitions, 0)
		}
	}
	cg.assignorLocked()
	g.consumer, g.written848 = cg, lc.written
	if len(cg.members) > 0 {
		g.state = Stable
	}
	for _, m := range cg.members {
		c.armSession848Locked(g, m)
		if len(m.revoking) > 0 {
			c.armRevokeLocked(g, m)
		}
	}
}

// loadPartitions adds tps to s, and each partition's assignment epoch to
// since (the member's epoch when the record has none).
func loadPartitions(s tpSet, since map[tp848]int32, tps []topicPartitions848, epoch int32) {
	for _, t := range tps {
		for i, p := range t.partitions {
			tp := tp848{t.topicID, p}
			s[tp] = struct{}{}
			if since != nil {
				since[tp] = epoch
				if t.epochs != nil {
					since[tp] = t.epochs[i]
				}
			}
		}
	}
}
