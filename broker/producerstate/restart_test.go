package producerstate

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
)

// partition is a real commitlog.Log with its producer state, driven as the
// partition leader drives them.
type partition struct {
	t   testing.TB
	dir string
	log *commitlog.Log
	ps  *Manager
	ts  int64     // timestamp of the next record
	fs  diskfs.FS // the producer state's, diskfs.OS when nil
}

func logOptions() commitlog.Options {
	return commitlog.Options{SegmentBytes: 4096, Logger: quietLogger()}
}

func openPartition(t testing.TB, dir string) *partition {
	t.Helper()
	p := &partition{t: t, dir: dir, ts: baseTime.UnixMilli()}
	p.open()
	return p
}

func (p *partition) open() {
	p.t.Helper()
	l, err := commitlog.Open(p.dir, logOptions())
	if err != nil {
		p.t.Fatalf("open log: %v", err)
	}
	p.t.Cleanup(func() { l.Close() })
	p.log = l
	opts := testOptions()
	opts.FS = p.fs
	ps, err := Load(context.Background(), p.dir, l, opts)
	if err != nil {
		p.t.Fatalf("load producer state: %v", err)
	}
	p.ps = ps
}

// restart closes the log and opens log and producer state again.
func (p *partition) restart() {
	p.t.Helper()
	if err := p.log.Close(); err != nil {
		p.t.Fatalf("close log: %v", err)
	}
	p.open()
}

// produce sends one batch of n records; pid < 0 is a producer without
// idempotence. Accepted batches are appended and applied.
func (p *partition) produce(pid int64, epoch int16, seq int32, n int) (Decision, error) {
	p.t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Value: []byte("event"), Timestamp: p.ts}
		p.ts++
	}
	var opts recordbatch.BuildOptions
	if pid >= 0 {
		opts.Producer = &recordbatch.Producer{ID: pid, Epoch: epoch, BaseSequence: seq}
	}
	b, err := recordbatch.Build(opts, recs)
	if err != nil {
		p.t.Fatalf("build: %v", err)
	}
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		p.t.Fatalf("parse: %v", err)
	}
	d, err := p.ps.Check(h)
	if err != nil || d.Duplicate {
		return d, err
	}
	info, err := p.log.Append(b, 0)
	if err != nil {
		p.t.Fatalf("append: %v", err)
	}
	h, _ = recordbatch.ParseHeader(b) // with the offset the log assigned
	p.ps.Update(h, info.FirstOffset)
	return d, nil
}

func (p *partition) snapshot() int64 {
	p.t.Helper()
	end := p.log.LogEndOffset()
	if err := p.ps.TakeSnapshot(end); err != nil {
		p.t.Fatalf("snapshot at %d: %v", end, err)
	}
	return end
}

func (p *partition) snapshots() []int64 {
	p.t.Helper()
	offs, err := listSnapshots(diskfs.OS{}, p.dir)
	if err != nil {
		p.t.Fatal(err)
	}
	return offs
}

// workload produces batches from a few idempotent producers, a producer
// without idempotence, epoch bumps and retries, checking every answer.
type workload struct {
	rng   *rand.Rand
	epoch map[int64]int16
	seq   map[int64]int32
	sent  map[int64][]sentBatch // per producer, current epoch
}

type sentBatch struct {
	seq   int32
	n     int
	first int64
}

func newWorkload(seed uint64) *workload {
	return &workload{rng: rand.New(rand.NewPCG(seed, 1)), epoch: map[int64]int16{}, seq: map[int64]int32{}, sent: map[int64][]sentBatch{}}
}

func (w *workload) run(t testing.TB, p *partition, batches int) {
	t.Helper()
	for range batches {
		pid := int64(w.rng.IntN(5)) - 1 // -1: no idempotence
		n := 1 + w.rng.IntN(4)
		switch r := w.rng.IntN(20); {
		case pid < 0:
			if _, err := p.produce(-1, -1, -1, n); err != nil {
				t.Fatal(err)
			}
			continue
		case r == 0:
			w.epoch[pid]++
			w.seq[pid] = 0
			w.sent[pid] = nil
		case r < 3 && len(w.sent[pid]) > 0:
			// A retry of one of the retained batches.
			sent := w.sent[pid]
			b := sent[len(sent)-1-w.rng.IntN(min(len(sent), RetainedBatches))]
			d, err := p.produce(pid, w.epoch[pid], b.seq, b.n)
			if err != nil || !d.Duplicate || d.Original.FirstOffset != b.first {
				t.Fatalf("retry of producer %d seq %d: %+v, %v; want duplicate at %d", pid, b.seq, d, err, b.first)
			}
			continue
		}
		first := p.log.LogEndOffset()
		if d, err := p.produce(pid, w.epoch[pid], w.seq[pid], n); err != nil || d.Duplicate {
			t.Fatalf("producer %d seq %d: %+v, %v", pid, w.seq[pid], d, err)
		}
		w.sent[pid] = append(w.sent[pid], sentBatch{w.seq[pid], n, first})
		w.seq[pid] += int32(n)
	}
}

// verify checks that p answers the workload's producers as before: retries
// of retained batches are duplicates with their offsets, and the next
// sequence is accepted.
func (w *workload) verify(t testing.TB, p *partition) {
	t.Helper()
	for pid, sent := range w.sent {
		for _, b := range sent[max(0, len(sent)-RetainedBatches):] {
			d, err := p.ps.Check(hdr(pid, w.epoch[pid], b.seq, int32(b.n)))
			if err != nil || !d.Duplicate || d.Original.FirstOffset != b.first {
				t.Fatalf("after restart, retry of producer %d seq %d: %+v, %v; want duplicate at %d", pid, b.seq, d, err, b.first)
			}
		}
		if _, err := p.ps.Check(hdr(pid, w.epoch[pid], w.seq[pid], 1)); err != nil {
			t.Fatalf("after restart, producer %d next seq %d: %v", pid, w.seq[pid], err)
		}
	}
}

func TestRestart(t *testing.T) {
	cases := []struct {
		name string
		// damage changes the directory before the restart; snaps are the
		// snapshot offsets taken.
		damage func(t *testing.T, dir string, snaps []int64)
		// kept are the indexes into snaps expected to survive the restart.
		kept []int
	}{
		{"snapshot", func(*testing.T, string, []int64) {}, []int{0, 1}},
		{"no snapshot", func(t *testing.T, dir string, snaps []int64) {
			for _, off := range snaps {
				must(t, os.Remove(snapshotPath(dir, off)))
			}
		}, nil},
		{"newest corrupt", func(t *testing.T, dir string, snaps []int64) {
			flipByte(t, snapshotPath(dir, snaps[1]), 40)
		}, []int{0}},
		{"newest cut short", func(t *testing.T, dir string, snaps []int64) {
			path := snapshotPath(dir, snaps[1])
			fi, err := os.Stat(path)
			must(t, err)
			must(t, os.Truncate(path, fi.Size()/2))
		}, []int{0}},
		{"both corrupt", func(t *testing.T, dir string, snaps []int64) {
			flipByte(t, snapshotPath(dir, snaps[0]), 1)
			flipByte(t, snapshotPath(dir, snaps[1]), 3)
		}, nil},
		{"renamed", func(t *testing.T, dir string, snaps []int64) {
			// A snapshot whose contents name another offset is damaged.
			must(t, os.Rename(snapshotPath(dir, snaps[0]), snapshotPath(dir, snaps[1])))
		}, nil},
		{"leftover temporary file", func(t *testing.T, dir string, snaps []int64) {
			must(t, os.WriteFile(snapshotPath(dir, snaps[1]+5)+diskfs.TempSuffix, []byte("torn"), 0o644))
		}, []int{0, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := openPartition(t, t.TempDir())
			w := newWorkload(7)
			w.run(t, p, 150)
			var snaps []int64
			snaps = append(snaps, p.snapshot())
			w.run(t, p, 150)
			snaps = append(snaps, p.snapshot())
			w.run(t, p, 150) // not in any snapshot
			want := p.ps.Producers()
			if len(want) != 4 {
				t.Fatalf("workload left %d producers", len(want))
			}
			if segs := p.log.Segments(); len(segs) < 4 {
				t.Fatalf("workload wrote only %d segments", len(segs))
			}

			tc.damage(t, p.dir, snaps)
			p.restart()
			sameState(t, p.ps.Producers(), want)
			var wantSnaps []int64
			for _, i := range tc.kept {
				wantSnaps = append(wantSnaps, snaps[i])
			}
			if got := p.snapshots(); !slices.Equal(got, wantSnaps) {
				t.Fatalf("snapshots after restart %v, want %v", got, wantSnaps)
			}
			if _, err := os.Stat(snapshotPath(p.dir, snaps[1]+5) + diskfs.TempSuffix); !os.IsNotExist(err) {
				t.Fatalf("temporary file left: %v", err)
			}
			if strings.Contains(tc.name, "corrupt") {
				// A damaged snapshot is derived data: rebuilt, and kept aside.
				if _, err := os.Stat(snapshotPath(p.dir, snaps[1]) + corruptSuffix); err != nil {
					t.Fatalf("damaged snapshot not kept aside: %v", err)
				}
			}
			w.verify(t, p)
			w.run(t, p, 50)

			// A clean shutdown with a snapshot at the end replays nothing.
			want = p.ps.Producers()
			p.snapshot()
			p.restart()
			sameState(t, p.ps.Producers(), want)
			w.verify(t, p)
		})
	}
}

func TestSnapshotsKept(t *testing.T) {
	p := openPartition(t, t.TempDir())
	w := newWorkload(3)
	var snaps []int64
	for range 4 {
		w.run(t, p, 20)
		snaps = append(snaps, p.snapshot())
	}
	if got := p.snapshots(); !slices.Equal(got, snaps[2:]) {
		t.Fatalf("snapshots %v, want the newest two of %v", got, snaps)
	}
	// Snapshotting again at the same offset replaces the file.
	p.snapshot()
	if got := p.snapshots(); !slices.Equal(got, snaps[2:]) {
		t.Fatalf("snapshots %v after a repeat, want %v", got, snaps[2:])
	}
	// A stale snapshot above the log end goes with the next snapshot.
	must(t, os.WriteFile(snapshotPath(p.dir, 1<<50), encodeSnapshot(1<<50, nil), 0o644))
	w.run(t, p, 5)
	snaps = append(snaps, p.snapshot())
	if got := p.snapshots(); !slices.Equal(got, snaps[3:]) {
		t.Fatalf("snapshots %v, want %v", got, snaps[3:])
	}
	// A snapshot must cover every applied batch.
	if err := p.ps.TakeSnapshot(snaps[4] - 1); !errors.Is(err, ErrSnapshotBehind) {
		t.Fatal("snapshot below the applied batches accepted")
	}
}

func TestSnapshotAboveLogEnd(t *testing.T) {
	p := openPartition(t, t.TempDir())
	w := newWorkload(11)
	w.run(t, p, 40)
	mid := p.log.LogEndOffset()
	want := p.ps.Producers()
	w.run(t, p, 40)
	high := p.snapshot()
	// The log loses its tail (say, an unflushed tail after a crash) but the
	// snapshot survived: it describes batches that are gone.
	must(t, p.log.TruncateTo(mid))
	p.restart()
	sameState(t, p.ps.Producers(), want)
	if got := p.snapshots(); len(got) != 0 {
		t.Fatalf("snapshot %v above the log end %d kept (was %d)", got, mid, high)
	}
}

func TestTruncate(t *testing.T) {
	for _, logFirst := range []bool{true, false} {
		name := "log first"
		if !logFirst {
			name = "state first"
		}
		t.Run(name, func(t *testing.T) {
			p := openPartition(t, t.TempDir())
			w := newWorkload(5)
			type point struct {
				end   int64
				state []ProducerState
				w     *workload
			}
			var points []point
			record := func() {
				points = append(points, point{p.log.LogEndOffset(), p.ps.Producers(), w.clone()})
			}
			for i := range 12 {
				w.run(t, p, 10)
				record()
				if i == 3 || i == 9 {
					p.snapshot()
				}
			}
			truncate := func(pt point) {
				t.Helper()
				if logFirst {
					must(t, p.log.TruncateTo(pt.end))
				}
				must(t, p.ps.TruncateTo(context.Background(), pt.end))
				if !logFirst {
					must(t, p.log.TruncateTo(pt.end))
				}
				sameState(t, p.ps.Producers(), pt.state)
				for _, off := range p.snapshots() {
					if off > pt.end {
						t.Fatalf("snapshot %d above %d kept", off, pt.end)
					}
				}
				w = pt.w.clone()
				w.verify(t, p)
			}
			truncate(points[7]) // between the snapshots
			truncate(points[7]) // again: nothing to do
			truncate(points[2]) // below both
			w.run(t, p, 30)     // the log goes on from there
			want := p.ps.Producers()
			p.restart()
			sameState(t, p.ps.Producers(), want)
			w.verify(t, p)
		})
	}
}

func (w *workload) clone() *workload {
	c := &workload{rng: rand.New(rand.NewPCG(w.rng.Uint64(), 2)), epoch: map[int64]int16{}, seq: map[int64]int32{}, sent: map[int64][]sentBatch{}}
	for k, v := range w.epoch {
		c.epoch[k] = v
	}
	for k, v := range w.seq {
		c.seq[k] = v
	}
	for k, v := range w.sent {
		c.sent[k] = slices.Clone(v)
	}
	return c
}

func TestLoadDropsProducersBelowLogStart(t *testing.T) {
	p := openPartition(t, t.TempDir())
	for i := range 20 {
		if _, err := p.produce(1, 0, int32(i*3), 3); err != nil {
			t.Fatal(err)
		}
	}
	start := p.log.LogEndOffset()
	for i := range 20 {
		if _, err := p.produce(2, 0, int32(i*3), 3); err != nil {
			t.Fatal(err)
		}
	}
	p.snapshot() // holds producer 1
	p.log.SetHighWatermark(p.log.LogEndOffset())
	if _, err := p.log.DeleteRecordsBefore(start); err != nil {
		t.Fatal(err)
	}
	ps, err := Load(context.Background(), p.dir, p.log, testOptions())
	must(t, err)
	if _, ok := ps.Producer(1); ok {
		t.Fatal("producer whose batches are all below the log start kept")
	}
	if q, ok := ps.Producer(2); !ok || q.LastSeq() != 59 {
		t.Fatalf("producer 2: %+v, %v", q, ok)
	}
}

func TestLoadSkipsExpiredProducers(t *testing.T) {
	p := openPartition(t, t.TempDir())
	w := newWorkload(1)
	w.run(t, p, 30)
	p.snapshot()
	w.run(t, p, 30)
	opts := testOptions()
	opts.Now = func() time.Time { return baseTime.Add(DefaultExpiration + time.Hour) }
	ps, err := Load(context.Background(), p.dir, p.log, opts)
	must(t, err)
	if ps.Len() != 0 {
		t.Fatalf("%d expired producers loaded", ps.Len())
	}
	opts.Expiration = 2 * DefaultExpiration
	ps, err = Load(context.Background(), p.dir, p.log, opts)
	must(t, err)
	if ps.Len() != 4 {
		t.Fatalf("%d producers loaded with a longer expiration, want 4", ps.Len())
	}
}

func TestLoadCancelled(t *testing.T) {
	p := openPartition(t, t.TempDir())
	w := newWorkload(2)
	w.run(t, p, 20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Load(ctx, p.dir, p.log, testOptions()); err == nil {
		t.Fatal("Load ignored a cancelled context")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func flipByte(t testing.TB, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	b[at%len(b)] ^= 0x5a
	must(t, os.WriteFile(path, b, 0o644))
}
