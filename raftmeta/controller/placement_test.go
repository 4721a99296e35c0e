package controller

import (
	"errors"
	"testing"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

func brokers(racks map[int32]string) []metadata.Broker {
	var out []metadata.Broker
	for id, r := range racks {
		out = append(out, metadata.Broker{ID: id, Rack: r})
	}
	return out
}

func TestPlacementSpreadsRacksAndBalancesLeaders(t *testing.T) {
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	p := newPlacer(brokers(racks))
	parts, err := p.place(12, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	replicas := map[int32]int{}
	for i, ps := range parts {
		seen := map[string]bool{}
		for _, r := range ps.Replicas {
			seen[racks[r]] = true
			replicas[r]++
		}
		if len(seen) != 3 {
			t.Errorf("partition %d replicas %v span racks %v, want 3 racks (ring %s)", i, ps.Replicas, seen, p)
		}
		if ps.Leader != ps.Replicas[0] || len(ps.ISR) != 3 {
			t.Errorf("partition %d: leader %d isr %v", i, ps.Leader, ps.ISR)
		}
		leaders[ps.Leader]++
	}
	for id := range racks {
		if leaders[id] != 2 || replicas[id] != 6 {
			t.Errorf("broker %d leads %d (want 2) and holds %d replicas (want 6)", id, leaders[id], replicas[id])
		}
	}
}

func TestPlacementUnevenRacks(t *testing.T) {
	racks := map[int32]string{1: "a", 2: "a", 3: "a", 4: "b"}
	parts, err := newPlacer(brokers(racks)).place(8, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	for i, ps := range parts {
		if racks[ps.Replicas[0]] == racks[ps.Replicas[1]] {
			t.Errorf("partition %d replicas %v in one rack though rack b exists", i, ps.Replicas)
		}
		leaders[ps.Leader]++
	}
	for id := range racks {
		if leaders[id] != 2 {
			t.Errorf("broker %d leads %d partitions, want 2", id, leaders[id])
		}
	}
}

func TestPlacementNoRacksAndRotation(t *testing.T) {
	p := newPlacer(brokers(map[int32]string{1: "", 2: "", 3: ""}))
	a, _ := p.place(1, 3, 0)
	b, _ := p.place(1, 3, 1)
	if a[0].Leader == b[0].Leader {
		t.Fatalf("start offset did not rotate the leader: %v %v", a, b)
	}
	if _, err := p.place(1, 4, 0); !errors.Is(err, metadata.ErrInvalidReplicationFactor) {
		t.Fatalf("rf 4 on 3 brokers: %v", err)
	}
	if _, err := p.place(0, 1, 0); !errors.Is(err, metadata.ErrInvalidPartitions) {
		t.Fatalf("0 partitions: %v", err)
	}
	if _, err := newPlacer(nil).place(1, 1, 0); !errors.Is(err, metadata.ErrInvalidReplicationFactor) {
		t.Fatalf("no brokers: %v", err)
	}
}
