package faultharness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingServer echoes lines and remembers every line it received.
type recordingServer struct {
	addr string
	mu   sync.Mutex
	got  map[string]bool
}

func newRecordingServer(t *testing.T) *recordingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &recordingServer{addr: ln.Addr().String(), got: map[string]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					s.mu.Lock()
					s.got[strings.TrimSpace(line)] = true
					s.mu.Unlock()
					io.WriteString(c, "echo: "+line)
				}
			}()
		}
	}()
	return s
}

func (s *recordingServer) received(line string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[line]
}

// linkState is what one message from broker "from" to broker "to" did:
// "ok" (answered), "lost" (never arrived), "unanswered" (arrived, no answer).
func linkState(t *testing.T, nw *Network, servers [2][]*recordingServer, tr Traffic, from, to int, tag string) string {
	t.Helper()
	l := dialLine(t, nw.Proxy(tr, from, to).Addr())
	msg := fmt.Sprintf("%s-%s-%d-%d", tag, tr, from, to)
	_, err := l.roundTrip(msg, 400*time.Millisecond)
	switch {
	case err == nil:
		return "ok"
	case servers[tr][to-1].received(msg):
		return "unanswered"
	default:
		return "lost"
	}
}

func TestNetworkFaults(t *testing.T) {
	var servers [2][]*recordingServer
	var addrs [2][]string
	for tr := range 2 {
		for range 3 {
			s := newRecordingServer(t)
			servers[tr] = append(servers[tr], s)
			addrs[tr] = append(addrs[tr], s.addr)
		}
	}
	nw, err := NewNetwork(addrs[Raft], addrs[Kafka])
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	if v := nw.Voters(2); !strings.Contains(v, "2@"+addrs[Raft][1]) || strings.Contains(v, addrs[Raft][0]) || strings.Count(v, "@") != 3 {
		t.Fatalf("voters of broker 2: %s", v)
	}
	if v := nw.PeerKafkaAddrs(3); !strings.HasPrefix(v, "1="+nw.Proxy(Kafka, 3, 1).Addr()+",2=") {
		t.Fatalf("peer kafka addrs of broker 3: %s", v)
	}

	type want struct {
		from, to int
		state    string
	}
	cases := []struct {
		name  string
		fault func()
		wants []want
	}{
		{"isolate", func() { nw.Isolate(1) }, []want{{1, 2, "lost"}, {2, 1, "lost"}, {2, 3, "ok"}, {3, 2, "ok"}}},
		{"cut-inbound", func() { nw.CutInbound(1) }, []want{{1, 2, "unanswered"}, {2, 1, "lost"}, {3, 1, "lost"}, {2, 3, "ok"}}},
		{"cut-outbound", func() { nw.CutOutbound(1) }, []want{{1, 2, "lost"}, {2, 1, "unanswered"}, {1, 3, "lost"}, {3, 2, "ok"}}},
		{"refuse", func() { nw.Refuse(1) }, []want{{1, 2, "lost"}, {3, 1, "lost"}, {2, 3, "ok"}}},
	}
	for i, c := range cases {
		c.fault()
		for _, w := range c.wants {
			for _, tr := range []Traffic{Raft, Kafka} {
				if got := linkState(t, nw, servers, tr, w.from, w.to, fmt.Sprint(c.name, i)); got != w.state {
					t.Errorf("%s: %s %d->%d: %s, want %s", c.name, tr, w.from, w.to, got, w.state)
				}
			}
		}
		if i%2 == 0 {
			nw.HealAll()
		} else {
			nw.Heal(1)
		}
		for _, w := range c.wants {
			if got := linkState(t, nw, servers, Raft, w.from, w.to, fmt.Sprint("healed-", c.name, i)); got != "ok" {
				t.Errorf("after healing %s: %d->%d: %s", c.name, w.from, w.to, got)
			}
		}
	}

	// A slow broker: every link touching it is delayed both ways, others not.
	nw.Slow(1, Shaping{Latency: 300 * time.Millisecond})
	l := dialLine(t, nw.Proxy(Kafka, 2, 1).Addr())
	start := time.Now()
	if _, err := l.roundTrip("slow", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Errorf("round trip to a slow broker with 300ms each way took %v", d)
	}
	if got := linkState(t, nw, servers, Raft, 2, 3, "slow"); got != "ok" {
		t.Errorf("slowing broker 1 slowed 2->3: %s", got)
	}
	nw.HealAll()
}
