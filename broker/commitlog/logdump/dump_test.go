package logdump

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testfs"
)

const (
	dumpBatches         = 24
	dumpRecordsPerBatch = 3
	dumpBaseTS          = int64(1_700_000_000_000)
)

// dumpTestLog writes a log of dumpBatches batches through the real Log (small
// segments and a small index interval, so there are several segments with
// several index entries each), closes it, and returns its directory.
func dumpTestLog(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "orders-0")
	l, err := commitlog.Open(dir, commitlog.Options{SegmentBytes: 1200, IndexIntervalBytes: 150, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < dumpBatches; i++ {
		recs := make([]recordbatch.Record, dumpRecordsPerBatch)
		for j := range recs {
			n := i*dumpRecordsPerBatch + j
			recs[j] = recordbatch.Record{
				Key:       []byte(fmt.Sprintf("key-%d", n)),
				Value:     []byte(fmt.Sprintf("value %d", n)),
				Timestamp: dumpBaseTS + int64(n)*10,
			}
		}
		recs[0].Headers = []recordbatch.RecordHeader{{Key: "trace", Value: []byte{0xff, 0x00}}}
		opts := recordbatch.BuildOptions{}
		if i%5 == 4 {
			opts.Codec = recordbatch.CodecGzip
		}
		if i == 7 {
			opts.Producer = &recordbatch.Producer{ID: 42, Epoch: 3, BaseSequence: 0}
		}
		b, err := recordbatch.Build(opts, recs)
		if err != nil {
			t.Fatal(err)
		}
		epoch := int32(1)
		if i >= dumpBatches/2 {
			epoch = 2
		}
		if _, err := l.Append(b, epoch); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dumpSegments returns the paths of the .log files in dir, oldest first.
func dumpSegments(t *testing.T, dir string) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(logs)
	return logs
}

// dumpBatchPositions frames the .log file at path and returns the position and
// header of each batch.
func dumpBatchPositions(t *testing.T, path string) ([]int64, []recordbatch.Header) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pos []int64
	var hs []recordbatch.Header
	for p, rest := 0, data; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			t.Fatalf("%s at %d: %v", path, p, err)
		}
		h, err := recordbatch.Validate(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		pos, hs = append(pos, int64(p)), append(hs, h)
		p += len(b)
		rest = r
	}
	return pos, hs
}

func runDump(t *testing.T, path string, opts Options) (string, Report) {
	t.Helper()
	var out bytes.Buffer
	rep, err := Dump(context.Background(), &out, path, opts)
	if err != nil {
		t.Fatalf("Dump: %v\n%s", err, out.String())
	}
	return out.String(), rep
}

// copyDumpDir copies a partition directory so each test damages its own copy.
func copyDumpDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func problemsOf(rep Report, kind ProblemKind) []Problem {
	var out []Problem
	for _, p := range rep.Problems {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

func TestDumpCleanLog(t *testing.T) {
	dir := dumpTestLog(t)
	out, rep := runDump(t, dir, Options{Records: true, Verify: true, Indexes: true})
	if rep.Damaged() {
		t.Fatalf("clean log reported damaged: %v\n%s", rep.Problems, out)
	}
	segs := dumpSegments(t, dir)
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	if rep.Segments != len(segs) || rep.Batches != dumpBatches || rep.Records != dumpBatches*dumpRecordsPerBatch {
		t.Errorf("report %+v, want %d segments, %d batches, %d records", rep, len(segs), dumpBatches, dumpBatches*dumpRecordsPerBatch)
	}
	for _, seg := range segs {
		if !strings.Contains(out, "segment: "+filepath.Base(seg)+" ") {
			t.Errorf("output does not name segment %s", filepath.Base(seg))
		}
		pos, hs := dumpBatchPositions(t, seg)
		for i, h := range hs {
			want := fmt.Sprintf("baseOffset: %d lastOffset: %d count: %d position: %d size: %d codec: %s crc: 0x%08x isValid: true",
				h.BaseOffset, h.LastOffset(), h.NumRecords, pos[i], h.Size(), h.Codec(), h.CRC)
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	}
	wantOutput(t, out,
		"leader-epoch-checkpoint: epoch 1 from offset 0, epoch 2 from offset 36",
		"producerId: 42 producerEpoch: 3 baseSequence: 0 lastSequence: 2 partitionLeaderEpoch: 1",
		"codec: gzip",
		`| offset: 0 timestamp: 1700000000000 keySize: 5 valueSize: 7 key: "key-0" value: "value 0" headers: ["trace"=b64:/wA=]`,
		`| offset: 71 timestamp: 1700000000710 keySize: 6 valueSize: 8 key: "key-71" value: "value 71" headers: []`,
		"index: 00000000000000000000.index ",
		"offset: 0 position: 0\n",
		"timeindex: 00000000000000000000.timeindex ",
		"verify: no problems found\n",
	)
}

func TestDumpWithoutOptionsPrintsBatchesOnly(t *testing.T) {
	dir := dumpTestLog(t)
	out, rep := runDump(t, dir, Options{})
	if rep.Damaged() || strings.Contains(out, "| offset:") || strings.Contains(out, "index:") || strings.Contains(out, "verify:") {
		t.Fatalf("unexpected output without options:\n%s", out)
	}
	if got := strings.Count(out, "\nbaseOffset: "); got != dumpBatches {
		t.Fatalf("%d batch lines, want %d", got, dumpBatches)
	}
}

func TestDumpVerifyFlippedByte(t *testing.T) {
	dir := copyDumpDir(t, dumpTestLog(t))
	seg := dumpSegments(t, dir)[1]
	pos, hs := dumpBatchPositions(t, seg)
	// The last byte of the second batch is record data, covered by the CRC.
	at := pos[1] + int64(hs[1].Size()) - 1
	testfs.FlipByte(t, seg, at)

	out, rep := runDump(t, dir, Options{Verify: true})
	bad := problemsOf(rep, ProblemCorruptBatch)
	if len(bad) != 1 || len(rep.Problems) != 1 {
		t.Fatalf("want one corrupt-batch problem, got %v\n%s", rep.Problems, out)
	}
	if p := bad[0]; p.File != filepath.Base(seg) || p.Position != pos[1] || !strings.Contains(p.Message, "crc") {
		t.Errorf("problem %+v, want %s at %d about the crc", p, filepath.Base(seg), pos[1])
	}
	if !strings.Contains(out, fmt.Sprintf("baseOffset: %d lastOffset: %d count: %d position: %d", hs[1].BaseOffset, hs[1].LastOffset(), hs[1].NumRecords, pos[1])) ||
		!strings.Contains(out, "isValid: false") || !strings.Contains(out, "PROBLEM [corrupt-batch] ") {
		t.Errorf("output does not show the bad batch:\n%s", out)
	}
	if !strings.HasSuffix(out, "verify: 1 problem(s) found\n") {
		t.Errorf("output does not end with the verdict:\n%s", out)
	}
}

func TestDumpVerifyTornTail(t *testing.T) {
	dir := copyDumpDir(t, dumpTestLog(t))
	segs := dumpSegments(t, dir)
	last := segs[len(segs)-1]
	pos, hs := dumpBatchPositions(t, last)
	lastPos := pos[len(pos)-1]
	if err := os.Truncate(last, lastPos+int64(hs[len(hs)-1].Size())-5); err != nil {
		t.Fatal(err)
	}
	out, rep := runDump(t, dir, Options{Verify: true})
	torn := problemsOf(rep, ProblemTornTail)
	if len(torn) != 1 || torn[0].Position != lastPos || torn[0].File != filepath.Base(last) {
		t.Fatalf("want a torn tail at %d in %s, got %v\n%s", lastPos, filepath.Base(last), rep.Problems, out)
	}
	if rep.Batches != dumpBatches-1 {
		t.Errorf("framed %d batches, want %d", rep.Batches, dumpBatches-1)
	}
	// The sealed time index's final entry points into the lost batch.
	if len(problemsOf(rep, ProblemTimeIndex)) == 0 {
		t.Errorf("time index entry for the lost batch not reported:\n%s", out)
	}
}

func TestDumpVerifyTornHeader(t *testing.T) {
	dir := copyDumpDir(t, dumpTestLog(t))
	segs := dumpSegments(t, dir)
	last := segs[len(segs)-1]
	st, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The start of a batch header: a base offset and part of batchLength.
	if _, err := f.Write(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, rep := runDump(t, dir, Options{Verify: true})
	if torn := problemsOf(rep, ProblemTornTail); len(torn) != 1 || torn[0].Position != st.Size() || len(rep.Problems) != 1 {
		t.Fatalf("want only a torn tail at %d, got %v", st.Size(), rep.Problems)
	}
}

func TestDumpVerifyCorruptIndexEntry(t *testing.T) {
	dir := copyDumpDir(t, dumpTestLog(t))
	idx := strings.TrimSuffix(dumpSegments(t, dir)[0], ".log") + ".index"
	data, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 3*commitlog.OffsetIndexEntrySize {
		t.Fatalf("index has %d bytes, want at least 3 entries", len(data))
	}
	// Entry 1 points one byte into its batch.
	p := binary.BigEndian.Uint32(data[commitlog.OffsetIndexEntrySize+4:])
	binary.BigEndian.PutUint32(data[commitlog.OffsetIndexEntrySize+4:], p+1)
	if err := os.WriteFile(idx, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, rep := runDump(t, dir, Options{Verify: true})
	bad := problemsOf(rep, ProblemIndex)
	if len(bad) != 1 || len(rep.Problems) != 1 || bad[0].File != filepath.Base(idx) || bad[0].Position != commitlog.OffsetIndexEntrySize ||
		!strings.Contains(bad[0].Message, "does not point at the start of a batch") {
		t.Fatalf("want one index problem at entry 1, got %v\n%s", rep.Problems, out)
	}

	// An entry naming the wrong offset for a real batch start.
	binary.BigEndian.PutUint32(data[commitlog.OffsetIndexEntrySize+4:], p)
	r := binary.BigEndian.Uint32(data[commitlog.OffsetIndexEntrySize:])
	binary.BigEndian.PutUint32(data[commitlog.OffsetIndexEntrySize:], r+1)
	if err := os.WriteFile(idx, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, rep = runDump(t, dir, Options{Verify: true})
	if bad := problemsOf(rep, ProblemIndex); len(bad) != 1 || !strings.Contains(bad[0].Message, "points at the batch with base offset") {
		t.Fatalf("want one index problem about the offset, got %v", rep.Problems)
	}

	// Entries out of order.
	binary.BigEndian.PutUint32(data[commitlog.OffsetIndexEntrySize:], r)
	copy(data[2*commitlog.OffsetIndexEntrySize:3*commitlog.OffsetIndexEntrySize], data[commitlog.OffsetIndexEntrySize:2*commitlog.OffsetIndexEntrySize])
	if err := os.WriteFile(idx, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, rep = runDump(t, dir, Options{Verify: true})
	if bad := problemsOf(rep, ProblemIndex); len(bad) != 1 || bad[0].Position != 2*commitlog.OffsetIndexEntrySize || !strings.Contains(bad[0].Message, "does not follow") {
		t.Fatalf("want one problem for the repeated entry, got %v", rep.Problems)
	}
}

func TestDumpVerifyCorruptTimeIndexEntry(t *testing.T) {
	dir := copyDumpDir(t, dumpTestLog(t))
	tix := strings.TrimSuffix(dumpSegments(t, dir)[0], ".log") + ".timeindex"
	data, err := os.ReadFile(tix)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 2*commitlog.TimeIndexEntrySize {
		t.Fatalf("time index has %d bytes, want at least 2 entries", len(data))
	}
	// Lower the first entry's timestamp below its batch's: a lookup by time
	// would start after records it should return.
	ts := binary.BigEndian.Uint64(data)
	binary.BigEndian.PutUint64(data, ts-1)
	if err := os.WriteFile(tix, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, rep := runDump(t, dir, Options{Verify: true})
	bad := problemsOf(rep, ProblemTimeIndex)
	if len(bad) != 1 || len(rep.Problems) != 1 || bad[0].Position != 0 || bad[0].File != filepath.Base(tix) {
		t.Fatalf("want one time-index problem at entry 0, got %v\n%s", rep.Problems, out)
	}

	// An entry pointing past the segment.
	binary.BigEndian.PutUint64(data, ts)
	n := len(data) / commitlog.TimeIndexEntrySize
	binary.BigEndian.PutUint32(data[(n-1)*commitlog.TimeIndexEntrySize+8:], 1<<20)
	if err := os.WriteFile(tix, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, rep = runDump(t, dir, Options{Verify: true})
	if bad := problemsOf(rep, ProblemTimeIndex); len(bad) != 1 || !strings.Contains(bad[0].Message, "points past") {
		t.Fatalf("want one time-index problem for the last entry, got %v", rep.Problems)
	}
}

func TestDumpVerifyMissingIndexAndGap(t *testing.T) {
	dir := copyDumpDir(t, dumpTestLog(t))
	segs := dumpSegments(t, dir)
	if err := os.Remove(strings.TrimSuffix(segs[0], ".log") + ".timeindex"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	out, rep := runDump(t, dir, Options{Verify: true})
	missing := problemsOf(rep, ProblemMissingFile)
	// The first segment's time index, and segment 1's two orphaned indexes.
	if len(missing) != 3 {
		t.Errorf("want 3 missing-file problems, got %v\n%s", missing, out)
	}
	if gaps := problemsOf(rep, ProblemOffsets); len(gaps) != 1 || gaps[0].File != filepath.Base(segs[2]) || !strings.Contains(gaps[0].Message, "offsets missing") {
		t.Errorf("want one gap at %s, got %v\n%s", filepath.Base(segs[2]), gaps, out)
	}
}

func TestDumpVerifyPreallocatedIndexes(t *testing.T) {
	// A broker that crashed (or is running) leaves the active segment's
	// index files preallocated with zeros: not damage.
	dir := copyDumpDir(t, dumpTestLog(t))
	segs := dumpSegments(t, dir)
	prefix := strings.TrimSuffix(segs[len(segs)-1], ".log")
	for _, suf := range []string{".index", ".timeindex"} {
		f, err := os.OpenFile(prefix+suf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(make([]byte, 120)); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	out, rep := runDump(t, dir, Options{Verify: true})
	if rep.Damaged() {
		t.Fatalf("preallocated indexes reported as damage: %v\n%s", rep.Problems, out)
	}
	if !strings.Contains(out, "preallocated: 15\n") || !strings.Contains(out, "preallocated: 10\n") {
		t.Errorf("output does not count the preallocated entries:\n%s", out)
	}
}

func TestDumpVerifyOverlappingSegments(t *testing.T) {
	dir := copyDumpDir(t, dumpTestLog(t))
	segs := dumpSegments(t, dir)
	// Rename segment 1 so its name claims a base offset one lower: the
	// segment overlaps the one before, and its batches are not where its
	// name says.
	_, hs := dumpBatchPositions(t, segs[1])
	newPrefix := filepath.Join(dir, commitlog.SegmentName(hs[0].BaseOffset-1))
	for _, suf := range []string{".log", ".index", ".timeindex"} {
		if err := os.Rename(strings.TrimSuffix(segs[1], ".log")+suf, newPrefix+suf); err != nil {
			t.Fatal(err)
		}
	}
	_, rep := runDump(t, dir, Options{Verify: true})
	off := problemsOf(rep, ProblemOffsets)
	if len(off) < 2 {
		t.Fatalf("want the overlap and the misnamed first batch reported, got %v", rep.Problems)
	}
}

func TestDumpVerifyLeaderEpochs(t *testing.T) {
	dir := copyDumpDir(t, dumpTestLog(t))
	seg := dumpSegments(t, dir)[1]
	pos, _ := dumpBatchPositions(t, seg)
	// The partition leader epoch is outside the CRC: only the epoch check sees it.
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0, 0, 0, 9}, pos[0]+12); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, rep := runDump(t, dir, Options{Verify: true})
	if ep := problemsOf(rep, ProblemLeaderEpoch); len(ep) == 0 {
		t.Errorf("epoch going back from 9 to 1 not reported: %v", rep.Problems)
	}

	if err := os.WriteFile(filepath.Join(dir, commitlog.LeaderEpochCheckpointFile), []byte("0\n2\n1 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rep = runDump(t, dir, Options{Verify: true})
	if ep := problemsOf(rep, ProblemLeaderEpoch); len(ep) < 2 {
		t.Errorf("truncated leader-epoch-checkpoint not reported: %v", rep.Problems)
	}
}

func TestDumpSingleFiles(t *testing.T) {
	dir := copyDumpDir(t, dumpTestLog(t))
	seg := dumpSegments(t, dir)[0]
	pos, hs := dumpBatchPositions(t, seg)

	out, rep := runDump(t, seg, Options{Verify: true, Records: true})
	if rep.Damaged() || rep.Segments != 1 || rep.Batches != len(hs) || strings.Contains(out, "index:") {
		t.Fatalf("dump of %s: %+v\n%s", seg, rep, out)
	}

	idx := strings.TrimSuffix(seg, ".log") + ".index"
	out, rep = runDump(t, idx, Options{Verify: true})
	if rep.Damaged() || rep.Segments != 0 || !strings.Contains(out, "offset: 0 position: 0\n") || strings.Contains(out, "baseOffset:") {
		t.Fatalf("dump of %s: %+v\n%s", idx, rep, out)
	}
	out, rep = runDump(t, strings.TrimSuffix(seg, ".log")+".timeindex", Options{Verify: true})
	if rep.Damaged() || !strings.Contains(out, fmt.Sprintf("timestamp: %d offset: %d\n", hs[0].MaxTimestamp, hs[0].LastOffset())) {
		t.Fatalf("time index dump: %+v\n%s", rep, out)
	}

	// An index file is checked against the log beside it.
	testfs.FlipByte(t, seg, pos[0]) // the base offset's top byte: outside the CRC
	_, rep = runDump(t, idx, Options{Verify: true})
	if len(problemsOf(rep, ProblemIndex)) == 0 {
		t.Errorf("index entry for a batch with a damaged base offset not reported: %v", rep.Problems)
	}
	if err := os.Remove(seg); err != nil {
		t.Fatal(err)
	}
	_, rep = runDump(t, idx, Options{Verify: true})
	if len(problemsOf(rep, ProblemMissingFile)) != 1 {
		t.Errorf("missing log beside the index not reported: %v", rep.Problems)
	}

	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Dump(context.Background(), io.Discard, other, Options{}); err == nil {
		t.Error("dump of a .txt file succeeded")
	}
	if _, err := Dump(context.Background(), io.Discard, filepath.Join(dir, "nope"), Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dump of a missing path: %v", err)
	}
}

func TestDumpDataDirectory(t *testing.T) {
	part := dumpTestLog(t)
	data := filepath.Dir(part)
	second := filepath.Join(data, "payments-3")
	if err := os.CopyFS(second, os.DirFS(part)); err != nil {
		t.Fatal(err)
	}
	testfs.FlipByte(t, dumpSegments(t, second)[0], 70)
	out, rep := runDump(t, data, Options{Verify: true})
	if !strings.Contains(out, "Dumping "+part+"\n") || !strings.Contains(out, "Dumping "+second+"\n") {
		t.Errorf("output does not name both partitions:\n%s", out)
	}
	if rep.Batches != 2*dumpBatches || len(rep.Problems) != 1 || rep.Problems[0].File != filepath.Join("payments-3", "00000000000000000000.log") {
		t.Errorf("report %+v", rep)
	}
	if _, err := Dump(context.Background(), io.Discard, t.TempDir(), Options{}); err == nil {
		t.Error("dump of an empty directory succeeded")
	}
}

func TestDumpRecordFormatting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	l, err := commitlog.Open(dir, commitlog.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{LogAppendTime: true}, []recordbatch.Record{
		{Key: nil, Value: []byte{0, 1, 2}, Timestamp: 5},
		{Key: []byte{}, Value: []byte("line\nbreak \"q\""), Timestamp: 6, Headers: []recordbatch.RecordHeader{{Key: "n", Value: nil}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := recordbatch.Build(recordbatch.BuildOptions{Control: true, Transactional: true, Producer: &recordbatch.Producer{ID: 7}},
		[]recordbatch.Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 4}, Timestamp: 9}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(append(b, ctl...), 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out, rep := runDump(t, dir, Options{Records: true, Verify: true})
	if rep.Damaged() {
		t.Fatalf("problems: %v\n%s", rep.Problems, out)
	}
	wantOutput(t, out,
		`| offset: 0 timestamp: 6 keySize: -1 valueSize: 3 key: null value: b64:AAEC headers: []`+"\n",
		`| offset: 1 timestamp: 6 keySize: 0 valueSize: 14 key: "" value: "line\nbreak \"q\"" headers: ["n"=null]`+"\n",
		"| offset: 2 timestamp: 9 controlType: COMMIT coordinatorEpoch: 4\n",
		"timestampType: LogAppendTime isTransactional: false isControl: false\n",
		"isTransactional: true isControl: true\n",
	)
}

func TestDumpOversizedBatch(t *testing.T) {
	dir := dumpTestLog(t)
	out, rep := runDump(t, dir, Options{Verify: true, MaxBatchBytes: 100})
	if len(problemsOf(rep, ProblemCorruptBatch)) != dumpBatches || rep.Batches != dumpBatches {
		t.Fatalf("want every batch reported as over the limit, got %d problems, %d batches", len(rep.Problems), rep.Batches)
	}
	if !strings.Contains(out, "isValid: unchecked") {
		t.Errorf("output does not mark unchecked batches:\n%s", out)
	}
}

// TestDumpIsReadOnly checks that dumping a damaged log (which Open would repair)
// leaves every file exactly as it was.
func TestDumpIsReadOnly(t *testing.T) {
	dir := copyDumpDir(t, dumpTestLog(t))
	segs := dumpSegments(t, dir)
	last := segs[len(segs)-1]
	st, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, st.Size()-3); err != nil {
		t.Fatal(err)
	}
	testfs.FlipByte(t, segs[0], 80)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	before := snapshotDir(t, dir, old)
	runDump(t, dir, Options{Records: true, Verify: true, Indexes: true})
	if after := snapshotDir(t, dir, time.Time{}); !maps.Equal(before, after) {
		t.Fatalf("Dump changed the directory:\nbefore %v\nafter  %v", before, after)
	}
}

// snapshotDir returns name → size, modification time and contents of every file in
// dir, first setting their times to mtime unless it is zero.
func snapshotDir(t *testing.T, dir string, mtime time.Time) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if !mtime.IsZero() {
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = fmt.Sprintf("%d %v %x", st.Size(), st.ModTime().UnixNano(), data)
	}
	return m
}

func TestDumpStopsOnWriteErrorAndCancel(t *testing.T) {
	dir := dumpTestLog(t)
	werr := errors.New("disk full")
	if _, err := Dump(context.Background(), failingWriter{werr}, dir, Options{Verify: true}); !errors.Is(err, werr) {
		t.Errorf("Dump to a failing writer: %v, want %v", err, werr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dump(ctx, io.Discard, dir, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Dump with a cancelled context: %v", err)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// FuzzDump feeds arbitrary segment and index files to Dump: whatever the bytes,
// it must report problems, never fail or panic.
func FuzzDump(f *testing.F) {
	var seg []byte
	for i, codec := range []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecGzip, recordbatch.CodecNone} {
		b, err := recordbatch.Build(recordbatch.BuildOptions{Codec: codec}, []recordbatch.Record{
			{Key: []byte("k"), Value: []byte("v"), Timestamp: int64(100 + i)},
			{Value: []byte{0, 1}, Timestamp: int64(100 + i), Headers: []recordbatch.RecordHeader{{Key: "h", Value: nil}}},
		})
		if err != nil {
			f.Fatal(err)
		}
		recordbatch.SetBaseOffset(b, int64(2*i))
		seg = append(seg, b...)
	}
	index := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0), 0)
	timeIndex := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, 100), 1)
	f.Add(seg, index, timeIndex)
	f.Add(seg[:len(seg)-7], index, timeIndex)
	f.Add(seg, append(index, 0, 0, 0, 2, 0, 0, 0, 9), append(timeIndex, make([]byte, 24)...))
	f.Add([]byte{}, []byte{}, []byte{})
	// One directory per fuzzing process, rewritten by each input: creating
	// and removing one per input would dominate the cost.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, seg, index, timeIndex []byte) {
		for name, data := range map[string][]byte{"00000000000000000000.log": seg, "00000000000000000000.index": index, "00000000000000000000.timeindex": timeIndex} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := Dump(context.Background(), io.Discard, dir, Options{Records: true, Verify: true, Indexes: true})
		if err != nil {
			t.Fatalf("Dump: %v", err)
		}
		for _, p := range rep.Problems {
			if p.Kind.String() == "unknown" || p.Message == "" {
				t.Fatalf("malformed problem %+v", p)
			}
		}
		for _, name := range []string{"00000000000000000000.index", "00000000000000000000.timeindex"} {
			if _, err := Dump(context.Background(), io.Discard, filepath.Join(dir, name), Options{Verify: true}); err != nil {
				t.Fatalf("Dump %s: %v", name, err)
			}
		}
	})
}

// wantOutput checks that out holds every one of wants, and shows out when not.
func wantOutput(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}
