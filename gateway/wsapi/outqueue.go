package wsapi

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/gateway/event"
)

// errSocketClosing is returned by outQueue.push once the socket is
// closing: nothing more will be sent.
var errSocketClosing = errors.New("wsapi: socket is closing")

// outFrame is one or more text messages for the writer: encoded in data,
// or events of a partition the writer encodes itself (offered straight
// from the fan-out tail).
type outFrame struct {
	data []byte
	// ends are the end offsets in data of each message when data holds
	// events that Deliver encoded; nil when data is one other message.
	ends []int
	// sub is the subscription whose frames these are, nil for frames of
	// the socket; the writer drops the frames of a closed subscription.
	sub *subscription
	// events and part, when part is set, are events still to encode, one
	// message each, for partition part of sub.
	events []event.Record
	part   *partSub
	// size is what the frame counts against the queue's bound: len(data),
	// or an estimate of the events' encoded size.
	size int
}

// closeMsg asks the writer to close the socket.
type closeMsg struct {
	code   int
	reason string
	// drain sends the frames queued before the request first; otherwise
	// they are dropped.
	drain bool
}

// outQueue holds the frames waiting for a socket's writer, bounded in
// bytes. Pushers (subscription sinks and the reader) block while it is
// full; that is what pauses a slow client's subscriptions.
//
// The writer is a goroutine that runs only while there is something to
// write: the first frame, ping or close request after it stopped starts
// one (startWriter), and it stops when take finds nothing left. So an idle
// socket has no writer goroutine, and at most one runs at a time.
type outQueue struct {
	max         int
	pingEvery   time.Duration
	startWriter func() // starts a writer goroutine; called with mu held

	mu       sync.Mutex
	frames   []outFrame
	bytes    int // of frames queued or being written
	closeReq *closeMsg
	closed   bool
	waiting  int           // pushers waiting for space
	space    chan struct{} // made for waiting pushers, closed when bytes shrink or the queue closes
	writing  bool          // a writer goroutine runs
	pingDue  bool
	pinger   *time.Timer // asks for a ping every pingEvery
}

// newOutQueue returns a queue of at most max bytes (but always one frame)
// that, once startPings is called, asks its writer for a ping every
// pingEvery.
func newOutQueue(max int, pingEvery time.Duration, startWriter func()) *outQueue {
	return &outQueue{max: max, pingEvery: pingEvery, startWriter: startWriter}
}

// startPings arms the first ping.
func (q *outQueue) startPings() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.pinger = time.AfterFunc(q.pingEvery, q.pingTick)
	}
}

// push queues f, waiting while the queue is full (an empty queue takes a
// frame of any size). It fails when ctx ends or the socket is closing.
func (q *outQueue) push(ctx context.Context, f outFrame) error {
	f.size = len(f.data)
	n := f.size
	for {
		q.mu.Lock()
		if q.closed || q.closeReq != nil {
			q.mu.Unlock()
			return errSocketClosing
		}
		if q.bytes == 0 || q.bytes+n <= q.max {
			q.frames = append(q.frames, f)
			q.bytes += n
			q.wakeLocked()
			q.mu.Unlock()
			return nil
		}
		if q.space == nil {
			q.space = make(chan struct{})
		}
		space := q.space
		q.waiting++
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
		}
		q.mu.Lock()
		q.waiting--
		q.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// offer queues f, whose size is set, if there is room now (an empty queue
// takes a frame of any size) and no push is waiting for room, which would
// otherwise lose the race for every byte freed; it never waits.
func (q *outQueue) offer(f outFrame) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.closeReq != nil || q.waiting > 0 || (q.bytes > 0 && q.bytes+f.size > q.max) {
		return false
	}
	q.frames = append(q.frames, f)
	q.bytes += f.size
	q.wakeLocked()
	return true
}

// wakeLocked starts a writer unless one runs or the queue is closed.
func (q *outQueue) wakeLocked() {
	if !q.writing && !q.closed {
		q.writing = true
		q.startWriter()
	}
}

// pingTick asks the writer for a ping and arms the next one, until the
// socket closes.
func (q *outQueue) pingTick() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.closeReq != nil {
		return
	}
	q.pingDue = true
	q.wakeLocked()
	q.pinger.Reset(q.pingEvery)
}

// requestClose asks the writer to close the socket; the first request
// wins. It reports whether this one did.
func (q *outQueue) requestClose(m closeMsg) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.closeReq != nil {
		return false
	}
	q.closeReq = &m
	q.broadcastLocked()
	q.wakeLocked()
	return true
}

// take returns the writer's next work: the queued frames, a close request
// and whether a ping is due; ok is false when there is none. Frames of a
// close request without drain are dropped.
func (q *outQueue) take() (frames []outFrame, cl *closeMsg, ping, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, nil, false, false
	}
	frames = q.frames
	q.frames = nil
	if q.closeReq != nil && !q.closeReq.drain {
		for _, f := range frames {
			q.bytes -= f.size
		}
		frames = nil
		q.broadcastLocked()
	}
	ping, q.pingDue = q.pingDue, false
	if len(frames) == 0 && q.closeReq == nil && !ping {
		return nil, nil, false, false
	}
	return frames, q.closeReq, ping, true
}

// stopWriter lets the writer, which found nothing to do and holds nothing
// of the socket's any more, stop; false when work came meanwhile, which it
// must do first. A writer stopped, the next work starts a new one.
func (q *outQueue) stopWriter() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed && (len(q.frames) > 0 || q.pingDue || q.closeReq != nil) {
		return false
	}
	q.writing = false
	return true
}

// release gives back the space of a written or dropped frame.
func (q *outQueue) release(n int) {
	q.mu.Lock()
	if !q.closed { // close has zeroed the count
		q.bytes -= n
		q.broadcastLocked()
	}
	q.mu.Unlock()
}

// close fails every push from now on, stops the pings and lets a running
// writer stop.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.frames = nil
	q.bytes = 0
	if q.pinger != nil {
		q.pinger.Stop()
	}
	q.broadcastLocked()
	q.mu.Unlock()
}

func (q *outQueue) broadcastLocked() {
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
}
