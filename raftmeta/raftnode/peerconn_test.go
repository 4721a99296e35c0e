package raftnode

import (
	"testing"
	"time"
)

// TestPeerConnectedFollowsInboundConnections: a peer counts as connected
// from its handshake until its last connection closes, as when its process
// dies and the kernel closes its sockets.
func TestPeerConnectedFollowsInboundConnections(t *testing.T) {
	n := startSingle(t, 7, &logBuffer{}, nil)
	waitUntil := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for n.PeerConnected(2) != want {
			if time.Now().After(deadline) {
				t.Fatalf("PeerConnected(2) stayed %v", !want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if n.PeerConnected(2) {
		t.Fatal("a peer that never connected counts as connected")
	}
	c1, status, _ := handshake(t, n.Addr(), hello{clusterID: 7, from: 2, to: 1, addr: "127.0.0.1:1"})
	if status != helloOK {
		t.Fatalf("handshake refused: %d", status)
	}
	waitUntil(true)
	c2, _, _ := handshake(t, n.Addr(), hello{clusterID: 7, from: 2, to: 1, addr: "127.0.0.1:1"})
	_ = c1.Close()
	time.Sleep(50 * time.Millisecond)
	if !n.PeerConnected(2) {
		t.Fatal("closing one of two connections made the peer disconnected")
	}
	_ = c2.Close()
	waitUntil(false)
	// A refused handshake does not count.
	_, status, _ = handshake(t, n.Addr(), hello{clusterID: 8, from: 3, to: 1})
	if status == helloOK || n.PeerConnected(3) {
		t.Fatal("a refused peer counts as connected")
	}
}
