package idemwindow

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultWindow       = 24 * time.Hour
	DefaultMaxKeys      = 100_000
	DefaultRebuildBytes = 64 << 20
)

// Options configure an Index. Zero values take the defaults above.
type Options struct {
	// Window is how long a key is remembered: a retry later than this is
	// written again.
	Window time.Duration
	// MaxKeys bounds the keys remembered; past it the oldest are forgotten
	// first, whatever their age.
	MaxKeys int
	// RebuildBytes bounds how much of the log tail Rebuild reads.
	RebuildBytes int64
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.RebuildBytes == 0 {
		o.RebuildBytes = DefaultRebuildBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate says in plain words what is wrong with o.
func (o Options) Validate() error {
	var errs []error
	if o.Window < 0 {
		errs = append(errs, fmt.Errorf("idemwindow: window %v is negative", o.Window))
	}
	if o.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("idemwindow: max keys %d is negative", o.MaxKeys))
	}
	if o.RebuildBytes < 0 {
		errs = append(errs, fmt.Errorf("idemwindow: rebuild bytes %d is negative", o.RebuildBytes))
	}
	return errors.Join(errs...)
}

// Entry is where the first append carrying a key went.
type Entry struct {
	BaseOffset int64 // offset of the append's first record
	LastOffset int64 // offset of its last record
	// Time is when the entry was made, in milliseconds since the Unix
	// epoch: the broker's clock for Record, the batch's largest timestamp
	// for entries rebuilt from the log. The entry expires Window after it.
	Time int64
}

// digest is a key as stored: the first 128 bits of its SHA-256.
type digest [16]byte

func digestOf(key []byte) digest {
	sum := sha256.Sum256(key)
	return digest(sum[:16])
}

type slot struct {
	e   Entry
	seq uint64 // position in the queue, so that a stale queue item is skipped
}

type queued struct {
	d   digest
	seq uint64
}

// Index remembers the recent Idempotency-Keys of one partition. It is safe
// for concurrent use, but Check and the append and Record that follow it must
// run under the partition's append lock, or two copies of a retry could both
// miss and both append.
type Index struct {
	opts Options

	mu     sync.Mutex
	byKey  map[digest]slot
	queue  []queued // insertion order; queue[head:] are live or stale items
	head   int
	seq    uint64
	window int64 // opts.Window in milliseconds
}

// New returns an empty Index.
func New(opts Options) (*Index, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	return &Index{opts: o, byKey: make(map[digest]slot), window: o.Window.Milliseconds()}, nil
}

// Check returns the entry of key if it is remembered and not expired.
func (x *Index) Check(key []byte) (Entry, bool) {
	d := digestOf(key)
	now := x.opts.Now().UnixMilli()
	x.mu.Lock()
	defer x.mu.Unlock()
	s, ok := x.byKey[d]
	if !ok || x.expired(s.e, now) {
		return Entry{}, false
	}
	return s.e, true
}

// Record remembers that the append of key wrote base..last, now. A key
// already remembered is replaced.
func (x *Index) Record(key []byte, base, last int64) {
	now := x.opts.Now().UnixMilli()
	x.add(digestOf(key), Entry{BaseOffset: base, LastOffset: last, Time: now}, now)
}

// Forget drops every entry whose records reach offset or beyond, for a log
// truncated to offset: a retry of those appends must be written again.
func (x *Index) Forget(offset int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for d, s := range x.byKey {
		if s.e.LastOffset >= offset {
			delete(x.byKey, d)
		}
	}
}

// Len returns the number of keys remembered, expired ones not yet dropped
// included.
func (x *Index) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byKey)
}

func (x *Index) expired(e Entry, now int64) bool { return e.Time < now-x.window }

// add inserts e under d, then drops expired entries from the front of the
// queue and the oldest ones past MaxKeys.
func (x *Index) add(d digest, e Entry, now int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq++
	x.byKey[d] = slot{e: e, seq: x.seq}
	x.queue = append(x.queue, queued{d: d, seq: x.seq})
	for x.head < len(x.queue) {
		q := x.queue[x.head]
		s, ok := x.byKey[q.d]
		live := ok && s.seq == q.seq
		if live && len(x.byKey) <= x.opts.MaxKeys && !x.expired(s.e, now) {
			break
		}
		if live {
			delete(x.byKey, q.d)
		}
		x.queue[x.head] = queued{}
		x.head++
	}
	// Compact once the dead prefix is at least half the queue, so the
	// queue's memory stays proportional to the live keys.
	if x.head > 0 && x.head >= len(x.queue)/2 {
		n := copy(x.queue, x.queue[x.head:])
		clear(x.queue[n:])
		x.queue = x.queue[:n]
		x.head = 0
	}
	// Items of replaced or forgotten keys behind the front are dropped
	// when the queue grows to twice the keys.
	if len(x.queue)-x.head > 2*max(len(x.byKey), 1) {
		live := x.queue[:0]
		for _, q := range x.queue[x.head:] {
			if s, ok := x.byKey[q.d]; ok && s.seq == q.seq {
				live = append(live, q)
			}
		}
		clear(x.queue[len(live):])
		x.queue = live
		x.head = 0
	}
}
