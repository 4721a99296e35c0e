package commitlog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-dev/runnel/internal/testlog"
)

const noCleanShutdownLine = "no clean shutdown recorded"

// TestNoCleanShutdownLogged checks that the store reports a missing
// clean-shutdown marker only when an earlier run left state behind: not on a
// brand-new directory, not after a clean stop (with or without partitions),
// but after a run that did not stop cleanly.
func TestNoCleanShutdownLogged(t *testing.T) {
	open := func(t *testing.T, dir string) (*Store, *testlog.Buffer) {
		t.Helper()
		log, buf := testlog.New()
		st, err := OpenStore(dir, log)
		if err != nil {
			t.Fatal(err)
		}
		return st, buf
	}
	tp := TopicPartition{Topic: "t", Partition: 0}
	cases := []struct {
		name string
		// prepare runs on a fresh directory before the store under test opens.
		prepare func(t *testing.T, dir string)
		want    int
	}{
		{"brand-new directory", func(*testing.T, string) {}, 0},
		{"directory with other files", func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, "meta", "wal"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"clean stop without partitions", func(t *testing.T, dir string) {
			st, _ := open(t, dir)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"clean stop with a partition", func(t *testing.T, dir string) {
			st, _ := open(t, dir)
			if _, err := st.Open(tp, Options{}); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"crash with a partition", func(t *testing.T, dir string) {
			st, _ := open(t, dir)
			if _, err := st.Open(tp, Options{}); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			// A crash leaves no marker: the open removed it.
			if err := os.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"crash before any checkpoint", func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, tp.String()), 0o755); err != nil {
				t.Fatal(err)
			}
		}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.prepare(t, dir)
			st, buf := open(t, dir)
			defer st.Close()
			if got := buf.Count(noCleanShutdownLine); got != c.want {
				t.Fatalf("%q logged %d times, want %d; log:\n%s", noCleanShutdownLine, got, c.want, buf.String())
			}
		})
	}
}
