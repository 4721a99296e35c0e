package raftnode

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

const (
	dialTimeout      = 2 * time.Second
	handshakeTimeout = 5 * time.Second
	writeTimeout     = 30 * time.Second
	minBackoff       = 20 * time.Millisecond
	maxBackoff       = 500 * time.Millisecond
	maxBatchItems    = 1024
	maxBatchBytes    = 4 << 20
	maxCallHandlers  = 1024 // concurrent Handler calls per inbound connection; more are answered "busy"
	connBufferSize   = 64 << 10
	holdCallsDials   = 3 // failed dials in a row during which calls wait rather than fail
)

// transport carries raft messages and Calls over TCP: one outgoing connection per
// peer, written by that peer's goroutine from a bounded queue, and one reader
// goroutine per accepted connection.
//
// Goroutines: acceptLoop, one peer.run per peer (plus its response reader), and
// one serveInbound per accepted connection (plus its Handler calls). All are
// tracked by wg and end on close. Lock order: transport.mu before peer.mu.
type transport struct {
	id, clusterID uint64
	selfAddr      string // the listener's address
	advertise     string // announced in handshakes; may be empty
	logger        *slog.Logger
	ln            net.Listener
	dial          func(ctx context.Context, addr string) (net.Conn, error)
	sendHook      func(m *pb.Message) bool // Config.SendHook; nil sends everything
	maxFrame      int
	queueLen      int
	handler       func(ctx context.Context, from uint64, req []byte) ([]byte, error)
	metrics       *metrics

	// deliver hands a received raft message to the node; it may block.
	deliver func(m *pb.Message)
	// report tells the node that a message to id was not sent (unreachable) or
	// how a snapshot send went.
	reportUnreachable func(id uint64)
	reportSnapshot    func(id uint64, status raft.SnapshotStatus)
	// dropProposal tells the node that a forwarded MsgProp was never sent.
	dropProposal func(m *pb.Message)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	addrs   map[uint64]string
	peers   map[uint64]*peer
	inbound map[net.Conn]struct{}
	// from counts the open inbound connections per peer that passed the
	// handshake; lostAt is when a peer that had some was left with none
	// (PeerDisconnectedFor): a peer whose process died has none.
	from   map[uint64]int
	lostAt map[uint64]time.Time
	closed bool

	callSeq atomic.Uint64
}

func (t *transport) start() {
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.peers = make(map[uint64]*peer)
	t.inbound = make(map[net.Conn]struct{})
	t.from = make(map[uint64]int)
	t.lostAt = make(map[uint64]time.Time)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.acceptLoop()
	}()
	// Dial every known peer now, so that peers learn our address from the
	// handshake even before raft has anything to say to them.
	t.mu.Lock()
	for id := range t.addrs {
		if id != t.id {
			t.peerLocked(id)
		}
	}
	t.mu.Unlock()
}

// close stops every goroutine of the transport and waits for them.
func (t *transport) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.cancel()
	_ = t.ln.Close()
	for c := range t.inbound {
		_ = c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func (t *transport) addrOf(id uint64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addrs[id]
}

func (t *transport) setAddr(id uint64, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addrs[id] = addr
}

// learnAddress records the address a peer announced in its handshake, unless one
// is known already (configured addresses win; SetPeerAddress changes them).
func (t *transport) learnAddress(id uint64, addr string) {
	t.mu.Lock()
	_, known := t.addrs[id]
	if !known {
		t.addrs[id] = addr
	}
	t.mu.Unlock()
	if !known {
		t.logger.Debug("transport: learned peer address from its handshake", "peer", id, "addr", addr)
	}
}

// peerLocked returns the peer for id, starting its goroutine if needed. It returns
// nil if no address is known or the transport is closed. t.mu must be held.
func (t *transport) peerLocked(id uint64) *peer {
	if p, ok := t.peers[id]; ok {
		return p
	}
	if t.closed || t.addrs[id] == "" {
		return nil
	}
	p := &peer{t: t, id: id, q: make(chan outItem, t.queueLen), calls: make(map[uint64]*pendingCall)}
	t.peers[id] = p
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		p.run()
	}()
	return p
}

func (t *transport) peer(id uint64) *peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.peerLocked(id)
}

// send queues raft messages; it never blocks. Messages that cannot be queued are
// dropped and reported, and raft retries them.
func (t *transport) send(msgs []*pb.Message) {
	for _, m := range msgs {
		p := t.peer(m.GetTo())
		if p == nil || !p.enqueue(outItem{m: m}) {
			t.metrics.msgDropped()
			t.failMessage(m, true)
		}
	}
}

// failMessage reports a raft message that did not (or may not) reach its peer.
// A forwarded proposal that was certainly never written fails its local waiters
// at once; one lost in a broken connection may have arrived, so its waiters are
// left to their ctx.
func (t *transport) failMessage(m *pb.Message, neverSent bool) {
	switch m.GetType() {
	case pb.MsgSnap:
		t.reportSnapshot(m.GetTo(), raft.SnapshotFailure)
	case pb.MsgProp:
		if neverSent && t.dropProposal != nil {
			t.dropProposal(m)
		}
	}
	t.reportUnreachable(m.GetTo())
}

// call sends req to node `to` and waits for the answer of its Handler.
func (t *transport) call(ctx context.Context, to uint64, req []byte) ([]byte, error) {
	if len(req) > t.maxFrame-frameOverhead {
		return nil, fmt.Errorf("raftnode: call request of %d bytes exceeds MaxMessageBytes", len(req))
	}
	p := t.peer(to)
	if p == nil {
		if t.ctx.Err() != nil {
			return nil, ErrStopped
		}
		return nil, fmt.Errorf("call node %d: %w", to, ErrUnknownPeer)
	}
	pc := &pendingCall{id: t.callSeq.Add(1), done: make(chan callResult, 1)}
	p.mu.Lock()
	p.calls[pc.id] = pc
	p.mu.Unlock()
	defer p.forgetCall(pc.id)
	if !p.enqueue(outItem{call: pc, req: req}) {
		return nil, fmt.Errorf("call node %d: send queue full: %w", to, ErrPeerUnavailable)
	}
	select {
	case r := <-pc.done:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("call node %d: %w", to, ctx.Err())
	case <-t.ctx.Done():
		return nil, ErrStopped
	}
}

func (t *transport) acceptLoop() {
	delay := minBackoff
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			t.logger.Warn("transport: accept", "err", err)
			select {
			case <-time.After(delay):
			case <-t.ctx.Done():
				return
			}
			delay = min(2*delay, maxBackoff)
			continue
		}
		delay = minBackoff
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			_ = c.Close()
			return
		}
		t.inbound[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			t.serveInbound(c)
			t.mu.Lock()
			delete(t.inbound, c)
			t.mu.Unlock()
		}()
	}
}

// serveInbound runs one accepted connection: handshake, then raft messages and
// calls until the connection breaks, misbehaves or the transport closes.
func (t *transport) serveInbound(c net.Conn) {
	defer c.Close()
	remote := c.RemoteAddr().String()
	br := bufio.NewReaderSize(c, connBufferSize)
	_ = c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	kind, payload, err := readFrame(br, maxHelloFrame)
	if err == nil && kind != frameHello {
		err = fmt.Errorf("%w: first frame kind %d is not a handshake", errBadFrame, kind)
	}
	var h hello
	if err == nil {
		h, err = decodeHello(payload)
	}
	if err != nil {
		if t.ctx.Err() == nil {
			t.logger.Warn("transport: refusing connection: bad handshake", "remote", remote, "err", err)
		}
		return
	}
	refuse := ""
	switch {
	case h.clusterID != t.clusterID:
		refuse = fmt.Sprintf("wrong cluster id %d, this is cluster %d", h.clusterID, t.clusterID)
	case h.to != t.id:
		refuse = fmt.Sprintf("connection meant for node %d reached node %d", h.to, t.id)
	case h.from == t.id:
		refuse = fmt.Sprintf("peer claims this node's own id %d", h.from)
	}
	_ = c.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	if refuse != "" {
		t.logger.Warn("transport: refusing peer", "remote", remote, "peer", h.from, "cluster", h.clusterID, "reason", refuse)
		_, _ = c.Write(appendFrame(nil, frameHelloAck, encodeHelloAck(helloRefused, refuse)))
		return
	}
	if _, err := c.Write(appendFrame(nil, frameHelloAck, encodeHelloAck(helloOK, ""))); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	if h.addr != "" {
		t.learnAddress(h.from, h.addr)
	}
	t.countInbound(h.from, 1)
	defer t.countInbound(h.from, -1)

	ctx, cancel := context.WithCancel(t.ctx)
	var wmu sync.Mutex // serialises call responses
	var handlers sync.WaitGroup
	sem := make(chan struct{}, maxCallHandlers)
	defer func() {
		cancel()
		_ = c.Close()
		handlers.Wait()
	}()
	for {
		kind, payload, err := readFrame(br, t.maxFrame)
		if err != nil {
			if t.ctx.Err() == nil && !isClosedErr(err) {
				t.logger.Warn("transport: closing connection", "peer", h.from, "remote", remote, "err", err)
			}
			return
		}
		switch kind {
		case frameRaft:
			m, err := decodeRaftFrame(payload, h.from, t.id)
			if err != nil {
				t.logger.Warn("transport: closing connection", "peer", h.from, "remote", remote, "err", err)
				return
			}
			t.metrics.msgReceived()
			t.deliver(m)
		case frameCallReq:
			id, req, err := decodeCallReq(payload)
			if err != nil {
				t.logger.Warn("transport: closing connection", "peer", h.from, "remote", remote, "err", err)
				return
			}
			select {
			case sem <- struct{}{}:
			default:
				// Never block this reader on handlers: raft messages share the
				// connection, and a handler may wait for a commit that needs them.
				wmu.Lock()
				_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
				_, err := c.Write(appendFrame(nil, frameCallResp, encodeCallResp(id, callBusy, nil)))
				wmu.Unlock()
				if err != nil {
					return
				}
				continue
			}
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				defer func() { <-sem }()
				resp := t.serveCall(ctx, h.from, id, req)
				wmu.Lock()
				defer wmu.Unlock()
				_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
				if _, err := c.Write(resp); err != nil {
					_ = c.Close()
				}
			}()
		default:
			t.logger.Warn("transport: closing connection: unexpected frame", "peer", h.from, "remote", remote, "kind", kind)
			return
		}
	}
}

// countInbound adds d to the open inbound connections from peer id.
func (t *transport) countInbound(id uint64, d int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.from[id] += d
	if t.from[id] > 0 {
		delete(t.lostAt, id)
		return
	}
	delete(t.from, id)
	t.lostAt[id] = time.Now()
}

// inboundLostFor returns how long peer id has had no inbound connection
// after having had one; 0 while it has one or if it never had one.
func (t *transport) inboundLostFor(id uint64) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.lostAt[id]
	if !ok {
		return 0
	}
	return time.Since(at)
}

// serveCall runs the Handler and returns the encoded response frame.
func (t *transport) serveCall(ctx context.Context, from, id uint64, req []byte) []byte {
	if t.handler == nil {
		return appendFrame(nil, frameCallResp, encodeCallResp(id, callNoHandler, nil))
	}
	resp, err := t.handler(ctx, from, req)
	switch {
	case err != nil:
		return appendFrame(nil, frameCallResp, encodeCallResp(id, callErr, []byte(err.Error())))
	case len(resp) > t.maxFrame-frameOverhead:
		msg := fmt.Sprintf("response of %d bytes exceeds MaxMessageBytes", len(resp))
		return appendFrame(nil, frameCallResp, encodeCallResp(id, callErr, []byte(msg)))
	}
	return appendFrame(nil, frameCallResp, encodeCallResp(id, callOK, resp))
}

func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// peer is the outgoing side towards one node: a bounded queue drained by run.
type peer struct {
	t  *transport
	id uint64
	q  chan outItem

	mu    sync.Mutex
	calls map[uint64]*pendingCall

	gen uint64 // connection generation, bumped per connection; owned by run
	// held are calls queued while the peer was unreachable; they go out first on
	// the next connection (raft messages are dropped instead). Owned by run.
	held []outItem
}

type outItem struct {
	m    *pb.Message // a raft message, or
	call *pendingCall
	req  []byte
}

type pendingCall struct {
	id     uint64
	done   chan callResult // buffered 1
	sentOn uint64          // connection generation the request was written on; 0: not yet (guarded by peer.mu)
}

type callResult struct {
	resp []byte
	err  error
}

func (p *peer) enqueue(it outItem) bool {
	select {
	case p.q <- it:
		return true
	default:
		return false
	}
}

func (p *peer) isWaiting(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id] != nil
}

func (p *peer) forgetCall(id uint64) {
	p.mu.Lock()
	delete(p.calls, id)
	p.mu.Unlock()
}

func (p *peer) finishCall(id uint64, r callResult) {
	p.mu.Lock()
	pc := p.calls[id]
	delete(p.calls, id)
	p.mu.Unlock()
	if pc != nil {
		pc.done <- r
	}
}

// failCalls fails the calls written on connection generation gen (all calls if
// gen is 0): their answers can no longer arrive. Calls not sent yet stay queued.
func (p *peer) failCalls(gen uint64, err error) {
	var failed []*pendingCall
	p.mu.Lock()
	for id, pc := range p.calls {
		if gen == 0 || pc.sentOn == gen {
			failed = append(failed, pc)
			delete(p.calls, id)
		}
	}
	p.mu.Unlock()
	for _, pc := range failed {
		pc.done <- callResult{err: err}
	}
}

// markSent records that call id was written on connection generation gen, and
// reports whether its caller still waits.
func (p *peer) markSent(id, gen uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc := p.calls[id]
	if pc == nil {
		return false
	}
	pc.sentOn = gen
	return true
}

// failItem fails one queued item; neverSent says it was certainly not written.
func (p *peer) failItem(it outItem, neverSent bool, err error) {
	if it.m != nil {
		p.t.metrics.msgDropped()
		p.t.failMessage(it.m, neverSent)
		return
	}
	p.finishCall(it.call.id, callResult{err: err})
}

// peerWarnAfter is how long a peer stays unreachable before the transport
// warns about it (once per outage); shorter failures are logged at Debug. A
// variable so that tests can shorten it.
var peerWarnAfter = 10 * time.Second

// errPeerRefused is a peer's refusal of our handshake (another cluster, an
// unknown node): a configuration error, warned about at once.
var errPeerRefused = errors.New("refused")

// run keeps a connection to the peer and writes queued items to it.
func (p *peer) run() {
	t := p.t
	backoff := minBackoff
	warned := false
	failures := 0
	var since time.Time // when the current run of failed dials began
	for t.ctx.Err() == nil {
		conn, err := p.connect()
		if err != nil {
			if t.ctx.Err() != nil {
				break
			}
			if failures == 0 {
				since = time.Now()
			}
			// Peers of a cluster start one after another: only a peer
			// that stays unreachable, or refuses us, is worth a warning.
			if !warned && (time.Since(since) >= peerWarnAfter || errors.Is(err, errPeerRefused)) {
				t.logger.Warn("transport: cannot reach peer; retrying", "peer", p.id, "for", time.Since(since).Round(time.Second), "err", err)
				warned = true
			} else {
				t.logger.Debug("transport: cannot reach peer", "peer", p.id, "err", err)
			}
			failures++
			hold := failures <= holdCallsDials
			if !hold {
				for _, it := range p.held {
					p.failItem(it, true, fmt.Errorf("call node %d: %w: %v", p.id, ErrPeerUnavailable, err))
				}
				clear(p.held)
				p.held = p.held[:0]
			}
			p.waitDropping(backoff, hold, fmt.Errorf("call node %d: %w: %v", p.id, ErrPeerUnavailable, err))
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		failures = 0
		if warned {
			t.logger.Info("transport: peer reachable again", "peer", p.id)
		} else {
			t.logger.Debug("transport: peer reachable", "peer", p.id)
		}
		warned = false
		backoff = minBackoff
		p.serve(conn)
	}
	// Closed: fail whatever is left.
	for {
		select {
		case it := <-p.q:
			if it.call != nil {
				p.finishCall(it.call.id, callResult{err: ErrStopped})
			}
		default:
			p.failCalls(0, ErrStopped)
			return
		}
	}
}

// waitDropping waits d while failing queued raft messages, so that raft hears at
// once that the peer is unreachable and stale messages do not pile up. While hold
// is set (the first few failed dials: the peer may just be starting) calls are held
// for the next connection; after that they fail at once.
func (p *peer) waitDropping(d time.Duration, hold bool, err error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case it := <-p.q:
			if it.call != nil && hold && len(p.held) < p.t.queueLen {
				p.held = append(p.held, it)
				continue
			}
			p.failItem(it, true, err)
		case <-timer.C:
			return
		case <-p.t.ctx.Done():
			return
		}
	}
}

// connect dials the peer and performs the handshake.
func (p *peer) connect() (net.Conn, error) {
	t := p.t
	addr := t.addrOf(p.id)
	if addr == "" {
		return nil, ErrUnknownPeer
	}
	ctx, cancel := context.WithTimeout(t.ctx, dialTimeout)
	defer cancel()
	conn, err := t.dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	h := hello{clusterID: t.clusterID, from: t.id, to: p.id, addr: t.advertise}
	if _, err := conn.Write(appendFrame(nil, frameHello, encodeHello(h))); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("handshake with %s: %w", addr, err)
	}
	kind, payload, err := readFrame(conn, maxHelloFrame)
	if err == nil && kind != frameHelloAck {
		err = fmt.Errorf("%w: handshake answer kind %d", errBadFrame, kind)
	}
	var status byte
	var msg string
	if err == nil {
		status, msg, err = decodeHelloAck(payload)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("handshake with %s: %w", addr, err)
	}
	if status != helloOK {
		_ = conn.Close()
		return nil, fmt.Errorf("handshake with %s: %w: %s", addr, errPeerRefused, msg)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// serve writes queued items to conn in batches until the connection breaks or the
// transport closes. A reader goroutine collects call responses.
func (p *peer) serve(conn net.Conn) {
	t := p.t
	p.gen++
	gen := p.gen
	readerDone := make(chan struct{})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer close(readerDone)
		p.readResponses(conn)
	}()
	defer func() {
		_ = conn.Close()
		<-readerDone
		p.failCalls(gen, fmt.Errorf("call node %d: connection lost: %w", p.id, ErrPeerUnavailable))
	}()

	bw := bufio.NewWriterSize(conn, connBufferSize)
	var scratch []byte
	batch := make([]outItem, 0, 64)
	for {
		batch = batch[:0]
		for _, it := range p.held {
			if p.isWaiting(it.call.id) {
				batch = append(batch, it)
			}
		}
		clear(p.held)
		p.held = p.held[:0]
		if len(batch) == 0 {
			select {
			case it := <-p.q:
				batch = append(batch, it)
			case <-readerDone:
				return
			case <-t.ctx.Done():
				return
			}
		}
		size := 0
	drain:
		for len(batch) < maxBatchItems && size < maxBatchBytes {
			select {
			case it := <-p.q:
				batch = append(batch, it)
				if it.m != nil && it.m.GetType() == pb.MsgSnap {
					size += len(it.m.GetSnapshot().GetData())
				}
				size += len(it.req)
			default:
				break drain
			}
		}
		_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		var err error
		for _, it := range batch {
			if it.call != nil && !p.markSent(it.call.id, gen) {
				continue // the caller gave up
			}
			if it.m != nil && t.sendHook != nil && !t.sendHook(it.m) {
				continue // lost on the way, as far as the sender can tell
			}
			if scratch, err = p.writeItem(bw, it, scratch[:0]); err != nil {
				break
			}
		}
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			// Part of the batch may have reached the peer; report all of it.
			for _, it := range batch {
				p.failItem(it, false, fmt.Errorf("call node %d: %w: %v", p.id, ErrPeerUnavailable, err))
			}
			if t.ctx.Err() == nil {
				t.logger.Warn("transport: write to peer failed; reconnecting", "peer", p.id, "err", err)
			}
			return
		}
		for _, it := range batch {
			if it.m != nil {
				t.metrics.msgSent()
				if it.m.GetType() == pb.MsgSnap {
					t.reportSnapshot(p.id, raft.SnapshotFinish)
				}
			}
		}
		clear(batch)
	}
}

// writeItem encodes one item as a frame into bw. A message too large for a frame
// is dropped and reported (its error is not a connection error).
func (p *peer) writeItem(bw *bufio.Writer, it outItem, scratch []byte) ([]byte, error) {
	var kind byte
	if it.m != nil {
		kind = frameRaft
		var err error
		scratch, err = proto.MarshalOptions{}.MarshalAppend(scratch, it.m)
		if err != nil || len(scratch) > p.t.maxFrame-frameOverhead {
			p.t.logger.Error("transport: dropping raft message too large for MaxMessageBytes", "peer", p.id,
				"type", it.m.GetType().String(), "bytes", len(scratch), "err", err)
			p.t.metrics.msgDropped()
			p.t.failMessage(it.m, true)
			return scratch[:0], nil
		}
	} else {
		kind = frameCallReq
		scratch = encodeCallReqAppend(scratch, it.call.id, it.req)
	}
	hdr := appendFrameHeader(make([]byte, 0, frameHeaderLen+1), kind, scratch)
	if _, err := bw.Write(hdr); err != nil {
		return scratch, err
	}
	_, err := bw.Write(scratch)
	return scratch, err
}

func encodeCallReqAppend(dst []byte, id uint64, req []byte) []byte {
	return append(binary.LittleEndian.AppendUint64(dst, id), req...)
}

// readResponses reads call responses from an outgoing connection.
func (p *peer) readResponses(conn net.Conn) {
	br := bufio.NewReaderSize(conn, connBufferSize)
	for {
		kind, payload, err := readFrame(br, p.t.maxFrame)
		if err != nil {
			if p.t.ctx.Err() == nil && !isClosedErr(err) {
				p.t.logger.Warn("transport: closing connection to peer", "peer", p.id, "err", err)
			}
			_ = conn.Close()
			return
		}
		if kind != frameCallResp {
			p.t.logger.Warn("transport: closing connection to peer: unexpected frame", "peer", p.id, "kind", kind)
			_ = conn.Close()
			return
		}
		id, status, body, err := decodeCallResp(payload)
		if err != nil {
			p.t.logger.Warn("transport: closing connection to peer", "peer", p.id, "err", err)
			_ = conn.Close()
			return
		}
		switch status {
		case callOK:
			p.finishCall(id, callResult{resp: body})
		case callNoHandler:
			p.finishCall(id, callResult{err: fmt.Errorf("call node %d: %w", p.id, ErrNoHandler)})
		case callBusy:
			p.finishCall(id, callResult{err: fmt.Errorf("call node %d: %w: too many concurrent calls", p.id, ErrPeerUnavailable)})
		default:
			p.finishCall(id, callResult{err: &RemoteError{From: p.id, Msg: string(body)}})
		}
	}
}
