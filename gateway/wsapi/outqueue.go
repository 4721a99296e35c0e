package wsapi

import (
	"context"
	"errors"
	"sync"

	"github.com/runnel-dev/runnel/gateway/fanout"
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
	events []fanout.Event
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
type outQueue struct {
	max int

	mu       sync.Mutex
	frames   []outFrame
	bytes    int // of frames queued or being written
	closeReq *closeMsg
	closed   bool
	waiting  int           // pushers waiting for space
	space    chan struct{} // closed and replaced when bytes shrink or the queue closes
	notify   chan struct{} // capacity 1: wakes the writer
}

func newOutQueue(max int) *outQueue {
	return &outQueue{max: max, space: make(chan struct{}), notify: make(chan struct{}, 1)}
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
			q.mu.Unlock()
			q.wake()
			return nil
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
	if q.closed || q.closeReq != nil || q.waiting > 0 || (q.bytes > 0 && q.bytes+f.size > q.max) {
		q.mu.Unlock()
		return false
	}
	q.frames = append(q.frames, f)
	q.bytes += f.size
	q.mu.Unlock()
	q.wake()
	return true
}

func (q *outQueue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
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
	q.wake()
	return true
}

// take returns the queued frames and a close request, if any. Frames of a
// close request without drain are dropped.
func (q *outQueue) take() ([]outFrame, *closeMsg) {
	q.mu.Lock()
	defer q.mu.Unlock()
	frames := q.frames
	q.frames = nil
	if q.closeReq != nil && !q.closeReq.drain {
		for _, f := range frames {
			q.bytes -= f.size
		}
		frames = nil
		q.broadcastLocked()
	}
	return frames, q.closeReq
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

// close fails every push from now on.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.frames = nil
	q.bytes = 0
	q.broadcastLocked()
	q.mu.Unlock()
	q.wake()
}

func (q *outQueue) broadcastLocked() {
	if q.waiting > 0 {
		close(q.space)
		q.space = make(chan struct{})
	}
}
