package broker

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/broker/commitlog"
)

// partitionMetadataFile records which topic id a partition directory belongs
// to, so a topic deleted and created again under the same name never serves
// the old data (Kafka's partition.metadata). It is written before the log is
// created, so a directory holding data always has one.
//
// The file is Kafka's two lines plus a third with the CRC-32C of the first
// two, so that a flipped bit in the id is found instead of read as another
// topic's id:
//
//	version: 0
//	topic_id: 6ba7b810-9dad-11d1-80b4-00c04fd430c8
//	crc32c: 1c291ca3
//
// A file without the checksum line (written by earlier versions) is accepted
// and rewritten with it.
const partitionMetadataFile = "partition.metadata"

// ErrPartitionRefused means a partition directory holds record data that this
// broker cannot tie to a topic: its partition.metadata is missing, unreadable
// or malformed. The partition is not opened and none of its files is touched
// or removed; Ready, the logs and the runnel_broker_partitions_refused metric
// say so. Restore the file from a backup or another replica (or move the
// directory away, losing its data) and restart the broker.
var ErrPartitionRefused = errors.New("partition refused")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodePartitionMetadata is the file for topic id.
func encodePartitionMetadata(id uuid.UUID) []byte {
	body := fmt.Sprintf("version: 0\ntopic_id: %s\n", id)
	return fmt.Appendf(nil, "%scrc32c: %08x\n", body, crc32.Checksum([]byte(body), castagnoli))
}

// parsePartitionMetadata reads the file strictly: exactly the lines above,
// the id in canonical form and not all zeros, the checksum (if present)
// matching. checked says the checksum line was there.
func parsePartitionMetadata(data []byte) (id uuid.UUID, checked bool, err error) {
	s := string(data)
	lines := strings.SplitAfter(s, "\n")
	if len(lines) < 3 || lines[len(lines)-1] != "" {
		return uuid.Nil, false, errors.New("not two or three whole lines")
	}
	lines = lines[:len(lines)-1]
	if lines[0] != "version: 0\n" {
		return uuid.Nil, false, fmt.Errorf("first line %q is not \"version: 0\"", strings.TrimSpace(lines[0]))
	}
	v, ok := strings.CutPrefix(strings.TrimSuffix(lines[1], "\n"), "topic_id: ")
	if !ok {
		return uuid.Nil, false, fmt.Errorf("second line %q is not \"topic_id: <uuid>\"", strings.TrimSpace(lines[1]))
	}
	id, err = uuid.Parse(v)
	if err != nil || id.String() != v || id == uuid.Nil {
		return uuid.Nil, false, fmt.Errorf("topic id %q is not a canonical, non-zero UUID", v)
	}
	switch len(lines) {
	case 2:
		return id, false, nil
	case 3:
		sum, ok := strings.CutPrefix(strings.TrimSuffix(lines[2], "\n"), "crc32c: ")
		want, perr := strconv.ParseUint(sum, 16, 32)
		if !ok || perr != nil || fmt.Sprintf("%08x", want) != sum {
			return uuid.Nil, false, fmt.Errorf("third line %q is not \"crc32c: <8 lower-case hex digits>\"", strings.TrimSpace(lines[2]))
		}
		if got := crc32.Checksum([]byte(lines[0]+lines[1]), castagnoli); got != uint32(want) {
			return uuid.Nil, false, fmt.Errorf("checksum %08x does not match the contents (%08x)", want, got)
		}
		return id, true, nil
	}
	return uuid.Nil, false, fmt.Errorf("%d lines, want 2 or 3", len(lines))
}

// partitionIdentity is what a partition directory says about its topic.
type partitionIdentity struct {
	id      uuid.UUID // uuid.Nil when there is no valid file
	checked bool      // the file has its checksum line
	// refused is set when the directory holds data but no valid file: the
	// partition must not be opened.
	refused error
	// write says the file must be (re)written before the log is opened: it
	// is missing, or damaged in a directory without data, or lacks the
	// checksum line.
	write bool
}

// readPartitionIdentity reads dir's partition.metadata and decides what may
// be done with the directory.
func readPartitionIdentity(dir string) partitionIdentity {
	path := filepath.Join(dir, partitionMetadataFile)
	data, err := os.ReadFile(path)
	var problem error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		problem = errors.New("the file is missing")
	case err != nil:
		// Unreadable: never rewrite what could not be read.
		return partitionIdentity{refused: fmt.Errorf("%w: %s cannot be read: %v", ErrPartitionRefused, path, err)}
	default:
		id, checked, perr := parsePartitionMetadata(data)
		if perr == nil {
			return partitionIdentity{id: id, checked: checked, write: !checked}
		}
		problem = fmt.Errorf("the file is damaged: %v", perr)
	}
	held, err := commitlog.HoldsData(dir)
	if err != nil {
		return partitionIdentity{refused: fmt.Errorf("%w: %s: %v", ErrPartitionRefused, path, err)}
	}
	if held {
		return partitionIdentity{refused: fmt.Errorf("%w: %s: %v, and the directory holds record data of an unknown topic; "+
			"restore the file (from a backup or another replica) or move the directory away, then restart", ErrPartitionRefused, path, problem)}
	}
	return partitionIdentity{write: true}
}
