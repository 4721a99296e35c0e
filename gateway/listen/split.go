package listen

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Options tune Split. The zero value uses the defaults.
type Options struct {
	// WebSocketPath is the path whose upgrade requests go to the WebSocket
	// listener; a query string after it is allowed. Default "/v1/ws".
	WebSocketPath string
	// PeekTimeout bounds the wait for a new connection's first request
	// head; a connection that has not sent it by then is closed. Default
	// 10 s.
	PeekTimeout time.Duration
	// MaxPeekBytes bounds the bytes read to decide; a longer request head
	// goes to the REST listener. Default 16 KiB.
	MaxPeekBytes int
	// Logger receives accept errors and dropped connections. Default:
	// discard.
	Logger *slog.Logger
}

// Validate says what is wrong with o, in plain words.
func (o Options) Validate() error {
	switch {
	case o.WebSocketPath != "" && o.WebSocketPath[0] != '/':
		return fmt.Errorf("listen: WebSocketPath %q must start with '/'", o.WebSocketPath)
	case o.PeekTimeout < 0:
		return fmt.Errorf("listen: PeekTimeout is %v; it must be positive, or 0 for the default", o.PeekTimeout)
	case o.MaxPeekBytes < 0:
		return fmt.Errorf("listen: MaxPeekBytes is %d; it must be positive, or 0 for the default", o.MaxPeekBytes)
	case o.MaxPeekBytes > 0 && o.MaxPeekBytes < len("GET / HTTP/1.1\r\n\r\n"):
		return fmt.Errorf("listen: MaxPeekBytes is %d; no request head fits in that", o.MaxPeekBytes)
	}
	return nil
}

func (o *Options) fill() {
	if o.WebSocketPath == "" {
		o.WebSocketPath = "/v1/ws"
	}
	if o.PeekTimeout == 0 {
		o.PeekTimeout = 10 * time.Second
	}
	if o.MaxPeekBytes == 0 {
		o.MaxPeekBytes = 16 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Split accepts the connections of ln and hands each to one of two
// listeners by its first request: ws gets those whose first request is a
// WebSocket upgrade (GET, an "Upgrade: websocket" header) to
// Options.WebSocketPath, rest gets every other. The bytes read to decide
// are replayed to the reader of the connection.
//
// ws and rest are closed independently, as two servers shutting down
// close their own listeners: once one is closed its Accept returns
// net.ErrClosed and the connections routed to it are closed. Closing the
// second one also closes ln and waits until every goroutine of Split has
// exited. Closing ln directly ends both: their Accept returns ln's error,
// which matches net.ErrClosed.
func Split(ln net.Listener, opts Options) (ws, rest net.Listener, err error) {
	if ln == nil {
		return nil, nil, errors.New("listen: nil listener")
	}
	if err := opts.Validate(); err != nil {
		return nil, nil, err
	}
	opts.fill()
	s := &splitter{
		ln:      ln,
		opts:    opts,
		done:    make(chan struct{}),
		stop:    make(chan struct{}),
		peeking: make(map[net.Conn]struct{}),
		open:    2,
	}
	s.ws = &child{s: s, conns: make(chan net.Conn), closed: make(chan struct{})}
	s.rest = &child{s: s, conns: make(chan net.Conn), closed: make(chan struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return s.ws, s.rest, nil
}

// splitter owns the accept loop and one goroutine per connection being
// peeked at.
type splitter struct {
	ln       net.Listener
	opts     Options
	ws, rest *child

	done chan struct{} // closed when the accept loop has stopped
	stop chan struct{} // closed when both children are closed
	err  error         // why it stopped; written before done is closed

	mu       sync.Mutex
	peeking  map[net.Conn]struct{} // closed on shutdown to end their peeks
	open     int                   // children not closed yet
	shutdown bool
	wg       sync.WaitGroup // the accept loop and every route goroutine
}

func (s *splitter) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() && !errors.Is(err, net.ErrClosed) {
				// Out of file descriptors and the like: wait and go on,
				// as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.opts.Logger.Warn("listen: accept failed; retrying", "err", err, "backoff", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-s.stop: // the next Accept fails with ln closed
				}
				t.Stop()
				continue
			}
			s.err = fmt.Errorf("listen: accept: %w", err)
			close(s.done)
			return
		}
		backoff = 0
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.peeking[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.route(c)
	}
}

// route peeks at c's first request and hands it to the listener it
// belongs to, or closes it.
func (s *splitter) route(c net.Conn) {
	defer s.wg.Done()
	head, isWS, err := peek(c, s.opts.WebSocketPath, s.opts.PeekTimeout, s.opts.MaxPeekBytes)
	s.mu.Lock()
	delete(s.peeking, c)
	s.mu.Unlock()
	if err != nil {
		s.opts.Logger.Debug("listen: closing a connection without a request head", "remote", c.RemoteAddr().String(), "err", err)
		c.Close()
		return
	}
	to := s.rest
	if isWS {
		to = s.ws
	}
	select {
	case to.conns <- &peekedConn{Conn: c, head: head}:
	case <-to.closed:
		c.Close()
	case <-s.done:
		c.Close()
	}
}

// childClosed is called once per child; closing the second one closes ln
// and waits for every goroutine.
func (s *splitter) childClosed() error {
	s.mu.Lock()
	s.open--
	if s.open > 0 {
		s.mu.Unlock()
		return nil
	}
	s.shutdown = true
	close(s.stop)
	for c := range s.peeking {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("listen: close: %w", err)
	}
	return nil
}

// child is one of the two listeners Split returns.
type child struct {
	s         *splitter
	conns     chan net.Conn // unbuffered: a connection is handed over only to an Accept
	closed    chan struct{}
	closeOnce sync.Once
}

// Accept waits for the next connection routed to this listener.
func (ch *child) Accept() (net.Conn, error) {
	select {
	case <-ch.closed:
		return nil, closedErr(ch.s.ln)
	default:
	}
	select {
	case c := <-ch.conns:
		return c, nil
	case <-ch.closed:
		return nil, closedErr(ch.s.ln)
	case <-ch.s.done:
		return nil, ch.s.err
	}
}

// Close stops this listener; see Split.
func (ch *child) Close() error {
	err := closedErr(ch.s.ln)
	ch.closeOnce.Do(func() {
		close(ch.closed)
		err = ch.s.childClosed()
	})
	return err
}

// Addr returns the shared listener's address.
func (ch *child) Addr() net.Addr { return ch.s.ln.Addr() }

func closedErr(ln net.Listener) error {
	return &net.OpError{Op: "accept", Net: ln.Addr().Network(), Addr: ln.Addr(), Err: net.ErrClosed}
}

// peekedConn replays the request head read by peek before reading on.
// Like any net.Conn it may be read by one goroutine at a time.
type peekedConn struct {
	net.Conn
	head []byte
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		if len(c.head) == 0 {
			// Even empty, the slice would hold the whole peek buffer
			// for as long as the connection lives.
			c.head = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}
