package kafkaserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	readBufferSize = 256 << 10
	// firstFrameAlloc is the most allocated for a frame before its bytes
	// arrive; the buffer then doubles as they do, so a size prefix alone
	// never makes the server allocate MaxRequestBytes.
	firstFrameAlloc = 64 << 10
	// flushThreshold makes the writer flush coalesced responses early.
	flushThreshold = 256 << 10
	// copyBufferSize is the chunk of the non-TCP file-region fallback.
	copyBufferSize = 256 << 10
)

// conn serves one client connection with three kinds of goroutines: the
// reader (serve's own goroutine) decodes frames and queues a slot per
// request in arrival order; one handler goroutine per request fills its
// slot; the writer takes slots in queue order, waits for each to be done
// and writes its response. inflight bounds the slots read but not yet
// written. Only the writer writes to nc; teardown is shutdown (cancel ctx,
// close nc), after which every goroutine finishes promptly.
type conn struct {
	s    *Server
	nc   net.Conn
	raw  syscall.RawConn // nil when nc is not TCP: no sendfile
	info ConnInfo
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	inflight    chan struct{} // semaphore, Config.MaxInFlightPerConn slots
	lastOrdered chan struct{} // reader only: done of the last ordered request
	queue       chan *slot    // reader → writer, in request order
	handlers    sync.WaitGroup

	// Writer state.
	out      net.Buffers
	outBytes int
	written  []*slot // flushed with out
	copyBuf  []byte
}

// slot carries one request's outcome from its handler to the writer.
type slot struct {
	hdr   requestHeader
	after <-chan struct{} // for ordered APIs: the previous one's done
	done  chan struct{}   // closed when parts/resp/err are set
	parts []part          // encoded response; nil sends nothing
	resp  *Response       // for Release
	err   error           // closes the connection
	frame *[]byte         // pooled request frame, released in finish
}

// framePool recycles request frames up to pooledFrameMax bytes: a produce
// request's records are read from the frame by the handler, and a reused,
// cache-warm buffer appends faster than a new one and makes no garbage.
var framePool sync.Pool

const pooledFrameMax = 1 << 20

func newConn(s *Server, nc net.Conn, id uint64) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{
		s:        s,
		nc:       nc,
		raw:      tcpRawConn(nc),
		info:     ConnInfo{ID: id, RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr()},
		log:      s.log.With("conn", id, "remote", nc.RemoteAddr().String()),
		ctx:      ctx,
		cancel:   cancel,
		inflight: make(chan struct{}, s.cfg.MaxInFlightPerConn),
		queue:    make(chan *slot, s.cfg.MaxInFlightPerConn),
	}
}

// serve runs the connection until it closes and every goroutine it started
// has returned.
func (c *conn) serve() {
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
	br := bufio.NewReaderSize(c.nc, readBufferSize)
	for {
		select {
		case c.inflight <- struct{}{}:
		case <-c.ctx.Done():
			return
		}
		frame, err := c.readFrame(br)
		if err != nil {
			<-c.inflight
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.ctx.Err() != nil:
				c.log.Debug("kafka connection closed", "err", err)
			default:
				c.s.m.error(-1)
				c.log.Warn("kafka connection closed: bad frame", "err", err)
			}
			return
		}
		sl, req, err := c.decode(frame)
		if sl != nil && cap(frame) <= pooledFrameMax {
			sl.frame = &frame
		}
		if err != nil {
			<-c.inflight
			c.s.m.error(sl.hdr.key)
			c.log.Warn("kafka connection closed: bad request", "api_key", sl.hdr.key, "api_version", sl.hdr.version,
				"correlation_id", sl.hdr.correlationID, "err", err)
			return
		}
		if req != nil && c.s.apis.isOrdered(req.Key) {
			// Ordered requests (Produce) are handled here, one at a time, as
			// Kafka handles every request of a connection: no goroutine to
			// start and wake per request, which costs more than a 16 KiB
			// append. Reading resumes when it is done; the kernel buffers
			// what the client pipelines meanwhile.
			sl.after, c.lastOrdered = c.lastOrdered, sl.done
			c.handlers.Add(1)
			c.queue <- sl
			c.handle(sl, req)
			continue
		}
		if req != nil {
			c.handlers.Add(1)
			go c.handle(sl, req)
		}
		c.queue <- sl // never blocks: queue has a place per inflight slot
	}
}

// frameSizeError reports a size prefix outside [0, MaxRequestBytes].
type frameSizeError struct{ size, max int32 }

func (e *frameSizeError) Error() string {
	return fmt.Sprintf("request frame of %d bytes is outside [0, %d] (socket.request.max.bytes)", e.size, e.max)
}

// readFrame reads one size-prefixed frame. Memory grows with the bytes
// actually received, never ahead of them by more than firstFrameAlloc.
func (c *conn) readFrame(br *bufio.Reader) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(br, sz[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sz[:]))
	if size < 0 || size > c.s.cfg.MaxRequestBytes {
		return nil, &frameSizeError{size: size, max: c.s.cfg.MaxRequestBytes}
	}
	n := int(size)
	var buf []byte
	if n <= pooledFrameMax {
		if p, ok := framePool.Get().(*[]byte); ok && cap(*p) >= n {
			buf = (*p)[:0]
		}
	}
	if buf == nil {
		buf = make([]byte, 0, min(n, firstFrameAlloc))
	}
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), n-len(buf)))
		}
		m, err := br.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("reading %d-byte frame: %w", n, err)
		}
	}
	c.s.m.bytesIn.Add(float64(4 + n))
	return buf, nil
}

// decode turns a frame into a slot. ApiVersions is answered here, so its
// slot comes back done and req is nil; otherwise req goes to the handler.
// An error means the connection must close.
func (c *conn) decode(frame []byte) (*slot, *Request, error) {
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
	return sl, &Request{
		Key:           hdr.key,
		Version:       hdr.version,
		CorrelationID: hdr.correlationID,
		ClientID:      hdr.clientID,
		Msg:           msg,
		Conn:          c.info,
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

// handle runs the handler for one request and encodes its response, so
// encoding happens in parallel and the writer only writes.
func (c *conn) handle(sl *slot, req *Request) {
	defer c.handlers.Done()
	defer close(sl.done)
	defer func() {
		if r := recover(); r != nil {
			sl.parts = nil
			sl.err = fmt.Errorf("handler panic: %v\n%s", r, debug.Stack())
		}
	}()
	if sl.after != nil {
		select {
		case <-sl.after:
		case <-c.ctx.Done():
			sl.err = c.ctx.Err()
			return
		}
	}
	resp, err := c.s.cfg.Handler.Handle(c.ctx, req)
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
		if err := c.writeParts(sl.parts); err != nil {
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
	<-c.inflight
	if sl.frame != nil {
		// The handler is done with the request (its bytes may alias the
		// frame only until Handle returns) and the response is written.
		framePool.Put(sl.frame)
		sl.frame = nil
	}
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
// bytes before each region.
func (c *conn) writeParts(parts []part) error {
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
