package commitlog

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// sliceBytes reads the bytes of a read's slices back to back.
func sliceBytes(t *testing.T, res *ReadResult) ([]byte, error) {
	t.Helper()
	var out []byte
	for _, s := range res.Slices {
		buf := make([]byte, s.Size)
		if _, err := s.File.ReadAt(buf, s.Position); err != nil {
			return nil, err
		}
		out = append(out, buf...)
	}
	return out, nil
}

// TestReadResultKeepsFilesOpen reads across several segments, then removes
// every one of them the read returned: by DeleteRecords, by retention and by
// closing the log. The files are gone from the directory at once, yet the
// read's slices still give exactly the bytes that were read, until the read
// is released; then the files are closed.
func TestReadResultKeepsFilesOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remove func(t *testing.T, l *Log)
	}{
		{"DeleteRecords", func(t *testing.T, l *Log) {
			if _, err := l.DeleteRecordsBefore(l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
		}},
		{"retention", func(t *testing.T, l *Log) {
			if err := l.SetOptions(Options{SegmentBytes: 4096, RetentionBytes: 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := l.DeleteExpired(); err != nil {
				t.Fatal(err)
			}
		}},
		{"Close", func(t *testing.T, l *Log) {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := quietOptions()
			o.SegmentBytes = 4096
			l := openTestLog(t, t.TempDir(), o)
			for i := 0; i < 60; i++ {
				if _, err := l.Append(simpleBatch(t, 5, 100, int64(i)), 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			l.SetHighWatermark(l.LogEndOffset())
			want, _, err := l.ReadBatches(0, 1<<30, ToHighWatermark)
			if err != nil {
				t.Fatal(err)
			}
			segs := l.Segments()
			res, err := l.Read(0, 1<<30, ToHighWatermark)
			if err != nil || len(res.Slices) < 3 {
				t.Fatalf("read: %d slices, %v; want several segments", len(res.Slices), err)
			}

			tc.remove(t, l)
			if tc.name != "Close" {
				for _, s := range segs[:len(segs)-1] {
					if _, err := os.Stat(s.Path); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("segment %s still on disk after %s: %v", s.Path, tc.name, err)
					}
				}
			}
			got, err := sliceBytes(t, &res)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("after %s the read's slices give %d bytes (%v), want the %d read", tc.name, len(got), err, len(want))
			}
			res.Release()
			res.Release() // a second Release does nothing
			if _, err := res.Slices[0].File.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("after the last reference went, reading the file gives %v, want os.ErrClosed", err)
			}
		})
	}
}
