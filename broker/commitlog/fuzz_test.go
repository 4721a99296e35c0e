package commitlog

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
)

// FuzzOpenSegment writes arbitrary bytes as a segment's log and index files and
// opens the log, cleanly and after a "crash": opening never panics, what it
// serves reads back with dense offsets except for the ranges it reports
// unreadable, and the log file is never deleted.
func FuzzOpenSegment(f *testing.F) {
	good := func(n int) []byte {
		var buf []byte
		for i := 0; i < n; i++ {
			b, err := recordbatch.Build(recordbatch.BuildOptions{BaseOffset: int64(i * 2)}, []recordbatch.Record{{Value: []byte("a")}, {Key: []byte("k"), Value: []byte("bb")}})
			if err != nil {
				f.Fatal(err)
			}
			buf = append(buf, b...)
		}
		return buf
	}
	damaged := good(4)
	copy(damaged[len(good(1))+20:], "garbage in the middle")
	f.Add(good(3), []byte{}, false)
	f.Add(good(2)[:100], []byte{0, 0, 0, 0, 0, 0, 0, 0}, true)
	f.Add(append(good(2), 0, 0, 0), []byte{0, 0, 0, 1, 0, 0, 0, 80}, true)
	f.Add([]byte("garbage"), []byte{1, 2, 3}, false)
	f.Add(damaged, []byte{}, false)
	f.Add(damaged, []byte{}, true)
	f.Fuzz(func(t *testing.T, logBytes, indexBytes []byte, clean bool) {
		dir := t.TempDir()
		name := filepath.Join(dir, segmentName(0))
		os.WriteFile(name+logSuffix, logBytes, 0o644)
		os.WriteFile(name+indexSuffix, indexBytes, 0o644)
		opts := Options{CleanShutdown: clean, RecoveryPoint: 1 << 40, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		l, err := Open(dir, opts)
		if err != nil {
			return // refusing to open is allowed; panicking is not
		}
		defer l.Close()
		if _, err := os.Stat(name + logSuffix); err != nil {
			t.Fatalf("the log file is gone: %v", err)
		}
		r := l.NewReader(0, ToLogEnd)
		n, unreadable := int64(0), int64(0)
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var ue *UnreadableRangeError
			if errors.As(err, &ue) {
				if ue.From != n+unreadable || ue.To <= ue.From {
					t.Fatalf("unreadable range %d to %d at offset %d", ue.From, ue.To, n+unreadable)
				}
				unreadable += ue.To - ue.From
				r = l.NewReader(ue.To, ToLogEnd)
				continue
			}
			if err != nil {
				if clean {
					return // a clean open trusts the records inside whole batches
				}
				t.Fatalf("recovered log does not read back: %v", err)
			}
			if rec.Offset != n+unreadable {
				t.Fatalf("record offset %d, want %d", rec.Offset, n+unreadable)
			}
			n++
		}
		if !clean && n+unreadable != l.LogEndOffset() {
			t.Fatalf("read %d records and %d unreadable offsets, log end %d", n, unreadable, l.LogEndOffset())
		}
	})
}

// FuzzCheckpoint feeds arbitrary bytes to the checkpoint readers.
func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte("0\n2\norders 0 15\norders 1 7\n"))
	f.Add([]byte("0\n1\n3 100\n"))
	f.Add([]byte("0\n5\n"))
	f.Add([]byte("1\n"))
	f.Add(encodeCheckpoint([][]string{{"orders", "0", "15"}, {"orders", "1", "7"}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, leaderEpochFile), data, 0o644)
		os.WriteFile(filepath.Join(dir, recoveryPointFile), data, 0o644)
		if c, err := loadEpochCache(diskfs.OS{}, dir); err == nil {
			c.endOffsetFor(3, 1000)
		}
		readOffsetCheckpoint(filepath.Join(dir, recoveryPointFile))
	})
}
