package wsapi

// maxBatchEvents and maxBatchBytes bound one events frame; an event larger
// than maxBatchBytes goes alone, in an event frame.
const (
	maxBatchEvents = 500
	maxBatchBytes  = 64 << 10
)

// eventBatch is the events frame the writer is filling for a batched
// subscription ("batch": true): the events of that subscription that it
// gathers one after another, of any of its partitions, in queue order.
// It is always the last thing gathered, so that closing it keeps every
// frame in order; the writer closes it before any other frame and before
// each write. It never waits for events to come: a write sends what is
// queued, and a lone event goes as an event frame, byte for byte what an
// unbatched subscription gets.
type eventBatch struct {
	sub *subscription
	msg []byte // sub.batchPrefix, then the items, comma-separated
	n   int    // items in msg
}

// addBatchItem adds item, one event encoded as {fields}, to the batch of
// sub, closing the batch gathered so far first when it belongs to another
// subscription or item would take it beyond its bounds.
func (s *socket) addBatchItem(buf []byte, sub *subscription, item []byte) []byte {
	b := &s.batch
	if b.n > 0 && (b.sub != sub || b.n == maxBatchEvents || len(b.msg)+len(item)+2 > maxBatchBytes) {
		buf = s.endBatch(buf)
	}
	if b.n == 0 {
		b.sub = sub
		b.msg = append(b.msg[:0], sub.batchPrefix...)
	} else {
		b.msg = append(b.msg, ',')
	}
	b.msg = append(b.msg, item...)
	b.n++
	return buf
}

// endBatch appends the batch to buf as one WebSocket message, if it holds
// anything: an events frame, or an event frame for a single event.
func (s *socket) endBatch(buf []byte) []byte {
	b := &s.batch
	switch b.n {
	case 0:
		return buf
	case 1:
		item := b.msg[len(b.sub.batchPrefix):] // {fields}
		buf = appendTextFrame2(buf, b.sub.prefix, item[1:])
	default:
		b.msg = append(b.msg, "]}"...)
		buf = appendTextFrame(buf, b.msg)
	}
	b.sub, b.n = nil, 0
	b.msg = b.msg[:0]
	return buf
}

// resetBatch drops the batch, once the writer stops.
func (s *socket) resetBatch() {
	s.batch = eventBatch{}
}
