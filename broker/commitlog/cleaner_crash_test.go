package commitlog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const cleanCrashChildEnv = "COMMITLOG_CLEAN_CRASH_CHILD_DIR"

// cleanCrashOptions are the options of the log the crash test cleans: small
// segments, so that a run swaps many of them in.
func cleanCrashOptions() Options {
	o := compactOptions(nil)
	o.SegmentBytes = 64 << 10
	o.CleanShutdown = false
	return o
}

// runCleanCrashChild opens the log in dir, says so on stdout, and cleans it
// until it is killed.
func runCleanCrashChild(dir string) error {
	l, err := Open(dir, cleanCrashOptions())
	if err != nil {
		return err
	}
	l.SetHighWatermark(1 << 62)
	c, err := NewCleaner(CleanerOptions{IOBufferSize: 4096})
	if err != nil {
		return err
	}
	fmt.Println("cleaning")
	for {
		if _, err := c.Clean(context.Background(), l, true); err != nil {
			return err
		}
	}
}

// buildCrashCleanLog writes a log of many versions of few keys in dir,
// closed, and returns the last value of every key.
func buildCrashCleanLog(t *testing.T, dir string) (compactModel, int64) {
	t.Helper()
	o := cleanCrashOptions()
	o.CleanShutdown = true
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	model := compactModel{}
	appendRandom(t, l, rand.New(rand.NewPCG(9, 9)), model, 8000, 500, time.Now().UnixMilli())
	end := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return model, end
}

// copyDir copies the files of src into a new directory dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCleanCrash kills a child process that cleans a log with SIGKILL at
// random moments of its runs (COMPACT_CRASH_TRIALS times, 30 by default),
// each time on a fresh copy of the same uncleaned log. Every reopen (an
// unclean shutdown) must finish or roll back the swap the kill
// interrupted, leave no .cleaned or .swap file, read every offset up to
// the same log end without an unreadable range, and give the last value of
// every key: cleaned, partly cleaned or not at all, never an older one.
func TestCleanCrash(t *testing.T) {
	trials := 30
	if v, err := strconv.Atoi(os.Getenv("COMPACT_CRASH_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	pristine := filepath.Join(t.TempDir(), "pristine")
	model, end := buildCrashCleanLog(t, pristine)

	// How long a whole run takes, to spread the kills over it.
	timing := filepath.Join(t.TempDir(), "timing")
	copyDir(t, pristine, timing)
	l := openTestLog(t, timing, cleanCrashOptions())
	l.SetHighWatermark(1 << 62)
	c, _ := NewCleaner(CleanerOptions{IOBufferSize: 4096})
	start := time.Now()
	if st := mustClean(t, c, l); st.Segments < 10 {
		t.Fatalf("a run rewrote %d segments, want many", st.Segments)
	}
	runTime := time.Since(start)
	l.Close()

	rng := rand.New(rand.NewPCG(5, 6))
	interrupted, swaps, cleanedSegs := 0, 0, 0
	for trial := range trials {
		dir := filepath.Join(t.TempDir(), fmt.Sprint(trial))
		copyDir(t, pristine, dir)
		cmd, stdout, stderr := startTestChild(t, cleanCrashChildEnv, dir)
		if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("trial %d: child did not start: %v %s", trial, err, stderr.String())
		}
		time.Sleep(time.Duration(rng.Int64N(int64(runTime)*3/2 + 1)))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if strings.Contains(stderr.String(), "crash child:") {
			t.Fatalf("trial %d: child failed: %s", trial, stderr.String())
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), cleanedSuffix) {
				interrupted++
			}
			if strings.HasSuffix(e.Name(), logSuffix+swapSuffix) {
				swaps++
			}
		}
		l := openTestLog(t, dir, cleanCrashOptions())
		if got := l.LogEndOffset(); got != end {
			t.Fatalf("trial %d: log end %d, want %d", trial, got, end)
		}
		if rs := l.UnreadableRanges(); len(rs) != 0 {
			t.Fatalf("trial %d: unreadable ranges %v", trial, rs)
		}
		checkLastValues(t, l, model)
		if size := l.Size(); size < dirSize(t, pristine)*9/10 {
			cleanedSegs++
		}
		l.Close()
		ents, _ = os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), cleanedSuffix) || strings.HasSuffix(e.Name(), swapSuffix) {
				t.Fatalf("trial %d: %s left after reopen", trial, e.Name())
			}
		}
	}
	t.Logf("%d trials (a run takes %v): %d .cleaned files rolled back, %d log .swap files completed on reopen, %d logs reopened smaller than the original by a tenth",
		trials, runTime, interrupted, swaps, cleanedSegs)
}

// checkLastValues checks that the last record of every key in l is the
// model's (a tombstone or nothing for a key the model deleted).
func checkLastValues(t *testing.T, l *Log, model compactModel) {
	t.Helper()
	got := map[string][]byte{}
	prev := int64(-1)
	for _, r := range readAll(t, l, 0) {
		if r.Offset <= prev {
			t.Fatalf("offset %d after %d", r.Offset, prev)
		}
		prev = r.Offset
		got[string(r.Key)] = r.Value
	}
	for k, v := range model {
		gv, ok := got[k]
		if v == nil {
			if ok && gv != nil {
				t.Fatalf("deleted key %q reads %q", k, gv)
			}
			continue
		}
		if !bytes.Equal(gv, v) {
			t.Fatalf("key %q = %q, want %q", k, gv, v)
		}
	}
}

// dirSize is the bytes of the .log files in dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), logSuffix) {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
	}
	return n
}
