package commitlog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testfs"
)

// dirState is every file of a directory with its size: what a test compares
// to show that nothing was deleted or cut.
func dirState(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = info.Size()
	}
	return m
}

// checkLogsKept asserts that every .log file of before is still there with
// at least its size (sealed ones exactly).
func checkLogsKept(t testing.TB, before, after map[string]int64) {
	t.Helper()
	var names []string
	for name := range before {
		names = append(names, name)
	}
	sort.Strings(names)
	last := ""
	for _, name := range names {
		if strings.HasSuffix(name, logSuffix) {
			last = name
		}
	}
	for _, name := range names {
		if !strings.HasSuffix(name, logSuffix) {
			continue
		}
		got, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s was deleted", name)
		case name != last && got != before[name]:
			t.Errorf("sealed %s changed size: %d, was %d", name, got, before[name])
		case got < before[name] && name != last:
			t.Errorf("%s was cut to %d bytes, was %d", name, got, before[name])
		}
	}
}

// quiet gives o a logger that discards.
func quiet(o Options) Options {
	o.Logger = quietOptions().Logger
	return o
}

// segmentLogs returns the .log files of dir, oldest first.
func segmentLogs(t testing.TB, dir string) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*"+logSuffix))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no segment logs in %s: %v", dir, err)
	}
	sort.Strings(logs)
	return logs
}

// batchStarts returns the byte position of every batch of a segment file.
func batchStarts(t testing.TB, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for pos := 0; pos < len(data); {
		b, _, err := recordbatch.Next(data[pos:])
		if err != nil {
			t.Fatalf("%s at %d: %v", path, pos, err)
		}
		out = append(out, int64(pos))
		pos += len(b)
	}
	return out
}

func baseOf(t testing.TB, path string) int64 {
	t.Helper()
	base, _, ok := ParseSegmentFileName(filepath.Base(path))
	if !ok {
		t.Fatalf("not a segment file: %s", path)
	}
	return base
}

// readEverything reads the log from its start with Read, skipping each
// unreadable range, and returns the decoded records and the ranges skipped.
func readEverything(t testing.TB, l *Log) ([]recordbatch.Record, []UnreadableRange) {
	t.Helper()
	var recs []recordbatch.Record
	var skipped []UnreadableRange
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		buf, res, err := l.ReadBatches(off, 64<<10, ToLogEnd)
		var ue *UnreadableRangeError
		if errors.As(err, &ue) {
			if ue.From != off || ue.To <= off {
				t.Fatalf("read at %d: unreadable range %d to %d does not start there", off, ue.From, ue.To)
			}
			skipped = append(skipped, ue.UnreadableRange)
			off = ue.To
			continue
		}
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(buf) == 0 {
			t.Fatalf("read at %d returned nothing below the log end %d", off, l.LogEndOffset())
		}
		for rest := buf; len(rest) > 0; {
			b, r, err := recordbatch.Next(rest)
			if err != nil {
				t.Fatalf("read at %d served a bad batch: %v", off, err)
			}
			if _, err := recordbatch.Validate(b, 0); err != nil {
				t.Fatalf("read at %d served a batch that does not validate: %v", off, err)
			}
			it, err := recordbatch.Records(b, recordbatch.DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for {
				rec, err := it.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if rec.Offset >= off {
					recs = append(recs, rec)
				}
			}
			rest = r
		}
		off = res.NextOffset
	}
	return recs, skipped
}

// checkServed asserts that every record served equals the one written at its
// offset, that offsets increase, and that exactly the offsets outside the
// skipped ranges were served.
func checkServed(t testing.TB, recs []recordbatch.Record, skipped []UnreadableRange, want []testRecord, start int64) {
	t.Helper()
	next := start
	si := 0
	for _, r := range recs {
		for si < len(skipped) && next == skipped[si].From {
			next = skipped[si].To
			si++
		}
		if r.Offset != next {
			t.Fatalf("served offset %d, want %d (skipped %+v)", r.Offset, next, skipped)
		}
		w := want[r.Offset]
		if !bytes.Equal(r.Value, w.value) || !bytes.Equal(r.Key, w.key) || r.Timestamp != w.ts {
			t.Fatalf("record %d differs from what was written", r.Offset)
		}
		next++
	}
	for si < len(skipped) && next == skipped[si].From {
		next = skipped[si].To
		si++
	}
	if next != int64(len(want)) {
		t.Fatalf("served up to %d, want %d (skipped %+v)", next, len(want), skipped)
	}
}

// TestDamagedSealedSegmentIsQuarantined damages one sealed segment in the
// middle of a log in each way the outside tests did, then opens it as after
// a kill -9 (everything re-read) and as after a clean stop (quick checks;
// the rest is found by the first read of the segment). Every later segment
// survives and is served, the damaged offsets are refused with an
// *UnreadableRangeError naming them, and no file is deleted or cut.
func TestDamagedSealedSegmentIsQuarantined(t *testing.T) {
	type damage struct {
		name string
		// apply damages seg (the third segment), whose batches start at
		// starts; it returns the first offset it makes unreadable (the
		// segment's next base when none is).
		apply func(t *testing.T, seg string, starts []int64, base, nextBase int64) int64
		// seg is the index of the segment the range is reported in (the
		// damaged one, 2, unless set).
		seg int
	}
	damages := []damage{
		{name: "appended garbage", apply: func(t *testing.T, seg string, _ []int64, _, nextBase int64) int64 {
			f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(bytes.Repeat([]byte{0xa5}, 185))
			f.Close()
			return nextBase
		}},
		{name: "flipped bit in a record", apply: func(t *testing.T, seg string, starts []int64, base, _ int64) int64 {
			testfs.FlipByte(t, seg, starts[2]+recordbatch.HeaderSize+5)
			return base + 6 // batches of 3 records
		}},
		{name: "garbage over a header", apply: func(t *testing.T, seg string, starts []int64, base, _ int64) int64 {
			f, _ := os.OpenFile(seg, os.O_WRONLY, 0)
			f.WriteAt(bytes.Repeat([]byte{0x5a}, 40), starts[3])
			f.Close()
			return base + 9
		}},
		{name: "zeroed block", apply: func(t *testing.T, seg string, starts []int64, base, _ int64) int64 {
			f, _ := os.OpenFile(seg, os.O_WRONLY, 0)
			f.WriteAt(make([]byte, 512), starts[1]+3)
			f.Close()
			return base + 3
		}},
		{name: "tail cut", apply: func(t *testing.T, seg string, starts []int64, base, _ int64) int64 {
			os.Truncate(seg, starts[len(starts)-1]+20)
			return base + int64(3*(len(starts)-1))
		}},
		{name: "deleted", seg: 1, apply: func(t *testing.T, seg string, _ []int64, base, _ int64) int64 {
			os.Remove(seg)
			return base
		}},
		{name: "emptied", apply: func(t *testing.T, seg string, _ []int64, base, _ int64) int64 {
			os.Truncate(seg, 0)
			return base
		}},
	}
	for _, d := range damages {
		for _, clean := range []bool{false, true} {
			name := d.name + "/after kill -9"
			if clean {
				name = d.name + "/after clean stop"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				opts := quiet(Options{SegmentBytes: 4096, IndexIntervalBytes: 256})
				want, _ := buildLog(t, dir, opts, 100)
				logs := segmentLogs(t, dir)
				if len(logs) < 6 {
					t.Fatalf("want at least 6 segments, got %d", len(logs))
				}
				seg := logs[2]
				base, nextBase := baseOf(t, seg), baseOf(t, logs[3])
				from := d.apply(t, seg, batchStarts(t, seg), base, nextBase)
				before := dirState(t, dir)

				o := opts
				if clean {
					o.CleanShutdown, o.RecoveryPoint = true, int64(len(want))
				}
				l := openTestLog(t, dir, o)
				recs, skipped := readEverything(t, l)
				checkServed(t, recs, skipped, want, 0)
				if from < nextBase {
					inSeg := logs[max(d.seg, 2)]
					if d.seg != 0 {
						inSeg = logs[d.seg]
					}
					if len(skipped) != 1 || skipped[0].From != from || skipped[0].To != nextBase || skipped[0].Segment != inSeg {
						t.Fatalf("skipped %+v, want offsets %d to %d of %s", skipped, from, nextBase, inSeg)
					}
					_, err := l.Read(from, 1<<20, ToLogEnd)
					var ue *UnreadableRangeError
					if !errors.As(err, &ue) || !errors.Is(err, ErrUnreadable) || ue.From != from || ue.To != nextBase {
						t.Fatalf("read at %d: %v, want unreadable %d to %d", from, err, from, nextBase)
					}
					if got := l.UnreadableRanges(); len(got) != 1 || got[0].From != from || got[0].To != nextBase {
						t.Fatalf("UnreadableRanges %+v", got)
					}
					// A read from before the range stops at it.
					if from > base {
						res, err := l.Read(base, 1<<20, ToLogEnd)
						if err != nil || res.NextOffset != from {
							t.Fatalf("read before the range: next %d err %v, want %d", res.NextOffset, err, from)
						}
					}
				} else if len(skipped) != 0 {
					t.Fatalf("skipped %+v; no offset was damaged", skipped)
				}
				if l.LogEndOffset() != int64(len(want)) {
					t.Fatalf("log end %d, want %d", l.LogEndOffset(), len(want))
				}
				if _, err := l.Append(simpleBatch(t, 2, 10, 5), 1); err != nil {
					t.Fatalf("append after quarantine: %v", err)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				after := dirState(t, dir)
				checkLogsKept(t, before, after)

				// A clean reopen still knows the damage: the quarantine
				// checkpoint makes it re-read the segment whole.
				o.CleanShutdown, o.RecoveryPoint = true, int64(len(want))+2
				l = openTestLog(t, dir, o)
				_, err := l.Read(from, 1<<20, ToLogEnd)
				if from < nextBase && !errors.Is(err, ErrUnreadable) {
					t.Fatalf("read at %d after a clean reopen: %v", from, err)
				}
				checkLogsKept(t, after, dirState(t, dir))
			})
		}
	}
}

// TestActiveSegmentDamageIsNotATornTail damages a batch in the middle of the
// active segment: the valid batches after it show it is not a torn write, so
// nothing is cut. The segment is quarantined whole and appends go on in a
// new segment after the last batch found, never reusing an offset.
func TestActiveSegmentDamageIsNotATornTail(t *testing.T) {
	dir := t.TempDir()
	opts := quiet(Options{IndexIntervalBytes: 256})
	want, _ := buildLog(t, dir, opts, 20)
	seg := segmentLogs(t, dir)[0]
	starts := batchStarts(t, seg)
	f, _ := os.OpenFile(seg, os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte{0xee}, 30), starts[5]+2) // length and offset fields of batch 5
	f.Close()
	before := dirState(t, dir)

	l := openTestLog(t, dir, opts) // after a kill -9: everything re-read
	if got := l.LogEndOffset(); got != int64(len(want)) {
		t.Fatalf("log end %d, want %d: no offset may be given out twice", got, len(want))
	}
	_, err := l.Read(15, 1<<20, ToLogEnd)
	var ue *UnreadableRangeError
	if !errors.As(err, &ue) || ue.From != 15 || ue.To != int64(len(want)) {
		t.Fatalf("read at 15: %v, want unreadable 15 to %d", err, len(want))
	}
	recs, skipped := readEverything(t, l)
	checkServed(t, recs, skipped, want, 0)
	info, err := l.Append(simpleBatch(t, 2, 10, 5), 1)
	if err != nil || info.FirstOffset != int64(len(want)) {
		t.Fatalf("append: %+v %v", info, err)
	}
	if segs := l.Segments(); len(segs) != 2 || segs[1].BaseOffset != int64(len(want)) {
		t.Fatalf("segments %+v", segs)
	}
	checkLogsKept(t, before, dirState(t, dir))
	if got := dirState(t, dir)[filepath.Base(seg)]; got != before[filepath.Base(seg)] {
		t.Fatalf("damaged segment changed size: %d, was %d", got, before[filepath.Base(seg)])
	}
}

// TestDamageFoundByAReadAfterOpen damages a sealed segment while the log is
// open and already verified it: the read that runs into the bad header
// quarantines the segment and answers an *UnreadableRangeError instead of
// an opaque error; the offsets after it are still served.
func TestDamageFoundByAReadAfterOpen(t *testing.T) {
	dir := t.TempDir()
	opts := quiet(Options{SegmentBytes: 4096, IndexIntervalBytes: 256})
	want, _ := buildLog(t, dir, opts, 60)
	l := openTestLog(t, dir, opts) // re-reads and verifies every segment
	logs := segmentLogs(t, dir)
	seg := logs[1]
	base, nextBase := baseOf(t, seg), baseOf(t, logs[2])
	starts := batchStarts(t, seg)
	f, _ := os.OpenFile(seg, os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte{0x33}, 20), starts[2])
	f.Close()

	// The index entry nearest offset base+7 is at or after batch 2: the
	// walk from it runs into the garbage.
	_, err := l.Read(base+7, 1<<20, ToLogEnd)
	var ue *UnreadableRangeError
	if !errors.As(err, &ue) || ue.From != base+6 || ue.To != nextBase {
		t.Fatalf("read in the damage: %v, want unreadable %d to %d", err, base+6, nextBase)
	}
	recs, skipped := readEverything(t, l)
	checkServed(t, recs, skipped, want, 0)
	if _, _, found, err := l.OffsetForTimestamp(base+7, ToLogEnd); err != nil || !found {
		t.Fatalf("offset for a timestamp in the damage: found %v err %v", found, err)
	}
	n := 0
	if err := l.ScanHeaders(0, func(recordbatch.Header) error { n++; return nil }); err != nil {
		t.Fatalf("scan headers over the damage: %v", err)
	}
	if n != len(want)/3-int(nextBase-base-6)/3 {
		t.Fatalf("scanned %d batches, want %d", n, len(want)/3-int(nextBase-base-6)/3)
	}
}

// TestOffsetForTimestampPassesOverDamage asks for a timestamp whose first
// record lies in an unreadable range: the answer is the first readable
// record at or after it, in the next segment.
func TestOffsetForTimestampPassesOverDamage(t *testing.T) {
	dir := t.TempDir()
	opts := quiet(Options{SegmentBytes: 4096, IndexIntervalBytes: 256})
	want, _ := buildLog(t, dir, opts, 60)
	logs := segmentLogs(t, dir)
	base, nextBase := baseOf(t, logs[1]), baseOf(t, logs[2])
	testfs.FlipByte(t, logs[1], batchStarts(t, logs[1])[1]+recordbatch.HeaderSize+1)
	l := openTestLog(t, dir, opts)
	// Timestamps equal offsets in buildLog.
	off, ts, found, err := l.OffsetForTimestamp(base+4, ToLogEnd)
	if err != nil || !found || off != nextBase || ts != nextBase {
		t.Fatalf("offset for timestamp %d: %d %d %v %v, want %d", base+4, off, ts, found, err, nextBase)
	}
	if off, _, found, _ := l.OffsetForTimestamp(base+1, ToLogEnd); !found || off != base+1 {
		t.Fatalf("offset for a readable timestamp: %d %v", off, found)
	}
	if off, _, found, _ := l.OffsetForTimestamp(int64(len(want)-1), ToLogEnd); !found || off != int64(len(want)-1) {
		t.Fatalf("offset for the last timestamp: %d %v", off, found)
	}
}

// TestListSegmentsKeepsWhatItDidNotWrite puts files in a log directory that
// the log did not leave: they are kept. Its own interrupted leftovers go.
func TestListSegmentsKeepsWhatItDidNotWrite(t *testing.T) {
	dir := t.TempDir()
	opts := quiet(Options{})
	buildLog(t, dir, opts, 3)
	keep := []string{"00000000000000000000.log.deleted", "notes.tmp", "00000000000000000007.log.tmp", "00000000000000000000.log.bak"}
	gone := []string{leaderEpochFile + ".tmp", "00000000000000000042.index", "00000000000000000042.timeindex"}
	for _, name := range append(keep, gone...) {
		os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644)
	}
	l := openTestLog(t, dir, opts)
	if l.LogEndOffset() != 9 {
		t.Fatalf("log end %d", l.LogEndOffset())
	}
	state := dirState(t, dir)
	for _, name := range keep {
		if _, ok := state[name]; !ok {
			t.Errorf("%s was deleted", name)
		}
	}
	for _, name := range gone {
		if _, ok := state[name]; ok {
			t.Errorf("leftover %s was kept", name)
		}
	}
}
