package raftnode

import (
	"testing"
	"time"
)

// TestPeerDisconnectedForFollowsInboundConnections: a peer counts as
// connected from its handshake until its last connection closes, as when
// its process dies and the kernel closes its sockets; from then on the
// time without a connection grows.
func TestPeerDisconnectedForFollowsInboundConnections(t *testing.T) {
	n := startSingle(t, 7, &logBuffer{}, nil)
	connected := func(id uint64) bool { return n.PeerDisconnectedFor(id) == 0 }
	waitUntil := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for connected(2) != want {
			if time.Now().After(deadline) {
				t.Fatalf("peer 2 connected stayed %v", !want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !connected(2) {
		t.Fatal("a peer that never connected counts as disconnected")
	}
	c0, _, _ := handshake(t, n.Addr(), hello{clusterID: 7, from: 2, to: 1, addr: "127.0.0.1:1"})
	_ = c0.Close()
	waitUntil(false)
	c1, status, _ := handshake(t, n.Addr(), hello{clusterID: 7, from: 2, to: 1, addr: "127.0.0.1:1"})
	if status != helloOK {
		t.Fatalf("handshake refused: %d", status)
	}
	waitUntil(true)
	c2, _, _ := handshake(t, n.Addr(), hello{clusterID: 7, from: 2, to: 1, addr: "127.0.0.1:1"})
	_ = c1.Close()
	time.Sleep(50 * time.Millisecond)
	if !connected(2) {
		t.Fatal("closing one of two connections made the peer disconnected")
	}
	_ = c2.Close()
	waitUntil(false)
	d1 := n.PeerDisconnectedFor(2)
	time.Sleep(20 * time.Millisecond)
	if d2 := n.PeerDisconnectedFor(2); d2 <= d1 {
		t.Fatalf("time without a connection did not grow: %v then %v", d1, d2)
	}
	// A refused handshake does not count.
	_, status, _ = handshake(t, n.Addr(), hello{clusterID: 8, from: 3, to: 1})
	if status == helloOK || !connected(3) {
		t.Fatal("a refused peer counts as having connected")
	}
}
