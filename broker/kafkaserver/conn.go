package kafkaserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// flushThreshold makes the writer flush coalesced responses early.
	flushThreshold = 256 << 10
	// copyBufferSize is the chunk of the non-TCP file-region fallback.
	copyBufferSize = 256 << 10
)

// conn serves one client connection with four kinds of goroutines: the
// reader (serve's own goroutine) decodes frames and queues a slot per
// request in arrival order; one handler goroutine per request fills its
// slot, except for ordered requests, which one goroutine per connection
// handles in arrival order (started with the first); the writer takes slots
// in queue order, waits for each to be done and writes its response.
// inflight bounds the slots read but not yet written. Only the writer
// writes to nc; teardown is shutdown (cancel ctx, close nc), after which
// every goroutine finishes promptly.
type conn struct {
	s    *Server
	nc   net.Conn
	raw  syscall.RawConn // nil when nc is not TCP: no sendfile
	info ConnInfo
	log  *slog.Logger
	sasl saslState // reader only; see saslState

	ctx    context.Context
	cancel context.CancelFunc

	inflight chan struct{} // semaphore, Config.MaxInFlightPerConn slots
	// inflightBytes are the frame bytes read and not yet answered, within
	// Config.MaxInFlightBytesPerConn; finish signals bytesFreed (capacity
	// one, so no signal is lost) when it lowers them.
	inflightBytes atomic.Int64
	bytesFreed    chan struct{}
	// lastActive is when a request was last read or a response written,
	// in Unix nanoseconds; see watchIdle.
	lastActive atomic.Int64
	queue      chan *slot      // reader → writer, in request order
	ordered    chan orderedReq // reader → ordered handler; nil until the first
	handlers   sync.WaitGroup  // handler goroutines and the ordered handler
	batch      []*Request      // ordered handler only: HandleBatch argument
	finishing  chan finishing  // ordered handler → finishLoop; nil without a PipelinedBatchHandler
	group      []orderedReq    // ordered handler only: the requests at hand

	// Writer state.
	out      net.Buffers
	outBytes int
	written  []*slot // flushed with out
	copyBuf  []byte
}

// slot carries one request's outcome from its handler to the writer.
type slot struct {
	hdr   requestHeader
	done  chan struct{} // closed when parts/resp/err are set
	parts []part        // encoded response; nil sends nothing
	resp  *Response     // for Release
	err   error         // closes the connection
	// closeAfter closes the connection once parts are written.
	closeAfter bool
	frame      frame // the request's bytes, released in finish
}

// orderedReq is a request of Config.OrderedAPIs on its way to the
// connection's ordered handler.
type orderedReq struct {
	sl  *slot
	req *Request
}

func newConn(s *Server, nc net.Conn, id uint64) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{
		s:          s,
		nc:         nc,
		raw:        tcpRawConn(nc),
		info:       ConnInfo{ID: id, RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr(), Listener: s.cfg.ListenerName},
		log:        s.log.With("conn", id, "remote", nc.RemoteAddr().String()),
		ctx:        ctx,
		cancel:     cancel,
		inflight:   make(chan struct{}, s.cfg.MaxInFlightPerConn),
		bytesFreed: make(chan struct{}, 1),
		queue:      make(chan *slot, s.cfg.MaxInFlightPerConn),
	}
}

// serve runs the connection until it closes and every goroutine it started
// has returned.
func (c *conn) serve() {
	stopIdle := c.watchIdle()
	defer stopIdle()
	var writer sync.WaitGroup
	writer.Go(c.writeLoop)
	c.readLoop()
	writer.Wait()
	c.handlers.Wait()
	c.shutdown()
}

// shutdown cancels the requests' context and closes the socket, which
// stops the reader. Safe to call more than once.
func (c *conn) shutdown() {
	c.cancel()
	c.nc.Close()
}

// readLoop reads and decodes frames until the client closes, the
// connection is shut down or a frame is unacceptable. It closes queue on
// return, so the writer finishes what was read and then closes.
func (c *conn) readLoop() {
	defer close(c.queue)
	defer func() {
		if c.ordered != nil {
			close(c.ordered)
		}
	}()
	fr := newFrameReader(c.nc)
	defer fr.close()
	for {
		select {
		case c.inflight <- struct{}{}:
		case <-c.ctx.Done():
			return
		}
		var admitted int
		f, err := fr.next(c.s.cfg.MaxRequestBytes, func(n int) error {
			if err := c.checkUnauthenticatedSize(n); err != nil {
				return err
			}
			if err := c.admit(n); err != nil {
				return err
			}
			admitted = n
			return nil
		})
		if err != nil {
			<-c.inflight
			c.release(admitted)
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.ctx.Err() != nil:
				c.log.Debug("kafka connection closed", "err", err)
			default:
				c.s.m.error(-1)
				c.log.Warn("kafka connection closed: bad frame", "err", err)
			}
			return
		}
		c.touch()
		c.s.m.bytesIn.Add(float64(4 + len(f.b)))
		sl, req, err := c.decode(f.b)
		sl.frame = f
		if sl.closeAfter {
			// A refused authentication: answer, then close.
			c.log.Info("kafka connection closed: SASL refused", "err", err)
			c.queue <- sl
			return
		}
		if err != nil {
			c.finish(sl)
			c.s.m.error(sl.hdr.key)
			c.log.Warn("kafka connection closed: bad request", "api_key", sl.hdr.key, "api_version", sl.hdr.version,
				"correlation_id", sl.hdr.correlationID, "err", err)
			return
		}
		if req != nil && c.s.apis.isOrdered(req.Key) {
			// Ordered requests (Produce) go to the connection's ordered
			// handler, which handles them one after another, as Kafka
			// handles every request of a connection, while this goroutine
			// reads on: those that arrive meanwhile are handled together.
			if c.ordered == nil {
				c.ordered = make(chan orderedReq, cap(c.inflight))
				c.handlers.Go(c.orderedLoop)
			}
			c.handlers.Add(1)
			c.queue <- sl
			c.ordered <- orderedReq{sl, req} // never blocks, as queue
			continue
		}
		if req != nil {
			c.handlers.Add(1)
			go c.handle(sl, req)
		}
		c.queue <- sl // never blocks: queue has a place per inflight slot
	}
}

// admit waits until n more frame bytes fit in the connection's in-flight
// byte budget, or nothing else is in flight (a single frame may use all of
// MaxRequestBytes), and takes them.
func (c *conn) admit(n int) error {
	for {
		used := c.inflightBytes.Load()
		if used == 0 || used+int64(n) <= c.s.cfg.MaxInFlightBytesPerConn {
			c.inflightBytes.Add(int64(n))
			return nil
		}
		select {
		case <-c.bytesFreed:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
}

// release gives n frame bytes back to the in-flight budget and wakes the
// reader if it waits in admit.
func (c *conn) release(n int) {
	if n == 0 {
		return
	}
	c.inflightBytes.Add(-int64(n))
	select {
	case c.bytesFreed <- struct{}{}:
	default:
	}
}

// decode turns a frame into a slot. ApiVersions is answered here, so its
// slot comes back done and req is nil; otherwise req goes to the handler.
// An error means the connection must close.
func (c *conn) decode(frame []byte) (*slot, *Request, error) {
	if c.sasl.raw {
		sl := &slot{hdr: requestHeader{key: saslAuthenticateKey}, done: make(chan struct{})}
		reply, err := c.saslRaw(frame)
		sl.parts = []part{{bytes: reply}}
		close(sl.done)
		return sl, nil, err
	}
	hdr, msg, err := parseRequest(frame, c.s.apis)
	sl := &slot{hdr: hdr, done: make(chan struct{})}
	var unsupported *unsupportedError
	switch {
	case errors.As(err, &unsupported) && hdr.key == apiVersionsKey:
		// Answer with v0 and the key table so the client can downgrade,
		// as Kafka does.
		c.s.m.request(hdr.key)
		sl.parts, err = encodeResponse(nil, hdr.key, hdr.correlationID, c.s.apiVersions(0, kerr.UnsupportedVersion.Code), nil)
		close(sl.done)
		return sl, nil, err
	case err != nil:
		return sl, nil, err
	}
	c.s.m.request(hdr.key)
	if hdr.key == apiVersionsKey {
		sl.parts, err = encodeResponse(nil, hdr.key, hdr.correlationID, c.s.apiVersions(hdr.version, 0), nil)
		close(sl.done)
		return sl, nil, err
	}
	if c.s.cfg.SASL != nil {
		var resp kmsg.Response
		switch m := msg.(type) {
		case *kmsg.SASLHandshakeRequest:
			resp, err = c.saslHandshake(m)
		case *kmsg.SASLAuthenticateRequest:
			resp, err = c.saslAuthenticate(m)
		default:
			if err := c.authorizeRequest(hdr); err != nil {
				return sl, nil, err
			}
		}
		if resp != nil {
			var encErr error
			sl.parts, encErr = encodeResponse(nil, hdr.key, hdr.correlationID, resp, nil)
			sl.closeAfter = err != nil
			close(sl.done)
			return sl, nil, errors.Join(err, encErr)
		}
	}
	return sl, &Request{
		Key:           hdr.key,
		Version:       hdr.version,
		CorrelationID: hdr.correlationID,
		ClientID:      hdr.clientID,
		Msg:           msg,
		Conn:          c.info,
		Identity:      c.sasl.id,
	}, nil
}

// apiVersions builds the server's ApiVersions response.
func (s *Server) apiVersions(version, errCode int16) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(version)
	resp.ErrorCode = errCode
	resp.ApiKeys = s.apis.sorted
	return resp
}

// orderedLoop handles the connection's ordered requests in arrival order
// until the reader closes c.ordered. The requests queued when it turns to
// them are handled together: one HandleBatch call per run of one API key
// when the handler is a BatchHandler. Under a pipelining producer that is
// the requests read while the previous ones were appended. With a
// PipelinedBatchHandler every run goes to it, and the requests it leaves
// to finish go to finishLoop.
func (c *conn) orderedLoop() {
	if c.s.pipelined != nil {
		c.finishing = make(chan finishing, cap(c.inflight))
		c.handlers.Go(c.finishLoop)
		defer close(c.finishing)
	}
	for first := range c.ordered {
		c.group = append(c.group[:0], first)
	drain:
		for {
			select {
			case o, ok := <-c.ordered:
				if !ok {
					break drain
				}
				c.group = append(c.group, o)
			default:
				break drain
			}
		}
		for run := c.group; len(run) > 0; {
			n := 1
			for n < len(run) && run[n].req.Key == run[0].req.Key {
				n++
			}
			if c.s.pipelined != nil || (c.s.batch != nil && n > 1) {
				c.handleBatch(run[:n])
			} else {
				for _, o := range run[:n] {
					c.handle(o.sl, o.req)
				}
			}
			run = run[n:]
		}
		clear(c.group)
	}
}

// handleBatch serves a run of ordered requests of one key with one
// HandleBatch call and completes their slots in order.
func (c *conn) handleBatch(run []orderedReq) {
	results, err := c.callBatch(run)
	for i, o := range run {
		if err == nil && results[i].Finish != nil && c.finishing != nil {
			c.finishing <- finishing{o.sl, o.req, results[i].Finish} // never blocks: a place per inflight slot
			continue
		}
		func() {
			defer c.handlers.Done()
			defer close(o.sl.done)
			defer c.recoverInto(o.sl)
			if err != nil {
				o.sl.err = err
				return
			}
			c.complete(o.sl, o.req, results[i].Response, results[i].Err)
		}()
	}
}

// callBatch calls HandleBatch, turning a panic or a wrong number of results
// into an error for every request of the run.
func (c *conn) callBatch(run []orderedReq) (results []Result, err error) {
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v\n%s", r, debug.Stack())
		}
		clear(c.batch)
	}()
	c.batch = c.batch[:0]
	for _, o := range run {
		c.batch = append(c.batch, o.req)
	}
	if c.s.pipelined != nil {
		results = c.s.pipelined.HandleBatchPipelined(c.ctx, c.batch)
	} else {
		results = c.s.batch.HandleBatch(c.ctx, c.batch)
	}
	if len(results) != len(run) {
		return nil, fmt.Errorf("handler: HandleBatch returned %d results for %d requests", len(results), len(run))
	}
	return results, nil
}

// recoverInto, deferred, turns a panic while serving sl into its error.
func (c *conn) recoverInto(sl *slot) {
	if r := recover(); r != nil {
		sl.parts = nil
		sl.err = fmt.Errorf("handler panic: %v\n%s", r, debug.Stack())
	}
}

// handle runs the handler for one request and encodes its response, so
// encoding happens in parallel and the writer only writes.
func (c *conn) handle(sl *slot, req *Request) {
	defer c.handlers.Done()
	defer close(sl.done)
	defer c.recoverInto(sl)
	resp, err := c.s.cfg.Handler.Handle(c.ctx, req)
	c.complete(sl, req, resp, err)
}

// complete checks a handler's answer to req and encodes it into sl.
func (c *conn) complete(sl *slot, req *Request, resp *Response, err error) {
	sl.resp = resp
	if err != nil {
		sl.err = fmt.Errorf("handler: %w", err)
		return
	}
	if resp == nil || resp.Msg == nil {
		if resp != nil && len(resp.splices) > 0 {
			sl.err = errors.New("handler returned splices without a response message")
		}
		return
	}
	if resp.Msg.Key() != req.Key {
		sl.err = fmt.Errorf("handler answered %s request with a %s response", kmsg.NameForKey(req.Key), kmsg.NameForKey(resp.Msg.Key()))
		return
	}
	resp.Msg.SetVersion(req.Version)
	sl.parts, sl.err = encodeResponse(nil, req.Key, req.CorrelationID, resp.Msg, resp.splices)
}

// writeLoop writes responses in request order. Consecutive byte parts,
// within and across ready responses, go out in one writev; file regions
// go out with sendfile in between.
func (c *conn) writeLoop() {
	failed := false
	fail := func(sl *slot, level slog.Level, err error) {
		failed = true
		c.flush() // earlier responses first, as far as the socket allows
		c.s.m.error(sl.hdr.key)
		c.log.Log(context.Background(), level, "kafka connection closed: response failed", "api_key", sl.hdr.key, "api_version", sl.hdr.version,
			"correlation_id", sl.hdr.correlationID, "err", err)
		c.shutdown()
	}
	for {
		var (
			sl *slot
			ok bool
		)
		select {
		case sl, ok = <-c.queue:
		default:
			if !failed && c.flush() != nil {
				failed = true
				c.shutdown()
			}
			sl, ok = <-c.queue
		}
		if !ok {
			break
		}
		if failed {
			<-sl.done
			c.finish(sl)
			continue
		}
		select {
		case <-sl.done:
		default:
			if err := c.flush(); err != nil {
				failed = true
				c.shutdown()
			}
			select {
			case <-sl.done:
			case <-c.ctx.Done():
				failed = true
				<-sl.done
			}
			if failed {
				c.finish(sl)
				continue
			}
		}
		if sl.err != nil {
			if c.ctx.Err() != nil {
				failed = true // shut down meanwhile: the handler saw ctx end
				c.shutdown()
			} else {
				fail(sl, slog.LevelWarn, sl.err)
			}
			c.finish(sl)
			continue
		}
		var sent func(int64)
		if sl.resp != nil {
			sent = sl.resp.Sent
		}
		if err := c.writeParts(sl.parts, sent); err != nil {
			switch {
			case errors.Is(err, errShortFile), errors.Is(err, os.ErrClosed):
				fail(sl, slog.LevelWarn, err) // the client retries elsewhere or later
			case c.ctx.Err() != nil:
				failed = true // shut down meanwhile: nothing to report
				c.shutdown()
			default:
				fail(sl, slog.LevelInfo, err) // most likely the client went away
			}
			c.finish(sl)
			continue
		}
		c.written = append(c.written, sl)
		if sl.closeAfter {
			c.flush()
			failed = true
			c.shutdown()
			continue
		}
		if c.outBytes >= flushThreshold && c.flush() != nil {
			failed = true
			c.shutdown()
		}
	}
	if !failed {
		c.flush()
	}
	for _, sl := range c.written {
		c.finish(sl)
	}
	c.written = nil
	// The reader has stopped: every request read has been answered.
	c.shutdown()
}

// finish releases a slot whose response was written or dropped.
func (c *conn) finish(sl *slot) {
	c.touch()
	<-c.inflight
	c.release(len(sl.frame.b))
	// The handler is done with the request (its bytes may alias the frame
	// only until Handle returns) and the response is written.
	sl.frame.release()
	if sl.resp != nil && sl.resp.Release != nil {
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("kafka response Release panicked", "api_key", sl.hdr.key, "panic", r, "stack", string(debug.Stack()))
			}
		}()
		sl.resp.Release()
	}
}

// writeParts queues byte parts and sends file regions, flushing queued
// bytes before each region; sent, if set, gets the bytes of each region
// sent with sendfile.
func (c *conn) writeParts(parts []part, sent func(int64)) error {
	for _, p := range parts {
		if p.region.File == nil {
			if len(p.bytes) > 0 {
				c.out = append(c.out, p.bytes)
				c.outBytes += len(p.bytes)
			}
			continue
		}
		if err := c.flush(); err != nil {
			return err
		}
		var (
			n   int64
			err error
		)
		if c.raw != nil {
			n, err = sendfileTCP(c.raw, p.region)
			c.s.sendfileBytes.Add(n)
			c.s.m.sendfileBytes.Add(float64(n))
			if sent != nil {
				sent(n)
			}
		} else {
			if c.copyBuf == nil {
				c.copyBuf = make([]byte, copyBufferSize)
			}
			n, err = copyRegion(c.nc, p.region, c.copyBuf)
		}
		c.s.m.bytesOut.Add(float64(n))
		if err != nil {
			return err
		}
	}
	return nil
}

// flush writes the queued bytes with one writev and finishes the slots
// whose responses they complete.
func (c *conn) flush() error {
	if c.outBytes > 0 {
		bufs := c.out
		n, err := bufs.WriteTo(c.nc)
		c.s.m.bytesOut.Add(float64(n))
		clear(c.out)
		c.out, c.outBytes = c.out[:0], 0
		if err != nil {
			return err
		}
	}
	for _, sl := range c.written {
		c.finish(sl)
	}
	clear(c.written)
	c.written = c.written[:0]
	return nil
}
