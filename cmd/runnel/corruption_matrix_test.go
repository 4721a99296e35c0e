package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-dev/runnel/broker/commitlog"
)

// TestCorruptionMatrix damages one file of a broker's data directory at a
// time and restarts a broker on it: every file kind the broker writes
// (sealed and active segments and their indexes, producer snapshots,
// leader-epoch-checkpoint, partition.metadata, the data directory's
// checkpoints and clean-shutdown marker, the raft WAL, snapshots and lock)
// times every damage kind (a flipped bit, a cut tail, a zeroed block,
// appended garbage, an emptied file, a deleted file), in data directories
// left by a SIGKILL under produce load and by a clean stop. For each, the
// broker must start or refuse as the design says (a refusal naming the
// file, never a panic or a hang), serve no record that differs from what
// was written, lose nothing beyond the damaged batch's own segment range,
// say so where it skips offsets, and delete nothing.
//
// The "random" subtests put seeded random damage into random files (a
// random kind, then a random file of it) of the golden directories and run
// a real "runnel broker" process on each; set RUNNEL_SEED to replay a run's
// choices (the seed is logged; the golden directories come from a timed
// workload, so their offsets may differ a little from run to run), and
// RUNNEL_RANDOM_CASES to run more of them.
func TestCorruptionMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds its data directories with broker processes")
	}
	root := t.TempDir()
	goldens := make([]*golden, 2)
	var wg sync.WaitGroup
	for i, stop := range []string{"kill-9", "clean"} {
		wg.Go(func() {
			t.Run("golden-"+stop, func(t *testing.T) { goldens[i] = buildGolden(t, stop, root) })
		})
	}
	wg.Wait()
	if goldens[0] == nil || goldens[1] == nil {
		t.Fatal("golden directories not built")
	}
	t.Run("golden-quarantined", func(t *testing.T) { goldens = append(goldens, quarantinedGolden(t, goldens[1], root)) })
	if len(goldens) != 3 {
		t.Fatal("quarantined golden directory not built")
	}
	var cases []corruptionCase
	for _, g := range goldens {
		for _, f := range g.matrixFiles(t) {
			for _, kind := range damageKinds {
				size := g.size(t, f.rel)
				d, ok := fixedDamage(kind, size)
				if !ok {
					continue
				}
				cases = append(cases, corruptionCase{g: g, name: g.stop + "/" + f.name + "/" + kind, rel: f.rel, d: d})
			}
		}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RUNNEL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("RUNNEL_SEED=%q: %v", s, err)
		}
	}
	t.Logf("random cases use RUNNEL_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x52554e))
	random := randomCases
	if s := os.Getenv("RUNNEL_RANDOM_CASES"); s != "" {
		var err error
		if random, err = strconv.Atoi(s); err != nil {
			t.Fatalf("RUNNEL_RANDOM_CASES=%q: %v", s, err)
		}
	}
	for i := range random {
		g := goldens[rng.IntN(len(goldens))]
		rel := g.randomFile(t, rng)
		d := randomDamage(rng, g.size(t, rel))
		cases = append(cases, corruptionCase{g: g, name: fmt.Sprintf("random/%d", i), rel: rel, d: d, process: true, random: true, seed: seed})
	}
	for i := range cases {
		// Every fourth matrix case runs as a process, so that exit codes
		// and what an operator reads are checked across the kinds too.
		cases[i].process = cases[i].process || i%4 == 3
	}
	began := time.Now()
	work := make(chan corruptionCase)
	for range caseWorkers {
		wg.Go(func() {
			for c := range work {
				t.Run(c.name, c.run)
			}
		})
	}
	for _, c := range cases {
		work <- c
	}
	close(work)
	wg.Wait()
	t.Logf("%d cases in %v", len(cases), time.Since(began))
}

// caseWorkers is how many cases run at once: a case mostly waits for its
// node's raft election and registration.
const caseWorkers = 6

// randomCases is how many seeded random cases a run adds
// (RUNNEL_RANDOM_CASES changes it; -run 'TestCorruptionMatrix/(golden|random)'
// runs them without the fixed matrix).
const randomCases = 8

// matrixFile is one file of the matrix, chosen by kind.
type matrixFile struct {
	name, rel string
}

// matrixFiles picks one file of each kind from the golden directory: the
// segments of plain-0 (first, middle, last sealed, active) with their
// indexes, its newest producer snapshot, leader-epoch-checkpoint and
// partition.metadata, the data directory's checkpoints, and the raft
// WAL, newest and older snapshots and lock file; from the quarantined
// golden directory, its quarantine-checkpoint.
func (g *golden) matrixFiles(t *testing.T) []matrixFile {
	t.Helper()
	if g.unreadable != nil {
		return []matrixFile{{"quarantine-checkpoint", filepath.Join("plain-1", kindQuarantine)}}
	}
	part := "plain-0"
	logs := g.filesIn(t, part, ".log")
	if len(logs) < 5 {
		t.Fatalf("%s: %d segments, want at least 5", part, len(logs))
	}
	seg := func(i int, ext string) string {
		return filepath.Join(part, strings.TrimSuffix(logs[i], ".log")+ext)
	}
	last, mid := len(logs)-1, (len(logs)-1)/2
	snaps := g.filesIn(t, part, ".snapshot")
	rsnaps := g.filesIn(t, "meta/snap", ".snap")
	wals := g.filesIn(t, "meta/wal", ".wal")
	if len(snaps) == 0 || len(rsnaps) < 2 || len(wals) == 0 {
		t.Fatalf("golden %s: producer snapshots %v, raft snapshots %v, WAL %v: want all of them", g.stop, snaps, rsnaps, wals)
	}
	files := []matrixFile{
		{"log-first", seg(0, ".log")},
		{"log-middle", seg(mid, ".log")},
		{"log-last-sealed", seg(last-1, ".log")},
		{"log-active", seg(last, ".log")},
		{"index-sealed", seg(mid, ".index")},
		{"timeindex-sealed", seg(mid, ".timeindex")},
		{"index-active", seg(last, ".index")},
		{"timeindex-active", seg(last, ".timeindex")},
		{"producer-snapshot", filepath.Join(part, snaps[len(snaps)-1])},
		{"leader-epoch-checkpoint", filepath.Join(part, kindEpochCheckpoint)},
		{"partition.metadata", filepath.Join(part, kindPartitionMeta)},
		{"recovery-point-offset-checkpoint", kindRecoveryPoints},
		{"replication-offset-checkpoint", kindHighWatermarks},
		{"log-start-offset-checkpoint", kindLogStarts},
		{"raft-wal", filepath.Join("meta/wal", wals[len(wals)-1])},
		{"raft-snapshot-newest", filepath.Join("meta/snap", rsnaps[len(rsnaps)-1])},
		{"raft-snapshot-older", filepath.Join("meta/snap", rsnaps[len(rsnaps)-2])},
		{"raft-lock", "meta/LOCK"},
	}
	if g.stop == "clean" {
		files = append(files, matrixFile{"clean-shutdown", kindCleanShutdown})
	}
	return files
}

// randomFile picks a file of the golden directory for a random case: a
// file kind first, each equally likely, then a file of that kind.
func (g *golden) randomFile(t *testing.T, rng *rand.Rand) string {
	t.Helper()
	byKind := map[string][]string{}
	for rel, e := range listTree(t, g.dir) {
		if !e.dir {
			k := g.classify(t, rel).kind
			byKind[k] = append(byKind[k], rel)
		}
	}
	kinds := slices.Sorted(maps.Keys(byKind))
	files := byKind[kinds[rng.IntN(len(kinds))]]
	slices.Sort(files)
	return files[rng.IntN(len(files))]
}

func (g *golden) size(t *testing.T, rel string) int64 {
	t.Helper()
	info, err := os.Stat(filepath.Join(g.dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// corruptionCase is one damaged copy of a golden directory.
type corruptionCase struct {
	g       *golden
	name    string
	rel     string // the damaged file, relative to the data directory
	d       damage
	process bool   // run "runnel broker" as a process, not StartNode
	random  bool   // a random damage, not the matrix's
	seed    uint64 // random cases: the run's seed
}

func (c corruptionCase) run(t *testing.T) {
	if c.random {
		defer func() {
			if t.Failed() {
				t.Logf("replay with RUNNEL_SEED=%d", c.seed)
			}
		}()
	}
	g := c.g
	size := g.size(t, c.rel)
	class := g.classify(t, c.rel)
	e := g.expect(t, c.rel, class, c.d, size, !c.random)
	t.Logf("%s golden: %s %s (%s); %s", g.stop, c.rel, c.d, class.kind, e)
	dir := g.copyTree(t)
	path := filepath.Join(dir, c.rel)
	c.d.apply(t, path)
	before := snapshotFiles(t, dir)

	n, err := launchCaseNode(t, dir, c.process)
	if err != nil {
		var r *refusal
		if errors.As(err, &r) {
			if strings.Contains(r.output, "panic") || strings.Contains(r.output, "goroutine ") {
				t.Fatalf("the broker crashed: %v\n%s", err, r.output)
			}
			if r.code != 1 {
				t.Errorf("refusal exits with code %d, want 1", r.code)
			}
		}
		switch {
		case e.outcome == mustStart:
			t.Fatalf("refused to start: %v", err)
		case !strings.Contains(err.Error(), e.mention):
			t.Fatalf("refusal does not name %s: %v", e.mention, err)
		}
		t.Logf("refused: %v", err)
		checkUnchanged(t, before, snapshotFiles(t, dir))
		return
	}
	if e.outcome == mustRefuse {
		n.close(t)
		t.Fatalf("started on a directory it must refuse:\n%s", n.logs())
	}
	checkServed(t, g, e, n)
	n.close(t)
	if out := n.logs(); strings.Contains(out, "panic") {
		t.Errorf("the broker logged a panic:\n%s", out)
	}
	after := snapshotFiles(t, dir)
	checkKept(t, g, c.rel, c.d, before, after)
	if a, ok := after[e.aside]; e.aside != "" && (!ok || !bytes.Equal(a.data, before[c.rel].data)) {
		t.Errorf("the damaged %s is not kept aside as %s", c.rel, e.aside)
	}
	if t.Failed() {
		t.Logf("broker output:\n%s", n.logs())
	}
}

// checkServed reads every partition and compares it with what was written.
func checkServed(t *testing.T, g *golden, e expectation, n *caseNode) {
	t.Helper()
	states, err := n.partitionStates(t, func(gtp) bool { return e.forget })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	md, err := kadm.NewClient(n.client(t)).Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range goldenPartitions() {
		state := states[p]
		switch {
		case e.refused != nil && *e.refused == p:
			if !errors.Is(state, kerr.KafkaStorageError) {
				t.Errorf("%s: answers %v, want KAFKA_STORAGE_ERROR (refused)", p, state)
			}
			if !strings.Contains(n.logs(), e.mention) {
				t.Errorf("%s refused, but the broker's output does not name %s", p, e.mention)
			}
			continue
		case errors.Is(state, kerr.UnknownTopicOrPartition) && e.forget:
			t.Logf("%s: unknown to the metadata", p)
			continue
		case state != nil:
			t.Errorf("%s: answers %v", p, state)
			continue
		}
		s, err := n.readPartition(ctx, t, p, md.Topics[p.topic].ID)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		checkPartition(t, g, e, p, s)
		for _, r := range s.unreadable {
			// Said loudly: the range logged, and the damaged file named
			// (a deleted one cannot be: the segment before it is).
			out := n.logs()
			base, inBase := g.unreadable[p]
			inBase = inBase && r.From == base[0] && r.To == base[1]
			// (The log names the damaged range, which may begin below the
			// log start; a fetch gets it from the log start on.)
			if !strings.Contains(out, fmt.Sprintf("unreadable_to=%d ", r.To-1)) || !inBase && e.deleted == "" && !strings.Contains(out, e.mention) {
				t.Errorf("%s: %v unreadable but the broker's output does not name them and %s", p, r, e.mention)
			}
		}
	}
	if n.node != nil {
		// Ready once registered; never while a partition is refused, and
		// then it says which.
		var err error
		for deadline := time.Now().Add(caseStartTimeout); ; time.Sleep(20 * time.Millisecond) {
			err = n.node.Broker.Ready(ctx)
			if e.refused == nil && err == nil || e.refused != nil && err != nil && strings.Contains(err.Error(), e.refused.String()) || time.Now().After(deadline) {
				break
			}
		}
		if e.refused == nil && err != nil {
			t.Errorf("Ready: %v", err)
		}
		if e.refused != nil && (err == nil || !strings.Contains(err.Error(), e.refused.String())) {
			t.Errorf("Ready does not name the refused partition %s: %v", e.refused, err)
		}
	}
}

// checkPartition compares what a partition served with what was written.
func checkPartition(t *testing.T, g *golden, e expectation, p gtp, s *served) {
	t.Helper()
	for o, r := range s.records {
		w, ok := g.written[p][o]
		switch {
		case !ok:
			t.Errorf("%s offset %d: served %.30q, never written", p, o, r.value)
		case w != r:
			t.Errorf("%s offset %d: served %.30q, written %.30q", p, o, r.value, w.value)
		case o < g.start[p] && !e.reServed:
			t.Errorf("%s offset %d: served, but deleted (log start %d)", p, o, g.start[p])
		}
	}
	allowed := func(o int64) bool {
		r, ok := g.unreadable[p]
		return e.allowedLoss(p, o) || ok && o >= r[0] && o < r[1]
	}
	var lost []int64
	for o := g.start[p]; o < g.end[p]; o++ {
		if _, ok := s.records[o]; !ok && !allowed(o) {
			lost = append(lost, o)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%s: %d records lost (offsets %s), served log %d to %d, unreadable %v", p, len(lost), ranges(lost), s.start, s.end, s.unreadable)
	}
	for _, gap := range s.silent {
		t.Errorf("%s: offsets %d to %d skipped without an error", p, gap[0], gap[1]-1)
	}
	for _, r := range s.unreadable {
		if !allowed(r.From) || !allowed(r.To-1) {
			t.Errorf("%s: unreadable range %v outside the damaged range", p, r)
		}
	}
}

// ranges formats sorted offsets as "a-b, c".
func ranges(offs []int64) string {
	var parts []string
	for i := 0; i < len(offs); {
		j := i
		for j+1 < len(offs) && offs[j+1] == offs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(offs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", offs[i], offs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// fileState is a file's contents (nil for a directory), as found before or
// after a broker ran.
type fileState struct {
	dir  bool
	size int64
	data []byte // all of a small file; the non-zero prefix is not kept for sparse index files
}

// snapshotFiles reads every file of a data directory. Preallocated index
// files keep only their size.
func snapshotFiles(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	for rel, e := range listTree(t, dir) {
		st := fileState{dir: e.dir, size: e.size}
		if !e.dir && e.size < 1<<20 {
			data, err := os.ReadFile(filepath.Join(dir, rel))
			if err != nil {
				t.Fatal(err)
			}
			st.data = data
		}
		out[rel] = st
	}
	return out
}

// checkUnchanged checks that a refusal left every file as it was.
func checkUnchanged(t *testing.T, before, after map[string]fileState) {
	t.Helper()
	for rel, b := range before {
		a, ok := after[rel]
		switch {
		case !ok:
			t.Errorf("%s: gone after the refusal", rel)
		case !b.dir && (a.size != b.size || !bytes.Equal(a.data, b.data)):
			t.Errorf("%s: changed by the refusal (%d bytes, was %d)", rel, a.size, b.size)
		}
	}
}

// checkKept checks that a broker that started kept every byte of the
// directory it was given: segment files unchanged (only the active
// segment's torn tail cut, from the damage on), partition identities
// unchanged, the raft WAL only appended to (a torn tail kept in a .broken
// file), raft snapshots kept (a damaged one as .broken), damaged derived
// files kept as .corrupt, and nothing else gone but derived files of a
// segment whose log is gone and producer snapshots superseded by newer
// ones.
func checkKept(t *testing.T, g *golden, damaged string, d damage, before, after map[string]fileState) {
	t.Helper()
	for rel, b := range before {
		if b.dir {
			if _, ok := after[rel]; !ok {
				t.Errorf("directory %s: gone", rel)
			}
			continue
		}
		a, ok := after[rel]
		name := filepath.Base(rel)
		aside, asideOK := after[rel+".corrupt"]
		kept := asideOK && bytes.Equal(aside.data, b.data)
		switch {
		case strings.HasSuffix(name, ".log"):
			lastLog := isLast(before, rel, ".log")
			switch {
			case !ok:
				t.Errorf("%s: segment deleted", rel)
			case bytes.Equal(a.data, b.data):
			case lastLog && a.size < b.size && bytes.Equal(a.data, b.data[:a.size]):
				// The active segment's torn tail, cut: only from the
				// damage on, or what a restart of the undamaged
				// directory cuts too.
				if rel == damaged {
					if floor := g.batchFloor(t, rel, d.first(g.size(t, rel))); a.size < floor {
						t.Errorf("%s: cut to %d bytes, before the damaged batch at byte %d", rel, a.size, floor)
					}
				} else if a.size < g.size(t, rel) && !strings.HasSuffix(rel, filepath.Base(damaged)) {
					t.Logf("%s: cut to %d bytes (was %d)", rel, a.size, b.size)
				}
			default:
				t.Errorf("%s: segment changed: %d bytes, was %d", rel, a.size, b.size)
			}
		case name == kindPartitionMeta:
			if !ok || !bytes.Equal(a.data, b.data) {
				t.Errorf("%s: changed or gone", rel)
			}
		case strings.HasPrefix(rel, "meta/wal/"):
			checkWALKept(t, rel, b, a, ok, after)
		case strings.HasPrefix(rel, "meta/snap/") && strings.HasSuffix(rel, ".snap"):
			broken, bok := after[rel+".broken"]
			if !(ok && bytes.Equal(a.data, b.data)) && !(bok && bytes.Equal(broken.data, b.data)) {
				t.Errorf("%s: raft snapshot changed or gone", rel)
			}
		case !ok && kept:
			// A damaged derived file moved aside.
		case strings.HasSuffix(name, ".index") || strings.HasSuffix(name, ".timeindex"):
			if _, logOK := after[strings.TrimSuffix(strings.TrimSuffix(rel, ".timeindex"), ".index")+".log"]; !ok && logOK {
				t.Errorf("%s: index gone beside its segment", rel)
			}
		case strings.HasSuffix(name, ".snapshot"):
			// Only the newest two are kept: older ones go when a new one
			// is taken. The newest is read at open, so damage to it is
			// found.
			if !ok && rel == damaged && d.kind != "delete" && isLast(before, rel, ".snapshot") {
				t.Errorf("%s: damaged producer snapshot gone, not kept as .corrupt", rel)
			}
		case name == kindCleanShutdown:
			// Removed at open, written again by the clean close.
		case !ok && commitlog.IsInterruptedWrite(name):
			// A kill -9 during an atomic write left its temporary
			// file; the file it was to replace stands, and open
			// removes the leftover.
		case !ok:
			t.Errorf("%s: gone", rel)
		}
	}
	for rel, a := range after {
		orig, found := strings.CutSuffix(rel, ".corrupt")
		if !found {
			orig, found = strings.CutSuffix(rel, ".broken")
		}
		if _, existed := before[rel]; !found || existed || strings.Contains(orig, ".tail-") {
			continue
		}
		if b, ok := before[orig]; !ok || !bytes.Equal(a.data, b.data) {
			t.Errorf("%s: does not hold the bytes of the damaged %s", rel, orig)
		}
	}
}

// isLast reports whether rel is the last file of its directory whose name
// ends in suffix (the active segment, the newest producer snapshot).
func isLast(files map[string]fileState, rel, suffix string) bool {
	dir := filepath.Dir(rel)
	for other := range files {
		if filepath.Dir(other) == dir && strings.HasSuffix(other, suffix) && other > rel {
			return false
		}
	}
	return true
}

// checkWALKept checks that a raft WAL file was only appended to, or cut
// with the cut bytes kept in <file>.tail-<offset>.broken.
func checkWALKept(t *testing.T, rel string, b, a fileState, ok bool, after map[string]fileState) {
	t.Helper()
	if ok && a.size >= b.size && bytes.Equal(a.data[:b.size], b.data) {
		return
	}
	for other, st := range after {
		cut, found := strings.CutPrefix(other, rel+".tail-")
		if !found {
			continue
		}
		at, err := strconv.ParseInt(strings.TrimSuffix(cut, ".broken"), 10, 64)
		if err != nil || at > b.size {
			continue
		}
		if bytes.Equal(st.data, b.data[at:]) && (!ok || a.size >= at && bytes.Equal(a.data[:at], b.data[:at])) {
			return
		}
	}
	t.Errorf("%s: WAL changed (%d bytes, was %d) without its cut tail kept", rel, a.size, b.size)
}
