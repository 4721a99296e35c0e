package commitlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Checkpoint files use Kafka's text layout: a version line ("0"), a count line,
// then one entry per line with space-separated fields. They are written whole
// (temp file, fsync, rename, fsync of the directory), so a crash leaves either the
// old file or the new one.

const checkpointVersion = 0

// errCorruptCheckpoint is wrapped by the errors of a checkpoint file whose
// contents cannot be parsed (as opposed to one that cannot be read).
var errCorruptCheckpoint = errors.New("damaged checkpoint")

// corruptSuffix is added to the name of a damaged derived file moved aside
// so that it can be rebuilt: it is kept for inspection, never deleted.
const corruptSuffix = ".corrupt"

// moveAside renames a damaged file to <path>.corrupt (replacing an older one
// of that name) and syncs the directory.
func moveAside(path string) (string, error) {
	aside := path + corruptSuffix
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("move %s aside: %w", path, err)
	}
	return aside, syncDir(filepath.Dir(path))
}

// writeCheckpoint atomically replaces path with the given entries.
func writeCheckpoint(path string, entries [][]string) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%d\n%d\n", checkpointVersion, len(entries))
	for _, e := range entries {
		buf.WriteString(strings.Join(e, " "))
		buf.WriteByte('\n')
	}
	return WriteFileAtomic(path, buf.Bytes())
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
	sc := bufio.NewScanner(bytes.NewReader(data))
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
	return entries, nil
}

// WriteFileAtomic writes data to path through a synced temporary file and a
// rename, then syncs the directory so the rename itself survives a crash: after
// a crash the file holds either its old contents or data, whole.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory so that file creations, renames and removals in it
// are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
