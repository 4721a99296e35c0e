package controller

import (
	"fmt"
	"slices"
	"strings"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// placer assigns replicas to brokers, striped across racks in the manner of
// Kafka's StripedReplicaPlacer. The brokers are arranged in one ring that
// alternates racks (first broker of each rack, then the second of each, and
// so on). Partition i is led by the broker at ring position start+i, so
// leaders rotate over every broker, and its followers are taken walking the
// ring from there, preferring racks the partition does not use yet. The
// first replica is the preferred leader.
type placer struct {
	ring []metadata.Broker
}

// newPlacer builds the ring over brokers (typically the unfenced ones).
// Brokers without a rack form a rack of their own.
func newPlacer(brokers []metadata.Broker) *placer {
	byRack := map[string][]metadata.Broker{}
	var racks []string
	for _, b := range brokers {
		if _, ok := byRack[b.Rack]; !ok {
			racks = append(racks, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	slices.Sort(racks)
	p := &placer{}
	for round := 0; len(p.ring) < len(brokers); round++ {
		for _, r := range racks {
			in := byRack[r]
			slices.SortFunc(in, func(a, b metadata.Broker) int { return int(a.ID) - int(b.ID) })
			if round < len(in) {
				p.ring = append(p.ring, in[round])
			}
		}
	}
	return p
}

// place returns count partitions of rf replicas each. start rotates the
// leader of the first partition; the controller passes the number of
// partitions in the cluster so that successive topics continue the rotation
// and leadership stays balanced.
func (p *placer) place(count, rf, start int) ([]metadata.PartitionState, error) {
	n := len(p.ring)
	if rf < 1 || rf > n {
		return nil, fmt.Errorf("%w: replication factor %d with %d usable brokers", metadata.ErrInvalidReplicationFactor, rf, n)
	}
	if count < 1 || count > metadata.MaxPartitions {
		return nil, fmt.Errorf("%w: %d partitions, want 1..%d", metadata.ErrInvalidPartitions, count, metadata.MaxPartitions)
	}
	out := make([]metadata.PartitionState, 0, count)
	for i := range count {
		pos := (start + i) % n
		// Shift the followers every time leadership wraps around the ring, so
		// that the same leader does not always get the same followers.
		shift := 0
		if n > 1 {
			shift = ((start + i) / n) % (n - 1)
		}
		replicas := []int32{p.ring[pos].ID}
		used := map[string]bool{p.ring[pos].Rack: true}
		// Two passes over the ring: first only brokers in unused racks, then
		// any broker not chosen yet.
		for pass := 0; pass < 2 && len(replicas) < rf; pass++ {
			for k := 1; k < n && len(replicas) < rf; k++ {
				b := p.ring[(pos+1+(shift+k-1)%(n-1))%n]
				if slices.Contains(replicas, b.ID) || (pass == 0 && used[b.Rack]) {
					continue
				}
				replicas = append(replicas, b.ID)
				used[b.Rack] = true
			}
		}
		out = append(out, metadata.PartitionState{Replicas: replicas, ISR: slices.Clone(replicas), Leader: replicas[0]})
	}
	return out, nil
}

// String shows the ring, for logs and test failures.
func (p *placer) String() string {
	var sb strings.Builder
	for i, b := range p.ring {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%d@%s", b.ID, b.Rack)
	}
	return sb.String()
}

// unfencedBrokers returns the brokers of img that may hold new replicas.
func unfencedBrokers(img *metadata.Image) []metadata.Broker {
	return slices.DeleteFunc(img.Brokers(), func(b metadata.Broker) bool { return b.Fenced })
}

// partitionCount returns the number of partitions in the cluster.
func partitionCount(img *metadata.Image) int {
	n := 0
	for _, t := range img.Topics() {
		n += len(t.Partitions)
	}
	return n
}
