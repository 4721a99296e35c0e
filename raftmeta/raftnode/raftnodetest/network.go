package raftnodetest

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// ErrPartitioned is returned by a Network dialer (and by writes on connections it
// cut) when the two nodes are partitioned from each other.
var ErrPartitioned = errors.New("raftnodetest: nodes are partitioned")

// Network is a fault layer for raftnode transports in one process, in the spirit
// of etcd's rafttest network: every node dials through Network.Dialer and sends
// its raft messages through Network.SendHook, and the Network can drop raft
// messages with a probability, delay writes, and partition sets of nodes
// (cutting their connections and refusing new ones) until Heal.
//
// Messages are dropped whole by the transport's send hook, before they are
// framed, so the Network never sees raftnode's wire format; handshakes and
// calls are never dropped.
type Network struct {
	mu      sync.Mutex
	addrs   map[string]uint64 // listen address -> node id
	blocked map[[2]uint64]bool
	drop    float64
	delay   time.Duration
	conns   map[*faultConn]struct{}
	rng     *rand.Rand
}

// NewNetwork returns a Network with no faults.
func NewNetwork() *Network {
	return &Network{
		addrs:   make(map[string]uint64),
		blocked: make(map[[2]uint64]bool),
		conns:   make(map[*faultConn]struct{}),
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// Register tells the Network which node listens on addr.
func (n *Network) Register(id uint64, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addrs[addr] = id
}

// SetDrop makes every raft message be dropped with probability p (0 disables).
func (n *Network) SetDrop(p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop = p
}

// SetDelay delays every write on every connection by d (0 disables).
func (n *Network) SetDelay(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay = d
}

// Partition splits the given groups of node ids from each other: nodes in different
// groups cannot talk. Nodes not named in any group keep talking to everyone.
// Existing connections across the cut are closed.
func (n *Network) Partition(groups ...[]uint64) {
	n.mu.Lock()
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					n.blocked[[2]uint64{a, b}] = true
				}
			}
		}
	}
	var cut []*faultConn
	for c := range n.conns {
		if n.blocked[[2]uint64{c.from, c.to}] {
			cut = append(cut, c)
		}
	}
	n.mu.Unlock()
	for _, c := range cut {
		_ = c.Conn.Close()
	}
}

// Isolate partitions node id from every other node in ids.
func (n *Network) Isolate(id uint64, ids []uint64) {
	var others []uint64
	for _, o := range ids {
		if o != id {
			others = append(others, o)
		}
	}
	n.Partition([]uint64{id}, others)
}

// Heal removes all partitions, drops and delays.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.blocked)
	n.drop = 0
	n.delay = 0
}

func (n *Network) isBlocked(from, to uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.blocked[[2]uint64{from, to}] || n.blocked[[2]uint64{to, from}]
}

func (n *Network) faults() (drop float64, delay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.drop, n.delay
}

func (n *Network) roll(p float64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rng.Float64() < p
}

// SendHook returns a raftnode.Config.SendHook that drops each raft message
// with the probability SetDrop gave.
func (n *Network) SendHook() func(m *pb.Message) bool {
	return func(*pb.Message) bool {
		drop, _ := n.faults()
		return drop == 0 || !n.roll(drop)
	}
}

// Dialer returns the raftnode.Config.Dialer for node `from`.
func (n *Network) Dialer(from uint64) func(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, addr string) (net.Conn, error) {
		n.mu.Lock()
		to, known := n.addrs[addr]
		n.mu.Unlock()
		if known && n.isBlocked(from, to) {
			return nil, ErrPartitioned
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if !known {
			return c, nil
		}
		fc := &faultConn{Conn: c, net: n, from: from, to: to}
		n.mu.Lock()
		n.conns[fc] = struct{}{}
		n.mu.Unlock()
		return fc, nil
	}
}

// faultConn applies the Network's partitions and delays to the writes of one
// dialed connection.
type faultConn struct {
	net.Conn
	net      *Network
	from, to uint64
}

func (c *faultConn) Close() error {
	c.net.mu.Lock()
	delete(c.net.conns, c)
	c.net.mu.Unlock()
	return c.Conn.Close()
}

func (c *faultConn) Write(p []byte) (int, error) {
	if c.net.isBlocked(c.from, c.to) {
		_ = c.Conn.Close()
		return 0, ErrPartitioned
	}
	if _, delay := c.net.faults(); delay > 0 {
		time.Sleep(delay)
	}
	return c.Conn.Write(p)
}
