package kafkaserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ReadSplice returns the bytes that the placeholder field, as returned by
// Splice, stands for: its file regions read into one new slice, in order.
// It is for a response served in-process rather than written to a
// connection (where the regions go out with sendfile); call it before
// Release, which lets the files go. ok is false when field is not a
// placeholder of r: the field holds its own bytes.
func (r *Response) ReadSplice(field []byte) (data []byte, ok bool, err error) {
	if len(field) != placeholderLen || !bytes.Equal(field[:placeholderPrefixLen], placeholderPrefix[:]) {
		return nil, false, nil
	}
	seq := binary.BigEndian.Uint64(field[placeholderPrefixLen:])
	for i := range r.splices {
		s := &r.splices[i]
		if s.seq != seq {
			continue
		}
		data = make([]byte, s.size)
		at := int64(0)
		for _, reg := range s.regions {
			if reg.Size < 0 || reg.Position < 0 || reg.File == nil || at+reg.Size > s.size {
				return nil, true, fmt.Errorf("bad file region (file set %v, position %d, size %d)", reg.File != nil, reg.Position, reg.Size)
			}
			n, err := reg.File.ReadAt(data[at:at+reg.Size], reg.Position)
			if int64(n) < reg.Size {
				if err == nil || errors.Is(err, io.EOF) {
					err = errShortFile
				}
				return nil, true, fmt.Errorf("read %s [%d,+%d): %w", reg.File.Name(), reg.Position, reg.Size, err)
			}
			at += reg.Size
		}
		return data, true, nil
	}
	return nil, true, fmt.Errorf("splice placeholder %d is not from this response", seq)
}
