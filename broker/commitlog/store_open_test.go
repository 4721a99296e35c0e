package commitlog

import (
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/diskfs"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// stallFS is diskfs.OS but for the truncations of files whose path contains
// match (opening a log sizes its active segment's indexes with one): the
// first of them reports on entered and waits until release is closed, as a
// slow disk or a long recovery would keep an open busy.
type stallFS struct {
	diskfs.OS
	match   string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	undo    sync.Once
}

func newStallFS(match string) *stallFS {
	return &stallFS{match: match, entered: make(chan struct{}), release: make(chan struct{})}
}

// Release lets the stalled truncation go on; it may be called again.
func (fs *stallFS) Release() { fs.undo.Do(func() { close(fs.release) }) }

func (fs *stallFS) Truncate(f *os.File, size int64) error {
	if strings.Contains(f.Name(), fs.match) {
		fs.once.Do(func() {
			close(fs.entered)
			<-fs.release
		})
	}
	return fs.OS.Truncate(f, size)
}

// TestStoreOpenOutsideLock keeps one partition's open busy and checks that
// the store goes on meanwhile: another partition opens, checkpoints are
// written, open logs are found, and a second Open of the busy partition
// waits for the first and returns the same log.
func TestStoreOpenOutsideLock(t *testing.T) {
	st, err := OpenStore(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fast := TopicPartition{Topic: "fast", Partition: 0}
	if _, err := st.Open(fast, Options{}); err != nil {
		t.Fatal(err)
	}
	slow := TopicPartition{Topic: "slow", Partition: 0}
	fs := newStallFS(string(os.PathSeparator) + slow.String() + string(os.PathSeparator))
	defer fs.Release() // before st.Close, should the test fail
	type opened struct {
		l   *Log
		err error
	}
	first, second := make(chan opened, 1), make(chan opened, 1)
	go func() {
		l, err := st.Open(slow, Options{FS: fs})
		first <- opened{l, err}
	}()
	<-fs.entered

	testwait.Returns(t, 10*time.Second, "Open of another partition while one opens", func() {
		if _, err := st.Open(TopicPartition{Topic: "other", Partition: 0}, Options{}); err != nil {
			t.Error(err)
		}
	})
	testwait.Returns(t, 10*time.Second, "Checkpoint while a partition opens", func() {
		if err := st.Checkpoint(); err != nil {
			t.Error(err)
		}
	})
	testwait.Returns(t, 10*time.Second, "Log while a partition opens", func() {
		if _, ok := st.Log(fast); !ok {
			t.Error("the open partition is not found")
		}
	})
	go func() {
		l, err := st.Open(slow, Options{})
		second <- opened{l, err}
	}()
	fs.Release()
	a, b := <-first, <-second
	if a.err != nil || b.err != nil || a.l != b.l {
		t.Fatalf("two opens of one partition: %p (%v) and %p (%v), want the same log", a.l, a.err, b.l, b.err)
	}
}
