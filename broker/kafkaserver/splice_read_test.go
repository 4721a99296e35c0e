package kafkaserver

import (
	"bytes"
	"errors"
	"testing"

	"github.com/runnel-dev/runnel/broker/commitlog"
)

// TestReadSplice: a placeholder reads back as its regions' bytes in order;
// a field of its own bytes is no placeholder; another response's
// placeholder and a region past the end of its file are errors.
func TestReadSplice(t *testing.T) {
	dir := t.TempDir()
	a, b := pattern(1000, 1), pattern(300, 2)
	fa, fb := tempFile(t, dir, a), tempFile(t, dir, b)
	var resp Response
	field := resp.Splice([]commitlog.FileSlice{{File: fa, Position: 100, Size: 400}, {File: fb, Position: 0, Size: 300}, {File: fa, Position: 999, Size: 1}})
	got, ok, err := resp.ReadSplice(field)
	want := append(append(bytes.Clone(a[100:500]), b...), a[999])
	if err != nil || !ok || !bytes.Equal(got, want) {
		t.Fatalf("read splice: %d bytes, ok %v, %v; want %d bytes of the regions", len(got), ok, err, len(want))
	}
	if _, ok, err := resp.ReadSplice([]byte("plain record bytes")); ok || err != nil {
		t.Fatalf("a field of its own bytes: ok %v, %v; want not a placeholder", ok, err)
	}
	var other Response
	if _, ok, err := other.ReadSplice(field); !ok || err == nil {
		t.Fatalf("another response's placeholder: ok %v, %v; want an error", ok, err)
	}
	past := resp.Splice([]commitlog.FileSlice{{File: fb, Position: 200, Size: 200}})
	if _, _, err := resp.ReadSplice(past); !errors.Is(err, errShortFile) {
		t.Fatalf("a region past the end of its file: %v, want %v", err, errShortFile)
	}
}
