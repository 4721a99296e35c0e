package commitlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// Checkpoint files use Kafka's text layout: a version line ("0"), a count line,
// then one entry per line with space-separated fields, and then one more
// line that Kafka's files do not have, "crc32c: <8 hex digits>", the CRC-32C
// of every byte before it. Without it a flipped bit in a digit reads as
// another offset: a log start offset moved up hides records, and retention
// would then delete the segments below it. A file without the line (written
// by an earlier version) is still read. Any other line after the entries
// makes the file damaged, as Kafka refuses more entries than the count.
// Files are written whole (diskfs.WriteFileAtomic: temp file, fsync, rename,
// fsync of the directory), so a crash leaves either the old file or the new
// one.

const checkpointVersion = 0

// checkpointSumPrefix starts a checkpoint's last line, its checksum.
const checkpointSumPrefix = "crc32c: "

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorruptCheckpoint is wrapped by the errors of a checkpoint file whose
// contents cannot be parsed (as opposed to one that cannot be read).
var errCorruptCheckpoint = errors.New("damaged checkpoint")

// corruptSuffix is added to the name of a damaged derived file moved aside
// so that it can be rebuilt: it is kept for inspection, never deleted.
const corruptSuffix = ".corrupt"

// moveAside renames a damaged file to <path>.corrupt (replacing an older one
// of that name) and syncs the directory.
func moveAside(fs diskfs.FS, path string) (string, error) {
	aside := path + corruptSuffix
	if err := fs.Rename(path, aside); err != nil {
		return "", fmt.Errorf("move %s aside: %w", path, err)
	}
	return aside, fs.SyncDir(filepath.Dir(path))
}

// writeCheckpoint atomically replaces path with the given entries.
func writeCheckpoint(fs diskfs.FS, path string, entries [][]string) error {
	return diskfs.WriteFileAtomic(fs, path, encodeCheckpoint(entries), 0o644)
}

// encodeCheckpoint lays out a checkpoint file, checksum line included.
func encodeCheckpoint(entries [][]string) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%d\n%d\n", checkpointVersion, len(entries))
	for _, e := range entries {
		buf.WriteString(strings.Join(e, " "))
		buf.WriteByte('\n')
	}
	fmt.Fprintf(&buf, "%s%08x\n", checkpointSumPrefix, crc32.Checksum(buf.Bytes(), castagnoli))
	return buf.Bytes()
}

// readCheckpoint reads a checkpoint whose entries have exactly fields fields. A
// missing file gives no entries and no error.
func readCheckpoint(path string, fields int) ([][]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	body, err := checkpointBody(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %s", errCorruptCheckpoint, path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return sc.Text(), true
	}
	bad := func(why string) error {
		return fmt.Errorf("%w %s line %d: %s", errCorruptCheckpoint, path, line, why)
	}
	v, ok := next()
	if !ok || strings.TrimSpace(v) != strconv.Itoa(checkpointVersion) {
		return nil, bad("unsupported version")
	}
	c, ok := next()
	n, err := strconv.Atoi(strings.TrimSpace(c))
	if !ok || err != nil || n < 0 {
		return nil, bad("bad entry count")
	}
	// The count is checked against the lines that follow, never trusted for
	// an allocation: a damaged file must not ask for gigabytes.
	entries := make([][]string, 0, min(n, 1024))
	for i := 0; i < n; i++ {
		l, ok := next()
		if !ok {
			return nil, bad(fmt.Sprintf("expected %d entries, found %d", n, i))
		}
		f := strings.Fields(l)
		if len(f) != fields {
			return nil, bad(fmt.Sprintf("expected %d fields", fields))
		}
		entries = append(entries, f)
	}
	if _, more := next(); more {
		return nil, bad(fmt.Sprintf("more lines than the %d entries", n))
	}
	return entries, nil
}

// checkpointBody checks a checkpoint's checksum line and returns the bytes
// it covers; a file without one (an earlier version's) is returned whole.
// Either way the file must end with a whole line: a cut that took the
// checksum line and part of the last entry must not pass for an old file.
func checkpointBody(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return data, nil
	}
	if data[len(data)-1] != '\n' {
		return nil, errors.New("the last line is not whole")
	}
	start := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	sum, ok := bytes.CutPrefix(data[start:len(data)-1], []byte(checkpointSumPrefix))
	if !ok {
		return data, nil
	}
	want, err := strconv.ParseUint(string(sum), 16, 32)
	if err != nil || fmt.Sprintf("%08x", want) != string(sum) {
		return nil, fmt.Errorf("checksum line %q is not %q and 8 lower-case hex digits", data[start:len(data)-1], checkpointSumPrefix)
	}
	if got := crc32.Checksum(data[:start], castagnoli); got != uint32(want) {
		return nil, fmt.Errorf("checksum mismatch: the file's bytes sum to %08x, its last line says %08x", got, want)
	}
	return data[:start], nil
}
