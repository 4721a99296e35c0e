package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// writeTimeout bounds one write to __consumer_offsets (Kafka's
// offsets.commit.timeout.ms).
const writeTimeout = 5 * time.Second

// metadataRecordLocked is the group's GroupMetadataValue record, written
// after each rebalance and when the group empties.
func (g *group) metadataRecordLocked() Record {
	v := kmsg.NewGroupMetadataValue()
	v.ProtocolType, v.Generation = g.protocolType, g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, m := range g.members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription, vm.Assignment = m.metadata(g.protocol), m.assignment
		v.Members = append(v.Members, vm)
	}
	return Record{Key: groupKey(g.id), Value: groupValue(&v)}
}

// write appends records to the group's partition and waits for acks=all.
func (c *Coordinator) write(part int32, records []Record) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return c.store.Append(ctx, part, records)
}

// persistGroupAsync writes the group's metadata without waiting for it
// (a new empty generation, a static member's new id): a lost write only
// means a reloaded group starts from the previous metadata.
func (g *group) persistGroupAsync() {
	rec, part := g.metadataRecordLocked(), g.part
	c := g.c
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		off, err := c.write(part, []Record{rec})
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.log.Warn("write group metadata", "group", g.id, "error", err)
			return
		}
		g.metaOffset = max(g.metaOffset, off)
	}()
}
