package wsapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/gateway/eventjson"
)

// closeGrace is how long a socket waits for the client's answer to its
// close frame before it drops the connection.
const closeGrace = 2 * time.Second

// lookupTimeout bounds the cluster calls of one subscribe frame.
const lookupTimeout = 15 * time.Second

// socket is one WebSocket connection. Its goroutines: the reader, which
// also handles client frames one at a time and is the only one an idle
// socket has; the writer, while there is something to write (see
// outQueue); and one for each subscription that ends on its own, to tell
// the client. run waits for all of them. The fan-out hub runs a goroutine
// per subscribed partition while it catches up.
type socket struct {
	h      *Handler
	conn   *websocket.Conn
	lim    *Limits
	remote string          // the client's address, for logs
	ctx    context.Context // ends when the socket is torn down
	cancel context.CancelFunc
	out    *outQueue
	// encodeBuf is the writer's scratch space for one event message, from
	// writeBufs while a writer runs; writeDeadline the connection's write
	// deadline. Both are the writer's own.
	encodeBuf     []byte
	writeDeadline time.Time
	// batch is the events frame the writer is filling (batched
	// subscriptions); the writer's own.
	batch eventBatch

	closing       atomic.Bool  // a close was requested: client frames are ignored
	closeDeadline atomic.Int64 // unix ns after the close frame was sent; 0 before

	mu        sync.Mutex
	principal *auth.Principal // nil until authenticated
	authGen   uint64          // bumped per principal, to disarm stale expiry timers
	timer     *time.Timer     // the auth timeout, then the token's expiry
	// subs are the subscriptions, in no order; a slice, since a socket
	// has few and an idle one should not hold a map. tornDown is set
	// once teardown has taken them: no more may be added.
	subs     []*subscription
	tornDown bool

	wg sync.WaitGroup // the writer, and goroutines ending subscriptions
}

func newSocket(h *Handler, conn *websocket.Conn, p *auth.Principal) *socket {
	ctx, cancel := context.WithCancel(context.Background())
	s := &socket{
		h:      h,
		conn:   conn,
		lim:    &h.cfg.Limits,
		remote: conn.RemoteAddr().String(),
		ctx:    ctx,
		cancel: cancel,
	}
	// Called with the queue's lock held, before teardown closes it:
	// never after teardown's Wait has begun.
	s.out = newOutQueue(h.cfg.Limits.MaxBufferedBytes, h.cfg.Limits.PingInterval, func() {
		s.wg.Add(1)
		go s.writeLoop()
	})
	s.out.startPings()
	s.mu.Lock()
	if p != nil {
		s.setPrincipalLocked(p)
	} else {
		s.timer = time.AfterFunc(s.lim.AuthTimeout, func() {
			s.mu.Lock()
			authed := s.principal != nil
			s.mu.Unlock()
			if !authed {
				s.sendError("", "", apierr.New(http.StatusUnauthorized, apierr.CodeUnauthenticated, "no auth frame within %v of connecting", s.lim.AuthTimeout))
				s.closeWith(closeNotAuthenticated, "no auth frame in time", true)
			}
		})
	}
	s.mu.Unlock()
	return s
}

// run serves the socket until it closes.
func (s *socket) run() {
	s.h.metrics.socketsOpen.Inc()
	defer s.h.metrics.socketsOpen.Dec()
	s.logger().Debug("wsapi: socket open")
	err := s.readLoop()
	s.teardown()
	s.logger().Debug("wsapi: socket closed", "err", err)
}

// logger returns the Handler's logger with the client's address; made
// when needed, so that an idle socket does not hold one.
func (s *socket) logger() *slog.Logger { return s.h.cfg.Logger.With("remote", s.remote) }

// teardown ends everything the socket started and waits for it.
func (s *socket) teardown() {
	s.cancel()
	s.closing.Store(true)
	s.out.close()
	s.conn.Close()
	s.mu.Lock()
	subs := s.subs
	s.subs, s.tornDown = nil, true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.end()
	}
	s.wg.Wait()
}

// readLoop reads and handles client frames until the connection fails or
// the close handshake ends. Only this goroutine reads.
func (s *socket) readLoop() error {
	s.conn.SetPongHandler(func(string) error {
		s.extendRead()
		return nil
	})
	s.extendRead()
	for {
		mt, r, err := s.conn.NextReader()
		if err != nil {
			return err
		}
		s.extendRead()
		if s.closing.Load() {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			continue
		}
		data, err := io.ReadAll(io.LimitReader(r, int64(s.lim.MaxFrameBytes)+1))
		if err != nil {
			return err
		}
		if len(data) > s.lim.MaxFrameBytes {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			s.h.metrics.frame(kindInvalid)
			s.sendError("", opName(kindInvalid), apierr.New(http.StatusRequestEntityTooLarge, apierr.CodeTooLarge, "frame is larger than %d bytes", s.lim.MaxFrameBytes))
			continue
		}
		if mt != websocket.TextMessage {
			s.h.metrics.frame(kindInvalid)
			s.sendError("", opName(kindInvalid), apierr.Invalid("frames are JSON text; binary frames are not understood"))
			continue
		}
		s.handleApart(data)
	}
}

// handleApart handles a client frame on a goroutine of its own and waits
// for it: frames are still handled one at a time, in order, but the deep
// calls a subscribe or auth frame makes (the cluster client, signature
// checks) grow that goroutine's stack and not the reader's. A stack grown
// once stays grown; the reader's is what every idle socket keeps.
func (s *socket) handleApart(data []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.handle(data)
	}()
	<-done
}

// extendRead sets the read deadline: PongWait from now, or the end of the
// close handshake once the close frame is out.
func (s *socket) extendRead() {
	s.conn.SetReadDeadline(time.Now().Add(s.lim.PongWait))
	if d := s.closeDeadline.Load(); d != 0 {
		// The writer may have set it between our check and the call
		// above; setting it again after is what makes it stick.
		s.conn.SetReadDeadline(time.Unix(0, d))
	}
}

// handle acts on one client frame.
func (s *socket) handle(data []byte) {
	f, perr := parseFrame(data)
	s.h.metrics.frame(f.kind)
	op := opName(f.kind)
	s.mu.Lock()
	authed := s.principal != nil
	s.mu.Unlock()
	if !authed {
		switch {
		case perr != nil && f.kind == kindAuth:
			s.sendError(f.id, op, perr)
		case f.kind != kindAuth:
			s.sendError(f.id, op, apierr.New(http.StatusUnauthorized, apierr.CodeUnauthenticated,
				`authenticate first: the first frame must be {"type": "auth", "token": "<JWT>"}, or connect with ?access_token=<JWT>`))
		default:
			if err := s.authenticate(f.token); err != nil {
				s.sendError(f.id, op, err)
			} else {
				s.acknowledgeAuth()
				return
			}
		}
		s.closeWith(closeNotAuthenticated, "unauthenticated", true)
		return
	}
	if perr != nil {
		s.sendError(f.id, op, perr)
		return
	}
	switch f.kind {
	case kindAuth:
		if err := s.authenticate(f.token); err != nil {
			err.Message = "token refresh refused, the current token stays in force until it expires: " + err.Message
			s.sendError(f.id, op, err)
		} else {
			s.acknowledgeAuth()
		}
	case kindSubscribe:
		if f.group != "" {
			if err := s.subscribeGroup(f); err != nil {
				s.sendError(f.id, op, err)
			}
			return
		}
		if err := s.subscribe(f); err != nil {
			s.sendError(f.id, op, err)
		}
	case kindUnsubscribe:
		if !s.unsubscribe(f.id) {
			s.sendError(f.id, op, apierr.New(http.StatusNotFound, codeSubscriptionNotFound, "no subscription %q on this socket", f.id))
		}
	case kindCommit:
		if err := s.commit(f); err != nil {
			s.sendError(f.id, op, err)
		}
	}
}

// authenticate verifies token and makes it the socket's. Subscriptions the
// new token may not read end with a forbidden error frame.
func (s *socket) authenticate(token string) *apierr.Error {
	p, err := s.h.cfg.Verifier.Verify(token)
	if err != nil {
		msg := "the token was refused"
		var te *auth.TokenError
		if errors.As(err, &te) {
			msg = te.Msg
		}
		return apierr.New(http.StatusUnauthorized, apierr.CodeUnauthenticated, "%s", msg)
	}
	s.mu.Lock()
	s.setPrincipalLocked(p)
	var lost []*subscription
	for _, sub := range s.subs {
		if !p.CanConsume(sub.topic) {
			lost = append(lost, sub)
		}
	}
	s.mu.Unlock()
	for _, sub := range lost {
		s.endSubscription(sub, apierr.New(http.StatusForbidden, apierr.CodeForbidden,
			"the refreshed token may not consume topic %q; the subscription has ended", sub.topic))
	}
	return nil
}

// acknowledgeAuth answers an accepted auth frame with an authenticated
// frame carrying the token's exp.
func (s *socket) acknowledgeAuth() {
	s.mu.Lock()
	exp := s.principal.ExpiresAt
	s.mu.Unlock()
	s.out.push(s.ctx, outFrame{data: authenticatedFrame(exp)})
}

// setPrincipalLocked installs p and arms its expiry, disarming the timer
// before.
func (s *socket) setPrincipalLocked(p *auth.Principal) {
	s.principal = p
	s.authGen++
	gen := s.authGen
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = time.AfterFunc(time.Until(p.ExpiresAt), func() {
		s.mu.Lock()
		current := s.authGen == gen
		s.mu.Unlock()
		if current {
			s.closeWith(closeTokenExpired, "token expired", false)
		}
	})
}

// closeWith starts the close handshake: the writer sends a close frame
// (after the frames queued so far when drain is set) and the reader waits
// for the client's answer, at most closeGrace. The first call wins.
func (s *socket) closeWith(code int, reason string, drain bool) {
	if len(reason) > 120 { // a close frame's reason has room for 123 bytes
		reason = reason[:120]
	}
	if s.out.requestClose(closeMsg{code: code, reason: reason, drain: drain}) {
		s.closing.Store(true)
		s.logger().Debug("wsapi: closing socket", "code", code, "reason", reason)
	}
}

// sendError queues an error frame, waiting for room; it gives up when the
// socket closes. op is opName of the client frame it answers, "" for none
// (see errorFrame). Internal errors are logged with their cause.
func (s *socket) sendError(id, op string, e *apierr.Error) {
	if e.Status >= 500 && e.Err != nil {
		s.logger().Warn("wsapi: internal error", "id", id, "code", e.Code, "err", e.Err)
	}
	s.out.push(s.ctx, outFrame{data: errorFrame(id, op, e)})
}

// writeLoop is the only writer of data frames while it runs: it sends what
// the queue holds, the pings it asks for and the close frame, and stops
// when the queue has nothing more (see outQueue).
func (s *socket) writeLoop() {
	defer s.wg.Done()
	for {
		if !s.writeAll() || s.out.stopWriter() {
			return
		}
	}
}

// writeAll writes until the queue is empty, with buffers from writeBufs
// that it gives back. It returns false once the writer must stop for good:
// the connection failed or closed.
func (s *socket) writeAll() bool {
	buf := getWriteBuf() // frames gathered for one write
	s.encodeBuf = getWriteBuf()
	s.batch.msg = getWriteBuf()
	defer func() {
		putWriteBuf(buf)
		putWriteBuf(s.encodeBuf)
		putWriteBuf(s.batch.msg)
		s.encodeBuf = nil
		s.resetBatch()
	}()
	var delay *time.Timer
	defer func() {
		if delay != nil {
			delay.Stop()
		}
	}()
	for {
		frames, cl, ping, ok := s.out.take()
		if !ok {
			return true
		}
		if ping && !s.ping() {
			return false
		}
		var err error
		if buf, err = s.gatherFrames(buf, frames); err != nil {
			s.fail(err)
			return false
		}
		if len(frames) > 0 && cl == nil && len(buf) < maxCoalescedBytes && s.lim.WriteDelay > 0 {
			// Give the events right behind these a moment to join the
			// same write.
			if delay == nil {
				delay = time.NewTimer(s.lim.WriteDelay)
			} else {
				delay.Reset(s.lim.WriteDelay)
			}
			select {
			case <-delay.C:
			case <-s.ctx.Done():
				return false
			}
			more, mcl, mping, _ := s.out.take()
			if mping && !s.ping() {
				return false
			}
			if buf, err = s.gatherFrames(buf, more); err != nil {
				s.fail(err)
				return false
			}
			cl = mcl
		}
		buf = s.endBatch(buf)
		if buf, err = s.flushFrames(buf); err != nil {
			s.fail(err)
			return false
		}
		if cl != nil {
			s.sendClose(cl)
			return false
		}
	}
}

// writeBufs recycles the writers' buffers, so that a socket holds none
// while its writer is stopped.
var writeBufs sync.Pool

func getWriteBuf() []byte {
	if p, ok := writeBufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

// putWriteBuf gives b back for reuse, unless it is too large to keep.
func putWriteBuf(b []byte) {
	if cap(b) > 0 && cap(b) <= maxCoalescedBytes {
		b = b[:0]
		writeBufs.Put(&b)
	}
}

// ping sends a ping; on failure it drops the socket and returns false.
func (s *socket) ping() bool {
	if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.lim.WriteTimeout)); err != nil {
		s.fail(err)
		return false
	}
	return true
}

// gatherFrames gathers frames onto buf in turn (see gatherFrame). After a
// failed write it gives back the space of the frames not gathered.
func (s *socket) gatherFrames(buf []byte, frames []outFrame) ([]byte, error) {
	for i, f := range frames {
		var err error
		if buf, err = s.gatherFrame(buf, f); err != nil {
			for _, rest := range frames[i+1:] {
				s.out.release(rest.size)
			}
			return buf, err
		}
	}
	return buf, nil
}

// gatherFrame appends the messages of f to buf as WebSocket frames, unless
// f belongs to a subscription that has ended, and gives its space back.
// Events of a batched subscription go to the batch instead (see
// eventBatch); anything else closes the batch first. Once buf holds
// maxCoalescedBytes it is written out.
func (s *socket) gatherFrame(buf []byte, f outFrame) ([]byte, error) {
	defer s.out.release(f.size)
	if f.sub != nil && f.sub.closed.Load() || f.part != nil && f.part.revoked.Load() {
		return buf, nil
	}
	if f.part != nil {
		return s.gatherEvents(buf, f.part, f.events)
	}
	if f.sub != nil && f.ends != nil && f.sub.batched() { // items that Deliver encoded
		start := 0
		for _, end := range f.ends {
			buf = s.addBatchItem(buf, f.sub, f.data[start:end])
			start = end
		}
		s.h.metrics.eventsOut.Add(float64(len(f.ends)))
		putFrameBuf(f.data)
		return s.flushFull(buf)
	}
	buf = s.endBatch(buf)
	start := 0
	ends := f.ends
	if ends == nil {
		ends = []int{len(f.data)}
	}
	for _, end := range ends {
		buf = appendTextFrame(buf, f.data[start:end])
		start = end
	}
	if f.sub != nil && f.ends != nil { // events that Deliver encoded
		s.h.metrics.eventsOut.Add(float64(len(ends)))
		putFrameBuf(f.data) // copied into buf: Deliver may have it back
	}
	return s.flushFull(buf)
}

// flushFull writes buf out once it holds maxCoalescedBytes.
func (s *socket) flushFull(buf []byte) ([]byte, error) {
	if len(buf) >= maxCoalescedBytes {
		return s.flushFrames(buf)
	}
	return buf, nil
}

// gatherEvents encodes events of ps as event frames onto buf, or items of
// the batch for a batched subscription, writing buf out whenever it
// reaches maxCoalescedBytes.
func (s *socket) gatherEvents(buf []byte, ps *partSub, events []event.Record) ([]byte, error) {
	msg := s.encodeBuf[:0]
	batched := ps.sub.batched()
	if !batched {
		buf = s.endBatch(buf)
	}
	for i := range events {
		e := &events[i]
		if batched {
			msg = append(msg[:0], '{')
		} else {
			msg = append(msg[:0], ps.sub.prefix...)
		}
		msg = eventjson.AppendRecordFields(msg, e)
		msg = append(msg, '}')
		if batched {
			buf = s.addBatchItem(buf, ps.sub, msg)
		} else {
			buf = appendTextFrame(buf, msg)
		}
		var err error
		if buf, err = s.flushFull(buf); err != nil {
			return buf, err
		}
	}
	if cap(msg) <= chunkBytes { // one odd large event does not stay pinned
		s.encodeBuf = msg[:0]
	}
	s.h.metrics.eventsOut.Add(float64(len(events)))
	ps.hwm.observe(events[len(events)-1].Offset + 1)
	return buf, nil
}

// flushFrames writes the gathered frames in one write and returns buf
// emptied.
func (s *socket) flushFrames(buf []byte) ([]byte, error) {
	if len(buf) == 0 {
		return buf, nil
	}
	nc := s.conn.NetConn()
	// Moving the deadline before every write took 3.5% of the gateway's
	// CPU under load: move it only once a quarter of the timeout has
	// passed, so a write gets at least three quarters of WriteTimeout.
	// gorilla's control frames set later deadlines, never earlier ones.
	if now := time.Now(); s.writeDeadline.Sub(now) < s.lim.WriteTimeout*3/4 {
		s.writeDeadline = now.Add(s.lim.WriteTimeout)
		nc.SetWriteDeadline(s.writeDeadline)
	}
	if _, err := nc.Write(buf); err != nil {
		return buf[:0], err
	}
	return buf[:0], nil
}

// sendClose writes the close frame and gives the client closeGrace to
// answer it, after which the reader's deadline ends the socket.
func (s *socket) sendClose(cl *closeMsg) {
	deadline := time.Now().Add(closeGrace)
	msg := websocket.FormatCloseMessage(cl.code, cl.reason)
	if err := s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.lim.WriteTimeout)); err != nil {
		s.fail(err)
		return
	}
	s.closeDeadline.Store(deadline.UnixNano())
	s.conn.SetReadDeadline(deadline)
}

// fail drops the connection after a write error; the reader then fails
// and tears the socket down.
func (s *socket) fail(err error) {
	if s.ctx.Err() == nil {
		s.logger().Debug("wsapi: write failed; dropping the socket", "err", err)
	}
	s.closing.Store(true)
	s.out.close()
	s.conn.Close()
}
