package controller

import (
	"sync"
	"testing"
	"time"
)

// peers is a fake PeerDisconnectedFor: how long each node has been without
// a connection, 0 for connected.
type peers struct {
	mu   sync.Mutex
	lost map[uint64]time.Duration
}

func (p *peers) disconnectedFor(node uint64) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost[node]
}

func (p *peers) set(node uint64, lost time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lost[node] = lost
}

// newConnEnv is an env whose controller watches connections through p.
func newConnEnv(t *testing.T) (*env, *peers) {
	t.Helper()
	e := newEnv(t)
	p := &peers{lost: map[uint64]time.Duration{}}
	e.replaceController(func(c *Config) { c.PeerDisconnectedFor = p.disconnectedFor })
	return e, p
}

// heartbeatFrom heartbeats for broker id from raft node id.
func (e *env) heartbeatFrom(id int32) {
	e.t.Helper()
	if _, err := e.c.Heartbeat(e.ctx, HeartbeatRequest{ID: id, Epoch: e.epoch[id], Node: uint64(id)}); err != nil {
		e.t.Fatalf("heartbeat %d: %v", id, err)
	}
}

func (e *env) expire() {
	e.t.Helper()
	if err := e.c.ExpireSessions(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// TestConnectionLossFencesAfterGrace: a broker whose node loses its
// connection is fenced once ConnLostGrace has passed, long before its
// session would expire, and its partitions get leaders from the ISR. A
// connection back within the grace resets it.
func TestConnectionLossFencesAfterGrace(t *testing.T) {
	e, p := newConnEnv(t)
	for _, id := range []int32{1, 2, 3} {
		e.register(id, "")
		e.heartbeatFrom(id)
	}
	top := e.createTopic("t", 3, 3, nil)
	var victim int32 = top.Partitions[0].Leader

	// Lost for less than the grace: not fenced.
	p.set(uint64(victim), DefaultConnLostGrace-time.Millisecond)
	e.expire()
	if e.broker(victim).Fenced {
		t.Fatal("fenced although the connection was lost for less than the grace")
	}
	// Lost for the whole grace: fenced, leadership moved within the ISR.
	p.set(uint64(victim), DefaultConnLostGrace)
	e.expire()
	if !e.broker(victim).Fenced {
		t.Fatal("not fenced after the connection was lost for the grace")
	}
	got := e.partition("t", 0)
	if got.Leader == victim || got.Leader < 1 {
		t.Fatalf("partition 0 led by %d after its leader %d was fenced", got.Leader, victim)
	}
	for _, b := range got.ISR {
		if b == victim {
			t.Fatalf("fenced broker %d still in ISR %v", victim, got.ISR)
		}
	}
}

// TestSlowBrokerIsNotFencedEarly: a broker that keeps its connection but
// stops heartbeating (a paused or slow process) is fenced by its session
// timeout only; a broker that never heartbeated from a node (so whose
// connection is unknown) likewise.
func TestSlowBrokerIsNotFencedEarly(t *testing.T) {
	e, p := newConnEnv(t)
	e.register(1, "")
	e.heartbeatFrom(1)
	e.register(2, "") // registered, never heartbeated from a node
	p.set(2, time.Minute)
	for range 8 {
		e.clock.Advance(time.Second)
		e.expire()
	}
	if e.broker(1).Fenced || e.broker(2).Fenced {
		t.Fatal("fenced before the session timeout without a lost connection")
	}
	e.clock.Advance(2 * time.Second)
	e.expire()
	if !e.broker(1).Fenced || !e.broker(2).Fenced {
		t.Fatal("not fenced after the session timeout")
	}
	// A heartbeat unfences it.
	e.heartbeatFrom(1)
	if e.broker(1).Fenced {
		t.Fatal("heartbeat did not unfence")
	}
	p.set(1, time.Minute)
	e.expire()
	if !e.broker(1).Fenced {
		t.Fatal("not fenced on a lost connection once it has its node")
	}
}
