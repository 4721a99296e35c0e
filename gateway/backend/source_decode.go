package backend

import (
	"errors"
	"io"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/gateway/event"
)

// decodeInto appends the records at or after offset of the record batches in
// raw, a fetch answer for partition, to b; the events keep slices of raw,
// which the caller must not reuse. A partial batch at the end (the broker
// cut the answer at maxBytes) is dropped: the next fetch starts at it.
//
// A batch that does not decode ends the walk. When b has moved on by then,
// decodeInto returns nil and b ends at the bad batch, where the next fetch
// meets it; otherwise it returns the damage, as far as the batch's header
// tells (see damagedBatch).
func decodeInto(b *event.Batch, partition int32, offset int64, raw []byte) *damage {
	buf := raw
	for {
		batch, rest, err := recordbatch.Next(buf)
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, recordbatch.ErrTruncated) && b.NextOffset > offset {
			return nil
		}
		// A first batch is never cut (a broker always answers it whole):
		// cut, it is damaged.
		var h recordbatch.Header
		if err == nil {
			h, err = recordbatch.Validate(batch, 0)
		}
		if err == nil && !h.IsControl() {
			err = appendRecords(b, partition, offset, batch)
		}
		if err != nil {
			if b.NextOffset > offset {
				return nil
			}
			d := damagedBatch(buf, offset, b.HighWatermark, err)
			return &d
		}
		buf = rest
		b.NextOffset = max(b.NextOffset, h.NextOffset())
	}
}

// appendRecords appends the records at or after offset of batch to b, all
// or none.
func appendRecords(b *event.Batch, partition int32, offset int64, batch []byte) error {
	it, err := recordbatch.Records(batch, recordbatch.DecodeOptions{})
	if err != nil {
		return err
	}
	n := len(b.Records)
	for {
		r, err := it.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			clear(b.Records[n:])
			b.Records = b.Records[:n]
			return err
		}
		if r.Offset < offset {
			continue
		}
		rec := event.Record{Partition: partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
		if len(r.Headers) > 0 {
			rec.Headers = make([]event.Header, len(r.Headers))
			for i, rh := range r.Headers {
				rec.Headers[i] = event.Header{Key: rh.Key, Value: rh.Value}
			}
		}
		b.Records = append(b.Records, rec)
	}
}
