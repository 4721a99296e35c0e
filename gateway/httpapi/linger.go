package httpapi

import (
	"io"
	"net"
	"sync"
	"time"
)

// Lingering close. fasthttp refuses a body over the limit as soon as it
// reads the Content-Length, answers 413 and closes the connection with the
// body still unread. Closing a socket with unread input makes the kernel
// send a reset, which often reaches the client while it is still writing
// the body, so the client reports "connection reset" instead of the 413.
// As net/http does, the server here closes its writing side first (the
// answer and a FIN go out), reads and discards what the client still sends
// for a bounded time and size, and only then closes.

const (
	// lingerTimeout bounds how long a closing connection is drained.
	lingerTimeout = 2 * time.Second
	// lingerMaxBytes bounds how much is drained.
	lingerMaxBytes = 16 << 20
)

// lingerListener hands out connections that close lingeringly. Their
// drains run in goroutines counted by set; Server.Shutdown waits for them.
type lingerListener struct {
	net.Listener
	set *lingerSet
}

// lingerSet counts drains in progress. Once stopped it starts no more:
// connections then close at once.
type lingerSet struct {
	mu      sync.Mutex
	n       int
	stopped bool
	zero    chan struct{} // closed when n drops to 0 after stop
}

func (s *lingerSet) add() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.n++
	return true
}

func (s *lingerSet) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n--
	if s.n == 0 && s.zero != nil {
		close(s.zero)
		s.zero = nil
	}
}

// stop refuses new drains and returns a channel closed once the running
// ones have ended.
func (s *lingerSet) stop() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	ch := make(chan struct{})
	if s.n == 0 {
		close(ch)
	} else {
		s.zero = ch
	}
	return ch
}

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c, set: l.set}, nil
}

// halfCloser is a connection whose writing side can be closed alone, as
// *net.TCPConn's. Connections without it (wrapped ones) are still
// drained; the client then sees the end when the drain ends.
type halfCloser interface {
	CloseWrite() error
}

type lingerConn struct {
	net.Conn
	set  *lingerSet
	once sync.Once
}

// Close sends FIN at once where it can and finishes the close in the
// background.
func (c *lingerConn) Close() error {
	c.once.Do(func() {
		if !c.set.add() {
			c.Conn.Close()
			return
		}
		if hc, ok := c.Conn.(halfCloser); ok {
			_ = hc.CloseWrite()
		}
		if c.SetReadDeadline(time.Now().Add(lingerTimeout)) != nil {
			c.Conn.Close()
			c.set.done()
			return
		}
		go func() {
			defer c.set.done()
			_, _ = io.CopyN(io.Discard, c.Conn, lingerMaxBytes)
			c.Conn.Close()
		}()
	})
	return nil
}
