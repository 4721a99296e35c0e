package kafkaserver

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Response is what a handler returns.
type Response struct {
	// Msg is the response body. Nil sends nothing (Produce with acks=0).
	// The server sets its version to the request's and checks its key.
	Msg kmsg.Response

	// Release, if set, is called exactly once when the server is done with
	// the response: after it was written, or when it was dropped because
	// the connection closed. Use it to release references that keep the
	// spliced files open (commitlog.ReadResult.Release).
	Release func()

	// Sent, if set, is called with the bytes of each file region the
	// server sent with sendfile(2) for this response: the broker counts
	// follower fetches apart from consumer fetches with it.
	Sent func(n int64)

	splices []splice
}

type splice struct {
	seq     uint64
	regions []commitlog.FileSlice
	size    int64
}

// placeholderLen is the length of a splice placeholder: a per-process
// random prefix and a big-endian sequence number.
const (
	placeholderPrefixLen = 16
	placeholderLen       = placeholderPrefixLen + 8
)

var (
	placeholderPrefix = func() [placeholderPrefixLen]byte {
		var p [placeholderPrefixLen]byte
		_, _ = rand.Read(p[:]) // crypto/rand.Read never fails on Linux.
		return p
	}()
	placeholderSeq atomic.Uint64
)

// Splice registers file regions (the slices of a commitlog read; only File,
// Position and Size count) to be sent with sendfile in place of a bytes
// field and returns the placeholder to assign to that field, typically a
// FetchResponse partition's RecordBatches. When the response is written, the
// field's value becomes the regions' bytes, concatenated in order, with the
// length prefix (int32, or compact uvarint in flexible versions) and the
// frame size fixed to match. Each placeholder must be assigned to exactly
// one field of this response's Msg; otherwise the response fails and the
// connection is closed. Splice is not safe for concurrent use on one
// Response.
func (r *Response) Splice(files []commitlog.FileSlice) []byte {
	s := splice{seq: placeholderSeq.Add(1), regions: files}
	for _, f := range files {
		s.size += f.Size
	}
	r.splices = append(r.splices, s)
	p := make([]byte, placeholderLen)
	copy(p, placeholderPrefix[:])
	binary.BigEndian.PutUint64(p[placeholderPrefixLen:], s.seq)
	return p
}

// part is one piece of an encoded response: bytes, or a file region.
type part struct {
	bytes  []byte
	region commitlog.FileSlice
}

// encodeResponse encodes msg as a complete response frame for a request
// with the given key and correlation id, with the response's splices
// expanded into file-region parts. The returned parts, written in order,
// are the frame.
func encodeResponse(buf []byte, key int16, correlationID int32, msg kmsg.Response, splices []splice) ([]part, error) {
	buf = append(buf[:0], 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint32(buf, uint32(correlationID))
	// ApiVersions responses always use header v0 so that clients can read
	// them before knowing which versions the broker speaks.
	flexible := msg.IsFlexible()
	if flexible && key != apiVersionsKey {
		buf = append(buf, 0) // empty header tagged fields
	}
	buf = msg.AppendTo(buf)

	if len(splices) == 0 {
		if len(buf)-4 > math.MaxInt32 {
			return nil, fmt.Errorf("response of %d bytes exceeds the protocol's int32 size", len(buf))
		}
		binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
		return []part{{bytes: buf}}, nil
	}
	return spliceParts(buf, flexible, splices)
}

// spliceParts finds each splice placeholder in the encoded frame buf,
// replaces it and its length prefix with a prefix for the regions' total
// size, and fixes the frame size. The byte parts alias buf.
func spliceParts(buf []byte, flexible bool, splices []splice) ([]part, error) {
	bySeq := make(map[uint64]*splice, len(splices))
	for i := range splices {
		bySeq[splices[i].seq] = &splices[i]
	}
	used := make(map[uint64]bool, len(splices))
	var (
		parts []part
		total int64 // frame bytes, size prefix included
		start int   // first byte of buf not yet in parts
	)
	for {
		i := bytes.Index(buf[start:], placeholderPrefix[:])
		if i < 0 {
			break
		}
		at := start + i
		if at+placeholderLen > len(buf) {
			return nil, errors.New("truncated splice placeholder in encoded response")
		}
		seq := binary.BigEndian.Uint64(buf[at+placeholderPrefixLen:])
		s := bySeq[seq]
		if s == nil || used[seq] {
			return nil, fmt.Errorf("splice placeholder %d is not from this response or is used twice", seq)
		}
		used[seq] = true

		var prefix []byte
		if flexible {
			// A compact bytes field: uvarint(length+1), one byte here.
			if at-1 < max(start, 8) || buf[at-1] != placeholderLen+1 {
				return nil, errors.New("splice placeholder not assigned to a compact bytes field")
			}
			prefix = binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64), uint64(s.size)+1)
			parts = append(parts, part{bytes: buf[start : at-1]})
		} else {
			if at-4 < max(start, 8) || binary.BigEndian.Uint32(buf[at-4:]) != placeholderLen {
				return nil, errors.New("splice placeholder not assigned to a bytes field")
			}
			if s.size > math.MaxInt32 {
				return nil, fmt.Errorf("spliced regions of %d bytes exceed an int32 bytes field", s.size)
			}
			prefix = binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(s.size))
			parts = append(parts, part{bytes: buf[start : at-4]})
		}
		total += int64(len(parts[len(parts)-1].bytes))
		parts = append(parts, part{bytes: prefix})
		total += int64(len(prefix))
		for _, r := range s.regions {
			if r.Size < 0 || r.Position < 0 || r.File == nil {
				return nil, fmt.Errorf("bad file region (file set %v, position %d, size %d)", r.File != nil, r.Position, r.Size)
			}
			if r.Size > 0 {
				parts = append(parts, part{region: r})
			}
		}
		total += s.size
		start = at + placeholderLen
	}
	if len(used) != len(splices) {
		return nil, fmt.Errorf("%d of %d splice placeholders were not found in the encoded response", len(splices)-len(used), len(splices))
	}
	parts = append(parts, part{bytes: buf[start:]})
	total += int64(len(buf) - start)
	if total-4 > math.MaxInt32 {
		return nil, fmt.Errorf("response of %d bytes exceeds the protocol's int32 size", total)
	}
	binary.BigEndian.PutUint32(buf, uint32(total-4))
	return parts, nil
}
