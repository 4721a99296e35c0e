package tiering

import (
	"container/list"
	"fmt"
	"sort"
	"sync"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// remoteIndex is a remote segment's offset index (and, once asked for, its
// time index), checked against the segment's metadata: relative offsets and
// positions strictly increasing, positions inside the log, offsets inside
// the segment. An index that fails the check is not used (the reader scans
// the log from its start instead): indexes are derived data.
type remoteIndex struct {
	offsets []byte // OffsetIndexEntrySize entries
	times   []byte // TimeIndexEntrySize entries; nil until loaded
	timesOK bool   // times was loaded (possibly empty)
}

// parseOffsetIndex checks a segment.index object against seg.
func parseOffsetIndex(b []byte, seg metadata.RemoteSegment) error {
	if len(b)%commitlog.OffsetIndexEntrySize != 0 {
		return fmt.Errorf("%d bytes are not whole %d-byte entries", len(b), commitlog.OffsetIndexEntrySize)
	}
	span := seg.EndOffset - seg.BaseOffset
	prevRel, prevPos := int64(-1), int64(-1)
	for i := 0; i < len(b); i += commitlog.OffsetIndexEntrySize {
		r, p := commitlog.DecodeOffsetIndexEntry(b[i:])
		if int64(r) <= prevRel || int64(p) <= prevPos || int64(p) >= seg.Size || int64(r) > span {
			return fmt.Errorf("entry %d (%d → %d) is out of order or outside the segment", i/commitlog.OffsetIndexEntrySize, r, p)
		}
		prevRel, prevPos = int64(r), int64(p)
	}
	return nil
}

// parseTimeIndex checks a segment.timeindex object against seg.
func parseTimeIndex(b []byte, seg metadata.RemoteSegment) error {
	if len(b)%commitlog.TimeIndexEntrySize != 0 {
		return fmt.Errorf("%d bytes are not whole %d-byte entries", len(b), commitlog.TimeIndexEntrySize)
	}
	span := seg.EndOffset - seg.BaseOffset
	prevTS, prevRel := int64(-1<<63), int64(-1)
	for i := 0; i < len(b); i += commitlog.TimeIndexEntrySize {
		ts, r := commitlog.DecodeTimeIndexEntry(b[i:])
		if ts < prevTS || int64(r) < prevRel || int64(r) > span {
			return fmt.Errorf("entry %d (%d → %d) is out of order or outside the segment", i/commitlog.TimeIndexEntrySize, ts, r)
		}
		prevTS, prevRel = ts, int64(r)
	}
	return nil
}

// position returns the byte position of the last indexed batch at or
// before offset (0 when none is).
func (x *remoteIndex) position(base, offset int64) int64 {
	rel := offset - base
	n := len(x.offsets) / commitlog.OffsetIndexEntrySize
	i := sort.Search(n, func(i int) bool {
		r, _ := commitlog.DecodeOffsetIndexEntry(x.offsets[i*commitlog.OffsetIndexEntrySize:])
		return int64(r) > rel
	})
	if i == 0 {
		return 0
	}
	_, p := commitlog.DecodeOffsetIndexEntry(x.offsets[(i-1)*commitlog.OffsetIndexEntrySize:])
	return int64(p)
}

// offsetBefore returns the offset of the last time index entry whose
// timestamp is below ts (the segment's base when none is): the records at
// or after ts lie after it.
func (x *remoteIndex) offsetBefore(base, ts int64) int64 {
	n := len(x.times) / commitlog.TimeIndexEntrySize
	i := sort.Search(n, func(i int) bool {
		t, _ := commitlog.DecodeTimeIndexEntry(x.times[i*commitlog.TimeIndexEntrySize:])
		return t >= ts
	})
	if i == 0 {
		return base
	}
	_, r := commitlog.DecodeTimeIndexEntry(x.times[(i-1)*commitlog.TimeIndexEntrySize:])
	return base + int64(r)
}

// indexCache keeps the indexes of recently read remote segments in memory,
// bounded in bytes, least recently used evicted first.
type indexCache struct {
	limit int64
	mu    sync.Mutex
	lru   *list.List // of *indexEntry, most recent first
	byKey map[string]*list.Element
	bytes int64
}

type indexEntry struct {
	key string
	ix  *remoteIndex
}

func newIndexCache(limit int64) *indexCache {
	return &indexCache{limit: limit, lru: list.New(), byKey: map[string]*list.Element{}}
}

func (x *remoteIndex) size() int64 { return int64(len(x.offsets)+len(x.times)) + 64 }

func (c *indexCache) get(key string) (*remoteIndex, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*indexEntry).ix, true
}

// put stores ix for key (replacing what was there) and evicts down to the
// limit. Entries are never modified once stored: a caller that adds the
// time index stores a new remoteIndex.
func (c *indexCache) put(key string, ix *remoteIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.bytes -= el.Value.(*indexEntry).ix.size()
		c.lru.Remove(el)
	}
	c.byKey[key] = c.lru.PushFront(&indexEntry{key, ix})
	c.bytes += ix.size()
	for c.bytes > c.limit && c.lru.Len() > 1 {
		el := c.lru.Back()
		e := el.Value.(*indexEntry)
		c.lru.Remove(el)
		delete(c.byKey, e.key)
		c.bytes -= e.ix.size()
	}
}
