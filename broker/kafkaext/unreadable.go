package kafkaext

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// UnreadableRangeTag is the tag of a Fetch response partition's tagged field
// (Fetch v12 and later) that names a range of the log that cannot be read.
// A broker sets it beside error code CORRUPT_MESSAGE when the fetch offset
// falls in stored data it found damaged: the value says which offsets are
// lost and where readable data resumes, so a reader can tell its user and
// continue from there. Kafka clients ignore unknown tags and see only
// CORRUPT_MESSAGE.
const UnreadableRangeTag uint32 = 0x52554e // "RUN"

// UnreadableRange is a half-open range of offsets [From, To) of one
// partition that the broker cannot read. To is the first offset after the
// damage: fetching from it reads on.
type UnreadableRange struct {
	From int64
	To   int64
}

// unreadableRangeSize is the encoded size: two big-endian int64s.
const unreadableRangeSize = 16

// ErrBadUnreadableRange means a tagged field value is not an UnreadableRange.
var ErrBadUnreadableRange = errors.New("kafkaext: malformed unreadable range")

// Validate reports whether r is a sensible range: 0 <= From < To.
func (r UnreadableRange) Validate() error {
	if r.From < 0 || r.To <= r.From {
		return fmt.Errorf("%w: [%d, %d)", ErrBadUnreadableRange, r.From, r.To)
	}
	return nil
}

// String formats r for messages, as "offsets 120 to 199".
func (r UnreadableRange) String() string {
	return fmt.Sprintf("offsets %d to %d", r.From, r.To-1)
}

// AppendUnreadableRange appends r's encoding, the value of the tagged field
// UnreadableRangeTag, to dst.
func AppendUnreadableRange(dst []byte, r UnreadableRange) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.From))
	return binary.BigEndian.AppendUint64(dst, uint64(r.To))
}

// ParseUnreadableRange decodes the value of the tagged field
// UnreadableRangeTag. It refuses any value that is not exactly one valid
// range: the bytes come from the network.
func ParseUnreadableRange(b []byte) (UnreadableRange, error) {
	if len(b) != unreadableRangeSize {
		return UnreadableRange{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadUnreadableRange, len(b), unreadableRangeSize)
	}
	r := UnreadableRange{
		From: int64(binary.BigEndian.Uint64(b)),
		To:   int64(binary.BigEndian.Uint64(b[8:])),
	}
	if err := r.Validate(); err != nil {
		return UnreadableRange{}, err
	}
	return r, nil
}
