package faultharness

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Direction is one way through a Proxy: Forward carries what the dialing side
// sends to the target, Backward what the target sends back.
type Direction int

const (
	// Forward is dialer to target.
	Forward Direction = iota
	// Backward is target to dialer.
	Backward
)

func (d Direction) String() string {
	if d == Forward {
		return "forward"
	}
	return "backward"
}

// Shaping is what one direction of a Proxy does to the bytes it carries.
// The zero value passes them through at once.
type Shaping struct {
	// Cut holds every byte: nothing gets through until the direction is
	// healed, and then the connections that were open during the cut are
	// reset (as TCP gives up on a long partition), so no stale bytes arrive.
	Cut bool
	// Latency delays each chunk by this long after it was read.
	Latency time.Duration
	// BytesPerSecond limits the rate (0: unlimited).
	BytesPerSecond int
}

// Proxy is a TCP proxy on 127.0.0.1 forwarding every connection to a target
// address, whose two directions are shaped independently. It is safe for
// concurrent use; Close stops it and waits for its goroutines.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	shape   [2]Shaping
	refuse  bool
	changed chan struct{} // closed and replaced on every change
	conns   map[*proxyConn]struct{}
	closed  bool

	wg sync.WaitGroup
}

// NewProxy listens on a free port of 127.0.0.1 and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy to %s: listen: %w", target, err)
	}
	p := &Proxy{ln: ln, target: target, changed: make(chan struct{}), conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.acceptLoop()
	}()
	return p, nil
}

// Addr is the address to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is where connections are forwarded.
func (p *Proxy) Target() string { return p.target }

// Shape sets how direction d treats bytes from now on. Lifting a cut resets
// the connections that were open while it held.
func (p *Proxy) Shape(d Direction, s Shaping) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.Cut {
		for c := range p.conns {
			c.cutSeen = true
		}
	}
	p.shape[d] = s
	p.resetCutLocked()
	p.notifyLocked()
}

// Refuse closes every connection and refuses new ones until Heal.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = true
	for c := range p.conns {
		c.close()
	}
	p.notifyLocked()
}

// Heal passes both directions through unshaped and accepts connections again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = false
	p.shape = [2]Shaping{}
	p.resetCutLocked()
	p.notifyLocked()
}

// resetCutLocked closes the connections that saw a cut once no direction is
// cut any more.
func (p *Proxy) resetCutLocked() {
	if p.shape[Forward].Cut || p.shape[Backward].Cut {
		return
	}
	for c := range p.conns {
		if c.cutSeen {
			c.close()
		}
	}
}

func (p *Proxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Close stops accepting, closes every connection and waits for the proxy's
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed || p.refuse {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

// serve dials the target and copies both ways until either side ends or
// the connection is closed by a fault.
func (p *Proxy) serve(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		client.Close()
		return
	}
	pc := &proxyConn{client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed || p.refuse {
		p.mu.Unlock()
		pc.close()
		return
	}
	pc.cutSeen = p.shape[Forward].Cut || p.shape[Backward].Cut
	p.conns[pc] = struct{}{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(pc, Forward, client, server) }()
	go func() { defer wg.Done(); p.pipe(pc, Backward, server, client) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
}

// chunk is bytes read from one side, with when they were read.
type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst in direction d: a reader queues chunks, a writer
// delivers them as the direction's shaping allows. Either ending closes the
// whole connection.
func (p *Proxy) pipe(pc *proxyConn, d Direction, src, dst net.Conn) {
	queue := make(chan chunk, 64)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case queue <- chunk{b: buf[:n], at: time.Now()}:
				case <-pc.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer pc.close()
	for c := range queue {
		if !p.deliver(pc, d, dst, c) {
			return
		}
	}
}

// deliver writes one chunk once the shaping of d lets it through; false
// means the connection is gone.
func (p *Proxy) deliver(pc *proxyConn, d Direction, dst net.Conn, c chunk) bool {
	for {
		p.mu.Lock()
		s, changed := p.shape[d], p.changed
		p.mu.Unlock()
		if s.Cut {
			select {
			case <-changed:
				continue
			case <-pc.done:
				return false
			}
		}
		if wait := time.Until(c.at.Add(s.Latency)); wait > 0 {
			if !pc.sleep(wait, changed) {
				return false
			}
			continue // the shaping may have changed meanwhile
		}
		if _, err := dst.Write(c.b); err != nil {
			return false
		}
		if s.BytesPerSecond > 0 {
			pause := time.Duration(float64(len(c.b)) / float64(s.BytesPerSecond) * float64(time.Second))
			if !pc.sleep(pause, nil) {
				return false
			}
		}
		return true
	}
}

// proxyConn is one proxied connection: the accepted client side and the
// dialed server side.
type proxyConn struct {
	client, server net.Conn
	cutSeen        bool // guarded by Proxy.mu
	once           sync.Once
	done           chan struct{}
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.client.Close()
		c.server.Close()
	})
}

// sleep waits for d, returning early (true) when wake is closed and false
// when the connection closes.
func (c *proxyConn) sleep(d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return true
	case <-c.done:
		return false
	}
}
