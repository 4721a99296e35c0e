package commitlog

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
)

// FuzzClean builds a log from script (each byte a record: its key from a
// small alphabet, a tombstone, a batch boundary or a codec change), writes
// damage over its first segment file at a position taken from damage's
// first two bytes, reopens it after a crash (every segment re-read) and
// cleans it. The cleaner must never panic or fail on what the open let
// through; on an undamaged log the last value of every key must read the
// same after cleaning and after another reopen.
func FuzzClean(f *testing.F) {
	f.Add([]byte("abcabcabc"), []byte{})
	f.Add([]byte{0x01, 0x82, 0x43, 0x01, 0xc1, 0x02, 0x22, 0x01, 0x81, 0x01}, []byte{0, 70, 0xff, 0xff})
	f.Add(bytes.Repeat([]byte{0x10, 0x11, 0x92, 0x33}, 40), []byte{0, 3, 1, 2, 3, 4})
	f.Add(bytes.Repeat([]byte{0x05, 0x25, 0x45, 0x65}, 30), []byte{})
	f.Fuzz(func(t *testing.T, script, damage []byte) {
		if len(script) > 400 {
			return
		}
		dir := t.TempDir()
		o := compactOptions(nil)
		o.SegmentBytes = 3000
		o.MaxIndexBytes = 4096
		o.FS = noSyncFS{}
		l, err := Open(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		codecs := []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecGzip, recordbatch.CodecSnappy, recordbatch.CodecZstd}
		var recs []recordbatch.Record
		codec := recordbatch.CodecNone
		flush := func() {
			if len(recs) == 0 {
				return
			}
			b, err := recordbatch.Build(recordbatch.BuildOptions{Codec: codec}, recs)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(b, 0); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
		for i, c := range script {
			if c&0x30 == 0x30 {
				flush()
				codec = codecs[int(c>>6)%len(codecs)]
			}
			var v []byte
			if c&0x80 == 0 {
				v = fmt.Appendf(nil, "v%d", i)
			}
			recs = append(recs, recordbatch.Record{Key: []byte{'k', c % 7}, Value: v, Timestamp: int64(i)})
			if c&0x40 != 0 {
				flush()
			}
		}
		flush()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		damaged := len(damage) > 2
		if damaged {
			path := filepath.Join(dir, segmentName(0)+logSuffix)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pos := int(damage[0])<<8 | int(damage[1])
			if pos >= len(b) {
				damaged = false
			} else {
				copy(b[pos:], damage[2:])
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		o.CleanShutdown = false
		l, err = Open(dir, o)
		if err != nil {
			return // refusing to open damage is not the cleaner's to test
		}
		defer l.Close()
		l.SetHighWatermark(1 << 62)
		intact := !damaged && len(l.UnreadableRanges()) == 0
		var before map[string][]byte
		if intact {
			before = lastValues(t, l)
		}
		end := l.LogEndOffset()
		c, err := NewCleaner(CleanerOptions{DedupeBufferSize: 1024 * offsetMapSlotBytes})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Clean(context.Background(), l, true); err != nil {
			t.Fatalf("clean: %v", err)
		}
		if l.LogEndOffset() != end {
			t.Fatalf("log end %d after cleaning, was %d", l.LogEndOffset(), end)
		}
		if !intact {
			return
		}
		after := lastValues(t, l)
		if len(after) != len(before) {
			t.Fatalf("%d keys after cleaning, %d before", len(after), len(before))
		}
		for k, v := range before {
			if !bytes.Equal(after[k], v) || (after[k] == nil) != (v == nil) {
				t.Fatalf("key %q: %q after cleaning, %q before", k, after[k], v)
			}
		}
	})
}

// noSyncFS skips fsyncs, which a fuzz test of the cleaner's input has no
// use for and which would make each input take many milliseconds.
type noSyncFS struct{ diskfs.OS }

func (noSyncFS) Sync(*os.File) error     { return nil }
func (noSyncFS) Datasync(*os.File) error { return nil }
func (noSyncFS) SyncDir(string) error    { return nil }

// lastValues reads l whole: the last value of every key, offsets checked
// ascending.
func lastValues(t *testing.T, l *Log) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	prev := int64(-1)
	for _, r := range readAll(t, l, l.LogStartOffset()) {
		if r.Offset <= prev {
			t.Fatalf("offset %d after %d", r.Offset, prev)
		}
		prev = r.Offset
		out[string(r.Key)] = r.Value
	}
	return out
}
