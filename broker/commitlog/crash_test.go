package commitlog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

const crashChildEnv = "COMMITLOG_CRASH_CHILD_DIR"

var crashTP = TopicPartition{"crash", 0}

// crashRecord is the record at offset: the contents are a function of the
// offset, so a reader can check every record without a side channel.
func crashRecord(offset int64) recordbatch.Record {
	size := int(offset * 7 % 1500)
	if offset%97 == 0 {
		// Now and then a large record, so that a kill can land inside a
		// multi-page write(2) and leave a torn batch behind.
		size = 256<<10 + size
	}
	return recordbatch.Record{
		Key:       []byte("k" + strconv.FormatInt(offset, 10)),
		Value:     bytes.Repeat([]byte{byte(offset % 251)}, size),
		Timestamp: offset,
	}
}

// cutCounter counts the "cutting log" warnings of recoveries.
type cutCounter struct{ n *int }

func (c cutCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c cutCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == tornTailMessage {
		*c.n++
	}
	return nil
}
func (c cutCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c cutCounter) WithGroup(string) slog.Handler      { return c }

func crashOptions() Options {
	return Options{SegmentBytes: 1 << 20, IndexIntervalBytes: 1024, MaxMessageBytes: 4 << 20, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// TestMain lets the test binary act as the appending child of TestCrashRecovery.
func TestMain(m *testing.M) {
	if dir := os.Getenv(cleanCrashChildEnv); dir != "" {
		if err := runCleanCrashChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	if dir := os.Getenv(crashChildEnv); dir != "" {
		if err := runCrashChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runCrashChild appends batches forever, printing the last offset of each
// batch after Append returns, until it is killed.
func runCrashChild(dir string) error {
	st, err := OpenStore(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	l, err := st.Open(crashTP, crashOptions())
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(os.Stdout, 64)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := 0; ; i++ {
		next := l.LogEndOffset()
		recs := make([]recordbatch.Record, 1+rng.IntN(20))
		for j := range recs {
			recs[j] = crashRecord(next + int64(j))
		}
		codec := []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecNone, recordbatch.CodecLZ4}[rng.IntN(3)]
		b, err := recordbatch.Build(recordbatch.BuildOptions{Codec: codec}, recs)
		if err != nil {
			return err
		}
		info, err := l.Append(b, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%d\n", info.LastOffset)
		out.Flush()
		if i%50 == 49 {
			if err := st.Checkpoint(); err != nil {
				return err
			}
		}
	}
}

// TestCrashRecovery kills an appending child process with SIGKILL at random
// moments, 50 times. After every kill the log must reopen as a valid prefix
// holding every batch whose append returned before the kill.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(42, 42))
	acked := int64(-1)
	cuts := 0
	defer func() { t.Logf("%d of 50 reopens cut a torn tail; %d records acknowledged", cuts, acked+1) }()
	for round := 0; round < 50; round++ {
		cmd, stdout, stderr := startTestChild(t, crashChildEnv, dir)
		lines := make(chan int64, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if v, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
					lines <- v
				}
			}
		}()
		// Let it append for a while (at least one acknowledged batch), then kill.
		deadline := time.After(time.Duration(5+rng.IntN(80)) * time.Millisecond)
		gotOne := false
	wait:
		for {
			select {
			case v, ok := <-lines:
				if !ok {
					break wait
				}
				acked, gotOne = max(acked, v), true
			case <-deadline:
				if gotOne {
					break wait
				}
				deadline = time.After(5 * time.Millisecond)
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for v := range lines {
			acked = max(acked, v)
		}
		cmd.Wait()
		if bytes.Contains(stderr.Bytes(), []byte("crash child:")) {
			t.Fatalf("round %d: child failed: %s", round, stderr.String())
		}
		end := verifyCrashLog(t, dir, round, &cuts)
		if end <= acked {
			t.Fatalf("round %d: log end %d lost acknowledged offset %d", round, end, acked)
		}
	}
}

// startTestChild starts this test binary as a child process with env set
// to dir (TestMain runs the child's part) and returns its stdout and the
// buffer its stderr goes to.
func startTestChild(t *testing.T, env, dir string) (*exec.Cmd, io.ReadCloser, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, stderr
}

// verifyCrashLog reopens the log (through the store on even rounds, directly
// on odd ones, leaving the store unclean) and checks every record.
func verifyCrashLog(t *testing.T, dir string, round int, cuts *int) int64 {
	t.Helper()
	opts := crashOptions()
	opts.Logger = slog.New(cutCounter{cuts})
	var l *Log
	var st *Store
	var err error
	if round%2 == 0 {
		if st, err = OpenStore(dir, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
			t.Fatal(err)
		}
		l, err = st.Open(crashTP, opts)
	} else {
		l, err = Open(filepath.Join(dir, crashTP.String()), opts)
	}
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	r := l.NewReader(0, ToLogEnd)
	n := int64(0)
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("round %d: read at %d: %v", round, n, err)
		}
		want := crashRecord(n)
		if rec.Offset != n || !bytes.Equal(rec.Key, want.Key) || !bytes.Equal(rec.Value, want.Value) || rec.Timestamp != want.Timestamp {
			t.Fatalf("round %d: record %d differs (offset %d key %q)", round, n, rec.Offset, rec.Key)
		}
		n++
	}
	end := l.LogEndOffset()
	if n != end {
		t.Fatalf("round %d: read %d records, log end %d", round, n, end)
	}
	if st != nil {
		err = st.Close()
	} else {
		err = l.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return end
}
