package controller

import (
	"testing"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// TestClusterIDSetOnce checks that the first activation gives the cluster a
// random id, that later activations (a new controller after a leader
// change) keep it, and that metadata made before cluster ids (brokers and
// topics, no id) gets one on its next activation, once.
func TestClusterIDSetOnce(t *testing.T) {
	e := newEnv(t)
	id := e.prop.sm.Image().ClusterID()
	if err := metadata.ValidateClusterID(id); err != nil {
		t.Fatalf("after the first activation: %v", err)
	}
	c2 := e.newController()
	if err := c2.Activate(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.prop.sm.Image().ClusterID(); got != id {
		t.Fatalf("a second activation changed the cluster id from %q to %q", id, got)
	}

	// Metadata from before cluster ids: a broker registered, no id.
	old := &memProposer{sm: metadata.NewStateMachine(metadata.Options{})}
	old.index++
	if err := old.sm.Apply(old.index, metadata.MustEncode(metadata.Batch{Records: []metadata.Record{{
		BrokerRegistered: &metadata.BrokerRegistered{ID: 1, Addr: "127.0.0.1:9092", Incarnation: [16]byte{1, 6: 0x40, 8: 0x80}},
	}}})); err != nil {
		t.Fatal(err)
	}
	if old.sm.Image().ClusterID() != "" {
		t.Fatal("the old metadata has a cluster id")
	}
	c3, err := New(Config{Logger: quiet}, old.sm.Image, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := c3.Activate(e.ctx); err != nil {
		t.Fatal(err)
	}
	stored := old.sm.Image().ClusterID()
	if metadata.ValidateClusterID(stored) != nil || stored == id {
		t.Fatalf("old metadata after activation: cluster id %q", stored)
	}
	if err := c3.Activate(e.ctx); err != nil || old.sm.Image().ClusterID() != stored {
		t.Fatalf("activated again: %v, cluster id %q, was %q", err, old.sm.Image().ClusterID(), stored)
	}
}
