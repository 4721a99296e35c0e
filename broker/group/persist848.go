package group

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// written848 is one KIP-848 record as last queued for writing.
type written848 struct {
	typ   int16
	value []byte
}

// record848 is a record of a consumer group's state with its type.
type record848 struct {
	typ   int16
	key   []byte
	value []byte
}

// records848Locked is the records of the consumer group's members ids
// and of the group itself, in the order Kafka writes a change: member
// metadata (5), the group epoch (3), target members (7), the target's
// epoch (6), current assignments (8). A group that is not a consumer group
// has none.
func (g *group) records848Locked(ids []string) []record848 {
	cg := g.consumer
	if cg == nil {
		return nil
	}
	out := make([]record848, 0, 3*len(ids)+2)
	add := func(typ int16, member string, value []byte) {
		out = append(out, record848{typ, key848{typ: typ, group: g.id, member: member}.encode(), value})
	}
	for _, id := range ids {
		add(cgMemberMetadataType, id, cg.members[id].metadataValue().encode())
	}
	add(cgMetadataType, "", cgMetadataValue{epoch: cg.epoch, metadataHash: cg.topicsHash, creationTimeMs: cg.created.UnixMilli()}.encode())
	for _, id := range ids {
		add(cgTargetMemberType, id, cgTargetMemberValue{partitions: topicPartitionsOf(cg.target[id], nil)}.encode())
	}
	add(cgTargetMetadataType, "", cgTargetMetadataValue{assignmentEpoch: cg.assignEpoch}.encode())
	for _, id := range ids {
		add(cgCurrentAssignmentType, id, cg.members[id].currentValue(cg.target[id]).encode())
	}
	return out
}

func (m *cmember) metadataValue() cgMemberValue {
	v := cgMemberValue{instanceID: m.instanceID, rackID: m.rackID, clientID: m.clientID, clientHost: m.clientHost,
		topics: m.topics, regex: m.regex, rebalanceTimeoutMs: int32(m.rebalanceTimeout / time.Millisecond)}
	if v.topics == nil {
		v.topics = []string{}
	}
	if m.assignor != "" {
		a := m.assignor
		v.serverAssignor = &a
	}
	return v
}

// currentValue is m's current assignment record. A static member that
// left for a while is written at epoch -2 (Kafka's
// LEAVE_GROUP_STATIC_MEMBER_EPOCH) with its epoch as the previous one.
func (m *cmember) currentValue(target tpSet) cgCurrentValue {
	v := cgCurrentValue{memberEpoch: m.epoch, previousMemberEpoch: m.prevEpoch, state: cgStateStable,
		assigned: topicPartitionsOf(m.assigned, m.since), revoking: topicPartitionsOf(m.revoking, m.since)}
	switch {
	case len(m.revoking) > 0:
		v.state = cgStateUnrevokedPartitions
	case !m.assigned.equal(target):
		v.state = cgStateUnreleasedPartitions
	}
	if m.left {
		v.memberEpoch, v.previousMemberEpoch = leaveStaticEpoch, m.epoch
	}
	return v
}

// topicPartitionsOf renders s by topic; with since, each partition's
// assignment epoch (KIP-1251) too.
func topicPartitionsOf(s tpSet, since map[tp848]int32) []topicPartitions848 {
	out := []topicPartitions848{}
	for _, tp := range sortedTPs(s) {
		if n := len(out); n == 0 || out[n-1].topicID != tp.id {
			out = append(out, topicPartitions848{topicID: tp.id})
			if since != nil {
				out[len(out)-1].epochs = []int32{}
			}
		}
		last := &out[len(out)-1]
		last.partitions = append(last.partitions, tp.partition)
		if since != nil {
			last.epochs = append(last.epochs, since[tp])
		}
	}
	return out
}

// tombstoneOrder is the order tombstones go in: a member's current
// assignment, target and metadata (8, 7, 5), then the group's target
// epoch and epoch (6, 3), as Kafka deletes them.
var tombstoneOrder = map[int16]int{cgCurrentAssignmentType: 0, cgTargetMemberType: 1, cgMemberMetadataType: 2, cgTargetMetadataType: 3, cgMetadataType: 4}

// changes848Locked is the records that bring the log from what was last
// queued to the group's state now: tombstones of members gone first, then
// the records that changed, then the group's own tombstones when it is no
// longer a consumer group. It updates what was queued.
func (g *group) changes848Locked() []Record {
	var ids []string
	if g.consumer != nil {
		ids = sortedKeys(g.consumer.members)
	}
	return g.diff848Locked(ids, true)
}

// memberChanges848Locked is changes848Locked when only member id (and
// the group's own records) can have changed since the last write: the
// group and assignment epochs are where they were (a member joining or
// leaving, a subscription change and a new target all move them) and no
// static member took another's place. Otherwise, or when nothing was
// written yet, it is the whole diff. A steady group's heartbeat costs one
// member's records, not the whole group's.
func (g *group) memberChanges848Locked(id string) []Record {
	cg := g.consumer
	if cg == nil || g.written848 == nil || g.full848 || cg.members[id] == nil ||
		cg.epoch != g.written848Epochs[0] || cg.assignEpoch != g.written848Epochs[1] {
		return g.changes848Locked()
	}
	return g.diff848Locked([]string{id}, false)
}

// diff848Locked compares the records of members ids and the group with
// what was queued; full also tombstones every queued key not among them.
func (g *group) diff848Locked(ids []string, full bool) []Record {
	want := g.records848Locked(ids)
	if cg := g.consumer; cg != nil {
		g.written848Epochs = [2]int32{cg.epoch, cg.assignEpoch}
	}
	if full {
		g.full848 = false
	}
	if g.written848 == nil {
		g.written848 = map[string]written848{}
	}
	keep := make(map[string]bool, len(want))
	var upserts, gone []Record
	if g.dropClassic {
		gone = append(gone, Record{Key: groupKey(g.id)})
		g.dropClassic, g.metaOffset = false, -1
	}
	for _, r := range want {
		k := string(r.key)
		keep[k] = true
		if w, ok := g.written848[k]; ok && bytes.Equal(w.value, r.value) {
			continue
		}
		g.written848[k] = written848{r.typ, r.value}
		upserts = append(upserts, Record{Key: r.key, Value: r.value})
	}
	var dead []string
	for k := range g.written848 {
		if full && !keep[k] {
			dead = append(dead, k)
		}
	}
	slices.SortFunc(dead, func(a, b string) int {
		return cmp.Or(cmp.Compare(tombstoneOrder[g.written848[a].typ], tombstoneOrder[g.written848[b].typ]), cmp.Compare(a, b))
	})
	var groupGone []Record
	for _, k := range dead {
		r := Record{Key: []byte(k)}
		if hasMember(g.written848[k].typ) {
			gone = append(gone, r)
		} else {
			groupGone = append(groupGone, r)
		}
		delete(g.written848, k)
	}
	return append(append(gone, upserts...), groupGone...)
}

// persist848Locked queues the records of the group's changes since the
// last call (none is fine: the answer still waits for the writes before
// it) and returns where the outcome of their write arrives.
func (g *group) persist848Locked() <-chan error {
	return g.enqueueLocked(g.changes848Locked())
}

// persistMember848Locked is persist848Locked after a heartbeat of member
// id (see memberChanges848Locked).
func (g *group) persistMember848Locked(id string) <-chan error {
	return g.enqueueLocked(g.memberChanges848Locked(id))
}

// writeQueue orders a group's writes: changes are queued in the order
// they are made and written in that order, each answered once the write
// holding it (and every earlier one) has all in-sync replicas.
type writeQueue struct {
	pending []queuedWrite
	running bool
}

type queuedWrite struct {
	records []Record
	done    chan error
	// applied, if set, runs under the coordinator's lock once the
	// records are written, before any write of the batch is answered,
	// with the log offset of the first record: what the write makes
	// visible (committed offsets) is visible before anything queued
	// after it is answered.
	applied func(first int64)
}

// enqueueLocked queues records for g's partition; the returned channel
// gets the write's outcome.
func (g *group) enqueueLocked(records []Record) <-chan error {
	return g.enqueueAppliedLocked(records, nil)
}

// enqueueAppliedLocked is enqueueLocked with a function applied once the
// records are written (see queuedWrite.applied).
func (g *group) enqueueAppliedLocked(records []Record, applied func(first int64)) <-chan error {
	done := make(chan error, 1)
	g.queue.pending = append(g.queue.pending, queuedWrite{records, done, applied})
	if !g.queue.running {
		g.queue.running = true
		g.c.wg.Add(1)
		go g.flushQueue()
	}
	return done
}

// flushQueue writes what is queued, as few appends as it can (what queued
// up during one write goes in the next). A failed write fails everything
// queued behind it; when it held KIP-848 records the group's memory is
// ahead of the log, so the partition is loaded again from the log.
func (g *group) flushQueue() {
	c := g.c
	defer c.wg.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(g.queue.pending) > 0 {
		batch := g.queue.pending
		g.queue.pending = nil
		var records []Record
		for _, w := range batch {
			records = append(records, w.records...)
		}
		var err error
		var last int64
		if len(records) > 0 {
			c.mu.Unlock()
			last, err = c.write(g.part, records)
			c.mu.Lock()
		}
		if err != nil {
			batch = append(batch, g.queue.pending...)
			g.queue.pending = nil
		} else {
			first := last - int64(len(records)) + 1
			for _, w := range batch {
				if w.applied != nil {
					w.applied(first)
				}
				first += int64(len(w.records))
			}
		}
		for _, w := range batch {
			w.done <- err
		}
		if err != nil && carries848(records) && c.groups[g.id] == g {
			c.log.Warn("write consumer group records; loading the partition again", "group", g.id, "partition", g.part, "error", err)
			c.reloadLocked(g.part)
		}
	}
	g.queue.running = false
}

// carries848 reports whether records hold a KIP-848 record.
func carries848(records []Record) bool {
	for _, r := range records {
		if len(r.Key) >= 2 {
			if t := int16(binary.BigEndian.Uint16(r.Key)); t >= cgMetadataType && t <= cgCurrentAssignmentType {
				return true
			}
		}
	}
	return false
}

// writeError is the error a request gets when its records were not
// written, as Kafka maps append errors for the group coordinator.
func writeError(err error) error {
	return kerr.ErrorForCode(commitWriteError(err))
}
