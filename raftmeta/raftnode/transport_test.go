package raftnode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// countSM counts applied entries.
type countSM struct {
	mu sync.Mutex
	n  int
}

func (s *countSM) Apply(uint64, []byte) error { s.mu.Lock(); s.n++; s.mu.Unlock(); return nil }
func (s *countSM) Snapshot() ([]byte, error)  { return []byte("x"), nil }
func (s *countSM) Restore(uint64, []byte) error {
	return nil
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q:\n%s", s, l.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startSingle(t *testing.T, cluster uint64, logs *logBuffer, mutate func(*Config)) *Node {
	t.Helper()
	cfg := Config{
		ID:           1,
		ClusterID:    cluster,
		Dir:          t.TempDir(),
		Listen:       "127.0.0.1:0",
		TickInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := Start(cfg, &countSM{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

func waitLeader(t *testing.T, n *Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !n.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectClosed reads until the server closes the connection.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server kept the connection open")
	}
}

func handshake(t *testing.T, addr string, h hello) (net.Conn, byte, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Write(appendFrame(nil, frameHello, encodeHello(h))); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	kind, payload, err := readFrame(c, maxHelloFrame)
	if err != nil || kind != frameHelloAck {
		t.Fatalf("handshake answer: kind %d err %v", kind, err)
	}
	status, msg, err := decodeHelloAck(payload)
	if err != nil {
		t.Fatal(err)
	}
	return c, status, msg
}

func TestTransportRefusesGarbageAndStrangers(t *testing.T) {
	logs := &logBuffer{}
	n := startSingle(t, 7, logs, nil)
	waitLeader(t, n)
	addr := n.Addr()

	t.Run("garbage", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02garbage garbage garbage"))
		expectClosed(t, c)
		logs.waitFor(t, "bad handshake")
	})
	t.Run("absurd handshake size", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var hdr [frameHeaderLen]byte
		binary.LittleEndian.PutUint32(hdr[:4], 0xFFFFFFF0)
		_, _ = c.Write(hdr[:])
		expectClosed(t, c)
	})
	t.Run("wrong cluster id", func(t *testing.T) {
		c, status, msg := handshake(t, addr, hello{clusterID: 8, from: 2, to: 1, addr: "127.0.0.1:1"})
		if status != helloRefused || !strings.Contains(msg, "wrong cluster id") {
			t.Fatalf("status %d msg %q", status, msg)
		}
		expectClosed(t, c)
		logs.waitFor(t, "wrong cluster id 8")
		if n.AddressOf(2) != "" {
			t.Fatal("a refused peer's address was recorded")
		}
	})
	t.Run("wrong node id", func(t *testing.T) {
		_, status, _ := handshake(t, addr, hello{clusterID: 7, from: 2, to: 5})
		if status != helloRefused {
			t.Fatal("a connection for another node was accepted")
		}
	})
	t.Run("absurd frame after handshake", func(t *testing.T) {
		c, status, _ := handshake(t, addr, hello{clusterID: 7, from: 2, to: 1})
		if status != helloOK {
			t.Fatal("refused")
		}
		var hdr [frameHeaderLen]byte
		binary.LittleEndian.PutUint32(hdr[:4], 0x7FFFFFFF)
		_, _ = c.Write(hdr[:])
		expectClosed(t, c)
		logs.waitFor(t, "closing connection")
	})
	t.Run("bad crc", func(t *testing.T) {
		c, _, _ := handshake(t, addr, hello{clusterID: 7, from: 2, to: 1})
		f := appendFrame(nil, frameRaft, []byte{1, 2, 3})
		f[len(f)-1] ^= 0xff
		_, _ = c.Write(f)
		expectClosed(t, c)
	})
	t.Run("garbage raft message", func(t *testing.T) {
		c, _, _ := handshake(t, addr, hello{clusterID: 7, from: 2, to: 1})
		_, _ = c.Write(appendFrame(nil, frameRaft, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x42}))
		expectClosed(t, c)
	})
	t.Run("local message type from a peer", func(t *testing.T) {
		c, _, _ := handshake(t, addr, hello{clusterID: 7, from: 2, to: 1})
		m := &pb.Message{Type: pb.MsgHup.Enum(), From: new(uint64(2)), To: new(uint64(1))}
		_, _ = c.Write(appendFrame(nil, frameRaft, mustMarshal(m)))
		expectClosed(t, c)
	})

	// The node still works.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.Propose(ctx, []byte("still alive")); err != nil {
		t.Fatal(err)
	}
}

func TestTransportWrongClusterPeerIsRefused(t *testing.T) {
	logsA, logsB := &logBuffer{}, &logBuffer{}
	a := startSingle(t, 1, logsA, nil)
	b := startSingle(t, 2, logsB, func(c *Config) {
		c.ID = 2
		c.Peers = map[uint64]string{1: a.Addr()}
	})
	logsA.waitFor(t, "wrong cluster id 2")
	logsB.waitFor(t, "refused")
	if _, err := b.Call(context.Background(), 1, []byte("hi")); err == nil {
		t.Fatal("call across clusters succeeded")
	}
}

// TestLearnerJoinsByHandshake: a learner started with only the voter's address is
// learned by the voter from the handshake, added, and catches up, with no
// SetPeerAddress anywhere.
func TestLearnerJoinsByHandshake(t *testing.T) {
	a := startSingle(t, 3, &logBuffer{}, nil)
	waitLeader(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 5; i++ {
		if _, err := a.Propose(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	b := startSingle(t, 3, &logBuffer{}, func(c *Config) {
		c.ID = 2
		c.Learner = true
		c.Peers = map[uint64]string{1: a.Addr()}
	})
	deadline := time.Now().Add(10 * time.Second)
	for a.AddressOf(2) != b.Addr() {
		if time.Now().After(deadline) {
			t.Fatalf("voter never learned the learner's address (has %q)", a.AddressOf(2))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cc := &pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: new(uint64(2))}}}
	if err := a.ProposeConfChange(ctx, cc); err != nil {
		t.Fatal(err)
	}
	idx, err := a.Propose(ctx, []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	for b.AppliedIndex() < idx {
		if time.Now().After(deadline) {
			t.Fatalf("learner applied %d, want %d", b.AppliedIndex(), idx)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b.Leader() != 1 || b.IsLeader() {
		t.Fatalf("learner sees leader %d", b.Leader())
	}
}
