package faultharness

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// echoServer answers every line with "echo: line" until the test ends.
func echoServer(t *testing.T) string { return newRecordingServer(t).addr }

func newTestProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type lineConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialLine(t *testing.T, addr string) *lineConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &lineConn{c: c, r: bufio.NewReader(c)}
}

// roundTrip sends line and returns the answer, or the read error after wait.
func (l *lineConn) roundTrip(line string, wait time.Duration) (string, error) {
	l.c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(l.c, line+"\n"); err != nil {
		return "", err
	}
	s, err := l.r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxyPassesBothWays(t *testing.T) {
	p := newTestProxy(t)
	l := dialLine(t, p.Addr())
	for _, s := range []string{"a", "bb", strings.Repeat("x", 100000)} {
		got, err := l.roundTrip(s, 10*time.Second)
		if err != nil || got != "echo: "+s {
			t.Fatalf("round trip of %d bytes: %v (got %d bytes)", len(s), err, len(got))
		}
	}
}

// A cut direction holds bytes (the other side sees nothing, the connection
// stays open); healing resets the connections that were cut, and new ones
// work.
func TestProxyCutEachDirection(t *testing.T) {
	for _, d := range []Direction{Forward, Backward} {
		t.Run(d.String(), func(t *testing.T) {
			p := newTestProxy(t)
			l := dialLine(t, p.Addr())
			if _, err := l.roundTrip("before", 10*time.Second); err != nil {
				t.Fatal(err)
			}
			p.Shape(d, Shaping{Cut: true})
			if got, err := l.roundTrip("during", 500*time.Millisecond); !isTimeout(err) {
				t.Fatalf("with %s cut: got %q, %v; want a timeout", d, got, err)
			}
			p.Heal()
			// The cut connection is reset rather than delivering stale bytes.
			if got, err := l.roundTrip("after", 10*time.Second); err == nil || isTimeout(err) {
				t.Fatalf("cut connection after heal was not reset: %q, %v", got, err)
			}
			l2 := dialLine(t, p.Addr())
			if got, err := l2.roundTrip("fresh", 10*time.Second); err != nil || got != "echo: fresh" {
				t.Fatalf("new connection after heal: %q, %v", got, err)
			}
		})
	}
}

// Only the cut direction stops: with Backward cut the server still receives
// what the client sends.
func TestProxyCutIsOneWay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s, _ := bufio.NewReader(c).ReadString('\n')
		received <- s
		io.WriteString(c, "reply\n")
		time.Sleep(time.Second)
	}()
	p, err := NewProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Shape(Backward, Shaping{Cut: true})
	l := dialLine(t, p.Addr())
	if _, err := l.roundTrip("hello", 500*time.Millisecond); !isTimeout(err) {
		t.Fatalf("reply crossed a cut backward direction: %v", err)
	}
	select {
	case s := <-received:
		if s != "hello\n" {
			t.Fatalf("server got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("forward direction did not carry the request")
	}
}

func TestProxyRefuse(t *testing.T) {
	p := newTestProxy(t)
	l := dialLine(t, p.Addr())
	if _, err := l.roundTrip("before", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Refuse()
	if _, err := l.roundTrip("during", 10*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("open connection not closed by Refuse: %v", err)
	}
	l2 := dialLine(t, p.Addr())
	if _, err := l2.roundTrip("new", 10*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("new connection not refused: %v", err)
	}
	p.Heal()
	l3 := dialLine(t, p.Addr())
	if got, err := l3.roundTrip("healed", 10*time.Second); err != nil || got != "echo: healed" {
		t.Fatalf("after heal: %q, %v", got, err)
	}
}

// Latency delays, in order; healing removes it.
func TestProxyLatency(t *testing.T) {
	p := newTestProxy(t)
	l := dialLine(t, p.Addr())
	p.Shape(Forward, Shaping{Latency: 300 * time.Millisecond})
	start := time.Now()
	for _, s := range []string{"one", "two", "three"} {
		got, err := l.roundTrip(s, 10*time.Second)
		if err != nil || got != "echo: "+s {
			t.Fatalf("%q: %q, %v", s, got, err)
		}
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("three round trips with 300ms latency took %v", d)
	}
}

// A bandwidth limit stretches a large transfer; bytes arrive whole.
func TestProxyBandwidth(t *testing.T) {
	p := newTestProxy(t)
	l := dialLine(t, p.Addr())
	p.Shape(Backward, Shaping{BytesPerSecond: 100 << 10})
	s := strings.Repeat("y", 64<<10)
	start := time.Now()
	got, err := l.roundTrip(s, 20*time.Second)
	if err != nil || got != "echo: "+s {
		t.Fatalf("transfer: %v (%d bytes)", err, len(got))
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("64 KiB at 100 KiB/s took only %v", d)
	}
}
