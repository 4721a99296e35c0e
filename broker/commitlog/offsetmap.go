package commitlog

import (
	"hash/maphash"
	"math/bits"
)

// offsetMapSlotBytes is what one key costs the cleaner's offset map: a
// 16-byte hash of the key and the 8-byte offset of its last record, as in
// Kafka's SkimpyOffsetMap.
const offsetMapSlotBytes = 24

// offsetMap maps the 128-bit hash of a record key to the offset of the
// key's last record in the range being cleaned: a fixed-size open-addressing
// table whose memory never passes the size it was made with. Two keys with
// the same 128-bit hash would be taken for one (a chance of about n²/2¹²⁹
// for n keys, as with Kafka's MD5 map).
type offsetMap struct {
	slots   []offsetMapSlot // a power of two
	used    int
	maxUsed int // the load factor's share of the slots
	seed1   maphash.Seed
	seed2   maphash.Seed
}

// offsetMapSlot is one entry; off is the offset plus one, zero when empty.
type offsetMapSlot struct {
	h1, h2 uint64
	off    int64
}

// newOffsetMap makes a map of at most maxBytes holding at most loadFactor
// of its slots, sized for want keys when that takes less. It reuses the
// slots of old (a map of an earlier run) when they are enough, so that a
// cleaner does not allocate its map again for every log.
func newOffsetMap(old *offsetMap, maxBytes int64, loadFactor float64, want int64) *offsetMap {
	limit := maxBytes / offsetMapSlotBytes
	n := int64(1024)
	if need := int64(float64(want)/loadFactor) + 1; need > n {
		n = int64(1) << bits.Len64(uint64(need-1))
	}
	for n > limit && n > 1 {
		n >>= 1
	}
	m := &offsetMap{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed()}
	if old != nil && int64(cap(old.slots)) >= n {
		m.slots = old.slots[:n]
		clear(m.slots)
	} else {
		m.slots = make([]offsetMapSlot, n)
	}
	m.maxUsed = max(1, int(float64(n)*loadFactor))
	return m
}

// bytes is the map's memory.
func (m *offsetMap) bytes() int64 { return int64(len(m.slots)) * offsetMapSlotBytes }

// room reports whether n more keys surely fit.
func (m *offsetMap) room(n int) bool { return m.used+n <= m.maxUsed }

func (m *offsetMap) hash(key []byte) (uint64, uint64) {
	return maphash.Bytes(m.seed1, key), maphash.Bytes(m.seed2, key)
}

// put records offset as key's last offset. The caller checks room first;
// put on a full map of a new key returns false and changes nothing.
func (m *offsetMap) put(key []byte, offset int64) bool {
	h1, h2 := m.hash(key)
	mask := uint64(len(m.slots) - 1)
	for i := h1 & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.off == 0 {
			if m.used >= m.maxUsed {
				return false
			}
			*s = offsetMapSlot{h1, h2, offset + 1}
			m.used++
			return true
		}
		if s.h1 == h1 && s.h2 == h2 {
			s.off = max(s.off, offset+1)
			return true
		}
	}
}

// get returns key's last offset, ok false when the key is not in the map.
func (m *offsetMap) get(key []byte) (int64, bool) {
	h1, h2 := m.hash(key)
	mask := uint64(len(m.slots) - 1)
	for i := h1 & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.off == 0 {
			return 0, false
		}
		if s.h1 == h1 && s.h2 == h2 {
			return s.off - 1, true
		}
	}
}
