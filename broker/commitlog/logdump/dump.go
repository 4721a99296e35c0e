// Package logdump prints and checks partition logs on disk as Kafka's
// kafka-dump-log does: "runnel log dump" and its --verify. It only reads: it
// opens no file for writing and recovers nothing, so it is safe on the log of
// a running broker, and on one a broker refuses to open. It frames batches
// itself, tolerating any damage, and takes the names of segment files, the
// layout of index entries and the leader-epoch-checkpoint from commitlog.
package logdump

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"

	"github.com/runnel-dev/runnel/internal/plural"
)

// DefaultMaxBatchBytes is the largest batch Dump reads into memory when
// Options.MaxBatchBytes is zero: far above any max.message.bytes in use,
// yet it keeps a corrupt length field from costing gigabytes of memory.
const DefaultMaxBatchBytes = 256 << 20

// Options choose what Dump prints and checks. The zero value prints one
// line per segment and per batch and checks each batch's framing and CRC.
type Options struct {
	// Records prints every record: offset, timestamp, key, value and headers.
	// Keys and values that are printable UTF-8 are quoted; others are shown
	// as "b64:" and their base64 encoding, and a null one as "null".
	Records bool
	// Verify adds the cross-checks: offsets dense and increasing across
	// batches and segments, every record decodable, leader epochs never
	// decreasing, and every .index and .timeindex entry consistent with the
	// log; missing index files are problems too.
	Verify bool
	// Indexes prints the entries of the .index and .timeindex files.
	Indexes bool
	// MaxBatchBytes is the largest batch read into memory; a larger one is
	// reported as a problem and skipped. Zero means DefaultMaxBatchBytes.
	MaxBatchBytes int
}

// ProblemKind classifies a Problem.
type ProblemKind int

// The kinds of damage Dump reports.
const (
	// ProblemCorruptBatch is a batch whose header, CRC or records are bad.
	ProblemCorruptBatch ProblemKind = iota + 1
	// ProblemTornTail is a partial batch at the end of a segment: a write
	// cut short by a crash. Open cuts it off.
	ProblemTornTail
	// ProblemOffsets is a gap, overlap or reordering of offsets, or a
	// segment whose first batch is not at the offset its file name gives.
	ProblemOffsets
	// ProblemIndex is an .index entry that does not point at the start of
	// the batch holding its offset, or entries out of order.
	ProblemIndex
	// ProblemTimeIndex is a .timeindex entry out of order, outside its
	// segment, or claiming a largest timestamp that an earlier batch exceeds.
	ProblemTimeIndex
	// ProblemMissingFile is a missing .index or .timeindex file, or an
	// index file without its .log.
	ProblemMissingFile
	// ProblemLeaderEpoch is an unreadable leader-epoch-checkpoint, or leader
	// epochs that go backwards.
	ProblemLeaderEpoch
)

// String returns the kind's name as printed in problem lines.
func (k ProblemKind) String() string {
	switch k {
	case ProblemCorruptBatch:
		return "corrupt-batch"
	case ProblemTornTail:
		return "torn-tail"
	case ProblemOffsets:
		return "offsets"
	case ProblemIndex:
		return "index"
	case ProblemTimeIndex:
		return "time-index"
	case ProblemMissingFile:
		return "missing-file"
	case ProblemLeaderEpoch:
		return "leader-epoch"
	}
	return "unknown"
}

// Problem is one piece of damage Dump found.
type Problem struct {
	Kind ProblemKind
	// File is the damaged file's path relative to the path given to Dump
	// (its base name when Dump was given a partition directory or a file).
	File string
	// Position is the byte position in File the problem is at, or -1 when
	// it concerns the file as a whole.
	Position int64
	// Message says what is wrong, with the numbers involved.
	Message string
}

// String formats the problem as Dump prints it:
// "PROBLEM [kind] file position N: message".
func (p Problem) String() string {
	if p.Position < 0 {
		return fmt.Sprintf("PROBLEM [%s] %s: %s", p.Kind, p.File, p.Message)
	}
	return fmt.Sprintf("PROBLEM [%s] %s position %d: %s", p.Kind, p.File, p.Position, p.Message)
}

// Report sums up what Dump read and lists the problems it found.
type Report struct {
	Segments int   // .log files read
	Batches  int   // batches framed, valid or not
	Records  int64 // records counted from batch headers
	Bytes    int64 // bytes of the .log files
	Problems []Problem
}

// Damaged reports whether any problem was found.
func (r *Report) Damaged() bool { return len(r.Problems) > 0 }

// Dump prints the partition log at path to w in the style of Kafka's
// kafka-dump-log, one line per segment, batch and (with opts.Records)
// record, and checks it as it goes. path is a partition directory
// (<topic>-<partition>), a data directory holding partition directories, or
// a single .log, .index or .timeindex file; an index file is checked against
// the .log beside it.
//
// Dump only reads: it never opens a file for writing, locks, truncates or
// recovers anything, so it is safe on the log of a running broker (what it
// sees of a segment being appended to is a snapshot that may end in a torn
// batch). Each problem is printed as a line starting with "PROBLEM" where it
// is found and returned in the report; Dump's error is for failures to read
// or write at all, and for ctx being done.
func Dump(ctx context.Context, w io.Writer, path string, opts Options) (Report, error) {
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	d := &dumper{ctx: ctx, w: &errWriter{w: w}, opts: opts}
	err := d.dump(path)
	if err == nil {
		err = d.w.err
	}
	if err == nil && opts.Verify {
		if n := len(d.rep.Problems); n == 0 {
			d.printf("verify: no problems found\n")
		} else {
			d.printf("verify: %d problem(s) found\n", n)
		}
		err = d.w.err
	}
	return d.rep, err
}

// errWriter keeps the first write error and drops later writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// dumper holds the state of one Dump call.
type dumper struct {
	ctx  context.Context
	w    *errWriter
	opts Options
	rep  Report
	buf  []byte // batch buffer, reused
	// quiet suppresses output and problems, for the scan of the log an
	// index file is checked against.
	quiet bool
}

func (d *dumper) printf(format string, args ...any) {
	if !d.quiet {
		fmt.Fprintf(d.w, format, args...)
	}
}

func (d *dumper) problem(kind ProblemKind, file string, pos int64, format string, args ...any) {
	if d.quiet {
		return
	}
	p := Problem{Kind: kind, File: file, Position: pos, Message: fmt.Sprintf(format, args...)}
	d.rep.Problems = append(d.rep.Problems, p)
	d.printf("%s\n", p)
}

func (d *dumper) dump(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return d.dumpFile(path)
	}
	files, err := listPartitionFiles(path)
	if err != nil {
		return err
	}
	if len(files.bases) > 0 {
		return d.dumpPartition(path, "", files)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	found := false
	for _, e := range ents {
		if _, ok := commitlog.ParsePartitionDir(e.Name()); !ok || !e.IsDir() {
			continue
		}
		sub := filepath.Join(path, e.Name())
		files, err := listPartitionFiles(sub)
		if err != nil {
			return err
		}
		found = true
		if err := d.dumpPartition(sub, e.Name(), files); err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("%s holds no log segments and no partition directories", path)
	}
	return nil
}

// partitionFiles is what a partition directory holds, by segment base offset.
type partitionFiles struct {
	bases                 []int64 // every base offset with at least one file, ascending
	log, index, timeIndex map[int64]bool
	epochCheckpointExists bool
}

func listPartitionFiles(dir string) (partitionFiles, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return partitionFiles{}, err
	}
	pf := partitionFiles{log: map[int64]bool{}, index: map[int64]bool{}, timeIndex: map[int64]bool{}}
	seen := map[int64]bool{}
	for _, e := range ents {
		name := e.Name()
		if name == commitlog.LeaderEpochCheckpointFile {
			pf.epochCheckpointExists = true
			continue
		}
		base, ext, ok := commitlog.ParseSegmentFileName(name)
		if !ok || e.IsDir() {
			continue
		}
		switch ext {
		case commitlog.LogFileSuffix:
			pf.log[base] = true
		case commitlog.IndexFileSuffix:
			pf.index[base] = true
		case commitlog.TimeIndexFileSuffix:
			pf.timeIndex[base] = true
		}
		if !seen[base] {
			seen[base] = true
			pf.bases = append(pf.bases, base)
		}
	}
	slices.Sort(pf.bases)
	return pf, nil
}

// logState carries what the checks of one partition need from segment to segment.
type logState struct {
	next      int64 // offset the next segment must start at; -1 when unknown
	lastEpoch int32 // largest partition leader epoch seen so far, -1 when none
}

func (d *dumper) dumpPartition(dir, rel string, pf partitionFiles) error {
	d.printf("Dumping %s\n", dir)
	before := d.rep
	entries := d.dumpEpochCheckpoint(dir, rel, pf)
	state := logState{next: -1, lastEpoch: -1}
	var last *segmentScan
	for _, base := range pf.bases {
		prefix := filepath.Join(dir, commitlog.SegmentName(base))
		relPrefix := filepath.Join(rel, commitlog.SegmentName(base))
		if !pf.log[base] {
			if d.opts.Verify {
				if pf.index[base] {
					d.problem(ProblemMissingFile, relPrefix+commitlog.IndexFileSuffix, -1, "index file without its segment %s (left over from an interrupted deletion)", commitlog.SegmentName(base)+commitlog.LogFileSuffix)
				}
				if pf.timeIndex[base] {
					d.problem(ProblemMissingFile, relPrefix+commitlog.TimeIndexFileSuffix, -1, "index file without its segment %s (left over from an interrupted deletion)", commitlog.SegmentName(base)+commitlog.LogFileSuffix)
				}
			}
			continue
		}
		if d.opts.Verify && state.next >= 0 && base != state.next {
			d.problem(ProblemOffsets, relPrefix+commitlog.LogFileSuffix, -1, "segment starts at offset %d but the previous segment ends at offset %d (%s)", base, state.next, gapOrOverlap(base, state.next))
		}
		scan, err := d.scanSegment(prefix+commitlog.LogFileSuffix, relPrefix+commitlog.LogFileSuffix, base, &state)
		if err != nil {
			return err
		}
		state.next = scan.next
		if !scan.complete {
			state.next = -1
		}
		if err := d.dumpIndexes(prefix, relPrefix, scan, pf.index[base], pf.timeIndex[base]); err != nil {
			return err
		}
		last = scan
	}
	if d.opts.Verify && last != nil && last.complete {
		d.checkEpochsAgainstLog(rel, entries, last.next)
	}
	d.printf("summary: segments: %d batches: %d records: %d bytes: %d\n",
		d.rep.Segments-before.Segments, d.rep.Batches-before.Batches, d.rep.Records-before.Records, d.rep.Bytes-before.Bytes)
	return d.w.err
}

func gapOrOverlap(got, want int64) string {
	if got > want {
		return plural.Noun(got-want, "offset") + " missing"
	}
	return plural.Noun(want-got, "offset") + " overlap"
}

// dumpEpochCheckpoint prints the leader-epoch-checkpoint and returns its entries.
func (d *dumper) dumpEpochCheckpoint(dir, rel string, pf partitionFiles) []commitlog.EpochEntry {
	if !pf.epochCheckpointExists {
		d.printf("%s: none\n", commitlog.LeaderEpochCheckpointFile)
		return nil
	}
	entries, err := commitlog.ReadLeaderEpochCheckpoint(dir)
	if err != nil {
		d.printf("%s: unreadable\n", commitlog.LeaderEpochCheckpointFile)
		if d.opts.Verify {
			d.problem(ProblemLeaderEpoch, filepath.Join(rel, commitlog.LeaderEpochCheckpointFile), -1, "%v", err)
		}
		return nil
	}
	var b strings.Builder
	for i, e := range entries {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "epoch %d from offset %d", e.Epoch, e.StartOffset)
	}
	if len(entries) == 0 {
		b.WriteString("no entries")
	}
	d.printf("%s: %s\n", commitlog.LeaderEpochCheckpointFile, b.String())
	if d.opts.Verify {
		for i := 1; i < len(entries); i++ {
			if entries[i].StartOffset <= entries[i-1].StartOffset {
				d.problem(ProblemLeaderEpoch, filepath.Join(rel, commitlog.LeaderEpochCheckpointFile), -1, "epoch %d starts at offset %d, not after epoch %d's start %d",
					entries[i].Epoch, entries[i].StartOffset, entries[i-1].Epoch, entries[i-1].StartOffset)
			}
		}
	}
	return entries
}

// checkEpochsAgainstLog reports checkpoint epochs that start past the log end.
func (d *dumper) checkEpochsAgainstLog(rel string, entries []commitlog.EpochEntry, logEnd int64) {
	for _, e := range entries {
		if e.StartOffset > logEnd {
			d.problem(ProblemLeaderEpoch, filepath.Join(rel, commitlog.LeaderEpochCheckpointFile), -1, "epoch %d starts at offset %d, past the log end offset %d", e.Epoch, e.StartOffset, logEnd)
		}
	}
}

// batchSpan is where one framed batch lies in its segment.
type batchSpan struct {
	pos          int64
	base, last   int64
	maxTimestamp int64
}

// segmentScan is what reading one .log file found.
type segmentScan struct {
	base     int64 // from the file name, or the first batch when the name has none
	size     int64 // file size
	end      int64 // end of the last framed batch
	next     int64 // offset after the last framed batch; base when there is none
	batches  []batchSpan
	complete bool // every byte up to size was framed
}

// batchAt returns the batch starting exactly at pos.
func (s *segmentScan) batchAt(pos int64) (batchSpan, bool) {
	i := sort.Search(len(s.batches), func(i int) bool { return s.batches[i].pos >= pos })
	if i < len(s.batches) && s.batches[i].pos == pos {
		return s.batches[i], true
	}
	return batchSpan{}, false
}

// batchHolding returns the index of the batch holding offset, or -1.
func (s *segmentScan) batchHolding(offset int64) int {
	i := sort.Search(len(s.batches), func(i int) bool { return s.batches[i].last >= offset })
	if i < len(s.batches) && s.batches[i].base <= offset {
		return i
	}
	return -1
}

// scanSegment reads, prints and checks every batch of the .log file at path. base
// is the offset the file name gives, or -1 when it gives none.
func (d *dumper) scanSegment(path, rel string, base int64, state *logState) (*segmentScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	d.printf("segment: %s baseOffset: %s size: %d\n", filepath.Base(path), offsetOrUnknown(base), size)
	if !d.quiet {
		d.rep.Segments++
		d.rep.Bytes += size
	}
	s := &segmentScan{base: base, size: size, next: base}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 256<<10)
	var pos int64
	for pos < size {
		if err := d.ctx.Err(); err != nil {
			return nil, err
		}
		if d.w.err != nil {
			return nil, d.w.err
		}
		hdr, _ := r.Peek(recordbatch.HeaderSize)
		if len(hdr) < recordbatch.HeaderSize {
			if _, _, err := recordbatch.Next(hdr); errors.Is(err, recordbatch.ErrTruncated) {
				d.problem(ProblemTornTail, rel, pos, "the last %d bytes are a partial batch header (a write cut short); Open cuts them off", size-pos)
			} else {
				d.problem(ProblemCorruptBatch, rel, pos, "the last %d bytes are not a batch: %v", size-pos, err)
			}
			break
		}
		h, err := recordbatch.ParseHeader(hdr)
		if err != nil {
			d.problem(ProblemCorruptBatch, rel, pos, "unreadable batch header (%v); the %d bytes from here to the end of the file cannot be framed", err, size-pos)
			break
		}
		bsize := int64(h.Size())
		if pos+bsize > size {
			d.problem(ProblemTornTail, rel, pos, "batch at offset %d needs %d bytes but only %d remain (a write cut short); Open cuts them off", h.BaseOffset, bsize, size-pos)
			break
		}
		if s.base < 0 {
			s.base, s.next = h.BaseOffset, h.BaseOffset
		}
		d.checkSequence(rel, pos, &h, s, state)
		if bsize > int64(d.opts.MaxBatchBytes) {
			d.printBatch(&h, pos, "unchecked")
			d.problem(ProblemCorruptBatch, rel, pos, "batch of %d bytes is over the %d-byte limit and was not read", bsize, d.opts.MaxBatchBytes)
			if _, err := r.Discard(int(bsize)); err != nil {
				return nil, fmt.Errorf("read %s at %d: %w", path, pos, err)
			}
		} else {
			if int64(cap(d.buf)) < bsize {
				d.buf = make([]byte, bsize)
			}
			batch := d.buf[:bsize]
			if _, err := io.ReadFull(r, batch); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
					d.problem(ProblemTornTail, rel, pos, "the file ended while reading the batch at offset %d (it shrank while being read)", h.BaseOffset)
					break
				}
				return nil, fmt.Errorf("read %s at %d: %w", path, pos, err)
			}
			d.checkBatch(rel, pos, &h, batch)
		}
		s.batches = append(s.batches, batchSpan{pos: pos, base: h.BaseOffset, last: h.LastOffset(), maxTimestamp: h.MaxTimestamp})
		if !d.quiet {
			d.rep.Batches++
			d.rep.Records += int64(h.NumRecords)
		}
		s.next = h.NextOffset()
		pos += bsize
		s.end = pos
	}
	s.complete = s.end == size
	if s.base < 0 {
		s.base, s.next = 0, 0
	}
	return s, d.w.err
}

func offsetOrUnknown(o int64) string {
	if o < 0 {
		return "unknown"
	}
	return strconv.FormatInt(o, 10)
}

// checkSequence checks, with opts.Verify, that the batch at pos continues the
// offsets of its segment and does not lower the partition leader epoch.
func (d *dumper) checkSequence(rel string, pos int64, h *recordbatch.Header, s *segmentScan, state *logState) {
	if !d.opts.Verify {
		return
	}
	if h.BaseOffset != s.next {
		if len(s.batches) == 0 {
			d.problem(ProblemOffsets, rel, pos, "first batch has base offset %d but the file name says %d", h.BaseOffset, s.next)
		} else {
			d.problem(ProblemOffsets, rel, pos, "batch has base offset %d, expected %d (%s)", h.BaseOffset, s.next, gapOrOverlap(h.BaseOffset, s.next))
		}
	}
	if h.PartitionLeaderEpoch >= 0 {
		if h.PartitionLeaderEpoch < state.lastEpoch {
			d.problem(ProblemLeaderEpoch, rel, pos, "batch at offset %d has partition leader epoch %d, below epoch %d of an earlier batch", h.BaseOffset, h.PartitionLeaderEpoch, state.lastEpoch)
		}
		state.lastEpoch = max(state.lastEpoch, h.PartitionLeaderEpoch)
	}
}

// checkBatch validates the whole batch read from pos, prints it and, with
// opts.Records, its records; with opts.Verify it also decodes the records of a
// valid batch to check them.
func (d *dumper) checkBatch(rel string, pos int64, h *recordbatch.Header, batch []byte) {
	_, verr := recordbatch.ValidateStored(batch, 0) // compacted batches may hold fewer records than offsets
	valid := "true"
	if verr != nil {
		valid = "false"
	}
	d.printBatch(h, pos, valid)
	if verr != nil {
		d.problem(ProblemCorruptBatch, rel, pos, "batch at offset %d: %v", h.BaseOffset, verr)
	}
	if !d.opts.Records && !(d.opts.Verify && verr == nil) {
		return
	}
	if err := d.records(batch, h); err != nil {
		if verr == nil {
			d.problem(ProblemCorruptBatch, rel, pos, "batch at offset %d: records: %v", h.BaseOffset, err)
		} else {
			d.printf("| records unreadable: %v\n", err)
		}
	}
}

// printBatch prints one batch line; valid is "true", "false" or "unchecked".
func (d *dumper) printBatch(h *recordbatch.Header, pos int64, valid string) {
	lastSeq := int64(-1)
	if h.BaseSequence >= 0 {
		lastSeq = int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	}
	d.printf("baseOffset: %d lastOffset: %d count: %d position: %d size: %d codec: %s crc: 0x%08x isValid: %s"+
		" producerId: %d producerEpoch: %d baseSequence: %d lastSequence: %d partitionLeaderEpoch: %d"+
		" maxTimestamp: %d timestampType: %s isTransactional: %t isControl: %t\n",
		h.BaseOffset, h.LastOffset(), h.NumRecords, pos, h.Size(), h.Codec(), h.CRC, valid,
		h.ProducerID, h.ProducerEpoch, h.BaseSequence, lastSeq, h.PartitionLeaderEpoch,
		h.MaxTimestamp, h.TimestampType(), h.IsTransactional(), h.IsControl())
}

// records decodes every record of batch, printing each when opts.Records is set.
func (d *dumper) records(batch []byte, h *recordbatch.Header) error {
	it, err := recordbatch.Records(batch, recordbatch.DecodeOptions{})
	if err != nil {
		return err
	}
	for {
		rec, err := it.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if d.opts.Records {
			d.printRecord(&rec, h)
		}
	}
}

func (d *dumper) printRecord(rec *recordbatch.Record, h *recordbatch.Header) {
	if h.IsControl() && len(rec.Key) >= 4 {
		line := fmt.Sprintf("| offset: %d timestamp: %d controlType: %s", rec.Offset, rec.Timestamp, controlType(int16(binary.BigEndian.Uint16(rec.Key[2:]))))
		if len(rec.Value) >= 6 {
			line += fmt.Sprintf(" coordinatorEpoch: %d", int32(binary.BigEndian.Uint32(rec.Value[2:])))
		}
		d.printf("%s\n", line)
		return
	}
	var hdrs strings.Builder
	for i, rh := range rec.Headers {
		if i > 0 {
			hdrs.WriteString(", ")
		}
		hdrs.WriteString(formatBytes([]byte(rh.Key)))
		hdrs.WriteByte('=')
		hdrs.WriteString(formatBytes(rh.Value))
	}
	d.printf("| offset: %d timestamp: %d keySize: %d valueSize: %d key: %s value: %s headers: [%s]\n",
		rec.Offset, rec.Timestamp, bytesLen(rec.Key), bytesLen(rec.Value), formatBytes(rec.Key), formatBytes(rec.Value), hdrs.String())
}

// controlType names the type field of a control record's key.
func controlType(t int16) string {
	switch t {
	case 0:
		return "ABORT"
	case 1:
		return "COMMIT"
	}
	return fmt.Sprintf("unknown(%d)", t)
}

// bytesLen is Kafka's length of a nullable byte field: -1 for null.
func bytesLen(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// formatBytes renders a key, value or header on one line: null, a quoted string
// when it is printable UTF-8, or b64: and its base64 encoding.
func formatBytes(b []byte) string {
	if b == nil {
		return "null"
	}
	if printable(b) {
		return strconv.Quote(string(b))
	}
	return "b64:" + base64.StdEncoding.EncodeToString(b)
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

// indexEntry is one decoded entry of an .index (key: relative offset, val:
// position) or .timeindex (key: timestamp, val: relative offset) file.
type indexEntry struct{ key, val int64 }

// readIndexFile reads an index file and decodes its entries, leaving out the
// trailing all-zero entries an active segment's preallocated file holds; keepFirst
// keeps a zero first entry (the offset index's entry for the segment start).
func readIndexFile(path string, entrySize int, keepFirst bool) (entries []indexEntry, size int64, prealloc int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, err
	}
	n := len(data) / entrySize
	entries = make([]indexEntry, 0, n)
	for i := 0; i < n; i++ {
		e := data[i*entrySize : (i+1)*entrySize]
		if entrySize == commitlog.OffsetIndexEntrySize {
			rel, pos := commitlog.DecodeOffsetIndexEntry(e)
			entries = append(entries, indexEntry{int64(rel), int64(pos)})
		} else {
			ts, rel := commitlog.DecodeTimeIndexEntry(e)
			entries = append(entries, indexEntry{ts, int64(rel)})
		}
	}
	keep := len(entries)
	for keep > 0 && entries[keep-1] == (indexEntry{}) && (keep > 1 || !keepFirst) {
		keep--
	}
	return entries[:keep], int64(len(data)), len(entries) - keep, nil
}

// dumpIndexes prints (with opts.Indexes) and checks (with opts.Verify) the index
// files of the segment at prefix against what scanning its log found.
func (d *dumper) dumpIndexes(prefix, relPrefix string, scan *segmentScan, hasIndex, hasTimeIndex bool) error {
	if !d.opts.Indexes && !d.opts.Verify {
		return nil
	}
	if hasIndex {
		if err := d.dumpOffsetIndex(prefix+commitlog.IndexFileSuffix, relPrefix+commitlog.IndexFileSuffix, scan, d.opts.Indexes); err != nil {
			return err
		}
	} else if d.opts.Verify {
		d.problem(ProblemMissingFile, relPrefix+commitlog.IndexFileSuffix, -1, "offset index is missing (Open rebuilds it from the log)")
	}
	if hasTimeIndex {
		if err := d.dumpTimeIndex(prefix+commitlog.TimeIndexFileSuffix, relPrefix+commitlog.TimeIndexFileSuffix, scan, d.opts.Indexes); err != nil {
			return err
		}
	} else if d.opts.Verify {
		d.problem(ProblemMissingFile, relPrefix+commitlog.TimeIndexFileSuffix, -1, "time index is missing (Open rebuilds it from the log)")
	}
	return d.w.err
}

// indexBase is the base offset an index file's relative offsets count from:
// its segment's, or the one in its file name when there is no log.
func indexBase(path string, scan *segmentScan) int64 {
	if scan != nil {
		return scan.base
	}
	if b, _, ok := commitlog.ParseSegmentFileName(filepath.Base(path)); ok {
		return b
	}
	return 0
}

// dumpOffsetIndex prints (with printEntries, entry by entry) and checks an .index
// file; scan is its segment's log, or nil when there is none to check against.
func (d *dumper) dumpOffsetIndex(path, rel string, scan *segmentScan, printEntries bool) error {
	keepFirst := scan == nil || scan.size > 0
	entries, size, prealloc, err := readIndexFile(path, commitlog.OffsetIndexEntrySize, keepFirst)
	if err != nil {
		return err
	}
	base := indexBase(path, scan)
	d.printf("index: %s size: %d entries: %d preallocated: %d\n", filepath.Base(path), size, len(entries), prealloc)
	if printEntries {
		for _, e := range entries {
			d.printf("offset: %d position: %d\n", base+e.key, e.val)
		}
	}
	if !d.opts.Verify {
		return d.w.err
	}
	if size%commitlog.OffsetIndexEntrySize != 0 {
		d.problem(ProblemIndex, rel, size-size%commitlog.OffsetIndexEntrySize, "file size %d is not a multiple of %d: the last entry is partial", size, commitlog.OffsetIndexEntrySize)
	}
	if scan == nil {
		return d.w.err
	}
	if scan.size > 0 && len(entries) == 0 {
		d.problem(ProblemIndex, rel, -1, "index is empty but the log holds %d bytes", scan.size)
	}
	if len(entries) > 0 && entries[0] != (indexEntry{}) {
		d.problem(ProblemIndex, rel, 0, "entry 0 (offset %d → position %d) is not the segment start (offset %d → position 0)", base+entries[0].key, entries[0].val, base)
	}
	for i, e := range entries {
		at := int64(i * commitlog.OffsetIndexEntrySize)
		off := base + e.key
		if i > 0 && (e.key <= entries[i-1].key || e.val <= entries[i-1].val) {
			d.problem(ProblemIndex, rel, at, "entry %d (offset %d → position %d) does not follow entry %d (offset %d → position %d)",
				i, off, e.val, i-1, base+entries[i-1].key, entries[i-1].val)
			continue
		}
		switch b, ok := scan.batchAt(e.val); {
		case e.val >= scan.size:
			d.problem(ProblemIndex, rel, at, "entry %d (offset %d → position %d) points past the end of the log (%d bytes)", i, off, e.val, scan.size)
		case e.val >= scan.end:
			d.problem(ProblemIndex, rel, at, "entry %d (offset %d → position %d) points past the last readable batch (which ends at %d)", i, off, e.val, scan.end)
		case !ok:
			d.problem(ProblemIndex, rel, at, "entry %d (offset %d → position %d) does not point at the start of a batch", i, off, e.val)
		case b.base != off:
			d.problem(ProblemIndex, rel, at, "entry %d (offset %d → position %d) points at the batch with base offset %d", i, off, e.val, b.base)
		}
	}
	return d.w.err
}

// dumpTimeIndex prints (with printEntries, entry by entry) and checks a .timeindex
// file; scan is its segment's log, or nil when there is none to check against.
func (d *dumper) dumpTimeIndex(path, rel string, scan *segmentScan, printEntries bool) error {
	entries, size, prealloc, err := readIndexFile(path, commitlog.TimeIndexEntrySize, false)
	if err != nil {
		return err
	}
	base := indexBase(path, scan)
	d.printf("timeindex: %s size: %d entries: %d preallocated: %d\n", filepath.Base(path), size, len(entries), prealloc)
	if printEntries {
		for _, e := range entries {
			d.printf("timestamp: %d offset: %d\n", e.key, base+e.val)
		}
	}
	if !d.opts.Verify {
		return d.w.err
	}
	if size%commitlog.TimeIndexEntrySize != 0 {
		d.problem(ProblemTimeIndex, rel, size-size%commitlog.TimeIndexEntrySize, "file size %d is not a multiple of %d: the last entry is partial", size, commitlog.TimeIndexEntrySize)
	}
	if scan == nil {
		return d.w.err
	}
	// maxTS[i] is the largest max timestamp of batches 0..i: what a time
	// index entry for an offset in batch i must be at least.
	maxTS := make([]int64, len(scan.batches))
	for i, b := range scan.batches {
		maxTS[i] = b.maxTimestamp
		if i > 0 {
			maxTS[i] = max(maxTS[i], maxTS[i-1])
		}
	}
	for i, e := range entries {
		at := int64(i * commitlog.TimeIndexEntrySize)
		off := base + e.val
		if i > 0 && (e.key < entries[i-1].key || e.val < entries[i-1].val) {
			d.problem(ProblemTimeIndex, rel, at, "entry %d (timestamp %d → offset %d) goes back from entry %d (timestamp %d → offset %d)",
				i, e.key, off, i-1, entries[i-1].key, base+entries[i-1].val)
			continue
		}
		if off >= scan.next {
			what := "the segment's end offset"
			if !scan.complete {
				what = "the end of the last readable batch, offset"
			}
			d.problem(ProblemTimeIndex, rel, at, "entry %d (timestamp %d → offset %d) points past %s %d", i, e.key, off, what, scan.next)
			continue
		}
		j := scan.batchHolding(off)
		if j < 0 {
			d.problem(ProblemTimeIndex, rel, at, "entry %d (timestamp %d → offset %d) points at an offset no batch holds", i, e.key, off)
			continue
		}
		if maxTS[j] > e.key {
			d.problem(ProblemTimeIndex, rel, at, "entry %d (timestamp %d → offset %d) is below the max timestamp %d of the batches up to that offset, so lookups by time would skip records",
				i, e.key, off, maxTS[j])
		}
	}
	return d.w.err
}

// dumpFile dumps a single segment or index file.
func (d *dumper) dumpFile(path string) error {
	name := filepath.Base(path)
	ext := filepath.Ext(name)
	base := int64(-1)
	if b, _, ok := commitlog.ParseSegmentFileName(name); ok {
		base = b
	}
	switch ext {
	case commitlog.LogFileSuffix:
		state := logState{next: -1, lastEpoch: -1}
		if _, err := d.scanSegment(path, name, base, &state); err != nil {
			return err
		}
		d.printf("summary: segments: %d batches: %d records: %d bytes: %d\n", d.rep.Segments, d.rep.Batches, d.rep.Records, d.rep.Bytes)
		return d.w.err
	case commitlog.IndexFileSuffix, commitlog.TimeIndexFileSuffix:
		var scan *segmentScan
		if d.opts.Verify {
			var err error
			if scan, err = d.scanQuietly(strings.TrimSuffix(path, ext)+commitlog.LogFileSuffix, base); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				d.problem(ProblemMissingFile, strings.TrimSuffix(name, ext)+commitlog.LogFileSuffix, -1, "no segment log beside %s to check it against", name)
			}
		}
		if ext == commitlog.IndexFileSuffix {
			return d.dumpOffsetIndex(path, name, scan, true)
		}
		return d.dumpTimeIndex(path, name, scan, true)
	}
	return fmt.Errorf("%s is not a directory, a .log, an .index or a .timeindex file", path)
}

// scanQuietly frames the log at path without printing or reporting anything, for
// checking an index file against it.
func (d *dumper) scanQuietly(path string, base int64) (*segmentScan, error) {
	q := &dumper{ctx: d.ctx, w: d.w, opts: Options{MaxBatchBytes: d.opts.MaxBatchBytes}, quiet: true}
	state := logState{next: -1, lastEpoch: -1}
	return q.scanSegment(path, "", base, &state)
}
