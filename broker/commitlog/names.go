package commitlog

import (
	"encoding/binary"
	"path/filepath"
	"strconv"
	"strings"
)

// The files of a partition directory, named as Kafka names them, for tools
// that read a directory without opening it (logdump): a segment's files are
// <SegmentName(base)><suffix>.
const (
	LogFileSuffix             = logSuffix       // the segment's batches
	IndexFileSuffix           = indexSuffix     // its sparse offset index
	TimeIndexFileSuffix       = timeIndexSuffix // its time index
	LeaderEpochCheckpointFile = leaderEpochFile // where each leader epoch began
)

// Sizes of the index files' entries (see index.go for their layout).
const (
	OffsetIndexEntrySize = offsetIndexEntrySize
	TimeIndexEntrySize   = timeIndexEntrySize
)

// SegmentName returns the 20-digit base offset that names a segment's files.
func SegmentName(base int64) string { return segmentName(base) }

// ParseSegmentFileName splits a segment file name, <20 digits> followed by
// LogFileSuffix, IndexFileSuffix or TimeIndexFileSuffix, into its base offset
// and suffix; ok is false for any other name.
func ParseSegmentFileName(name string) (base int64, suffix string, ok bool) {
	suffix = filepath.Ext(name)
	if suffix != logSuffix && suffix != indexSuffix && suffix != timeIndexSuffix {
		return 0, "", false
	}
	digits := strings.TrimSuffix(name, suffix)
	if len(digits) != 20 {
		return 0, "", false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || base < 0 {
		return 0, "", false
	}
	return base, suffix, true
}

// DecodeOffsetIndexEntry decodes one .index entry (OffsetIndexEntrySize
// bytes): an offset relative to the segment's base and the byte position of
// its batch in the .log.
func DecodeOffsetIndexEntry(e []byte) (rel, pos uint32) {
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

// DecodeTimeIndexEntry decodes one .timeindex entry (TimeIndexEntrySize
// bytes): the largest timestamp so far and the offset, relative to the
// segment's base, of the record that holds it.
func DecodeTimeIndexEntry(e []byte) (ts int64, rel uint32) {
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}
