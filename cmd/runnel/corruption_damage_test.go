package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// damageKinds are the kinds of damage the matrix puts into a file.
var damageKinds = []string{"bitflip", "tailcut", "zero", "garbage", "empty", "delete"}

// damage is one change to one file.
type damage struct {
	kind string
	pos  int64 // bitflip: the byte; zero: the first byte zeroed; tailcut: the new size
	bit  byte  // bitflip: the bit flipped
	n    int64 // zero: bytes zeroed; garbage: bytes appended
	seed uint64
}

func (d damage) String() string {
	switch d.kind {
	case "bitflip":
		return fmt.Sprintf("bit 0x%02x of byte %d flipped", d.bit, d.pos)
	case "tailcut":
		return fmt.Sprintf("cut to %d bytes", d.pos)
	case "zero":
		return fmt.Sprintf("%d bytes zeroed at %d", d.n, d.pos)
	case "garbage":
		return fmt.Sprintf("%d garbage bytes appended", d.n)
	}
	return d.kind
}

// fixedDamage is the matrix's damage of a kind for a file of size bytes: the
// lowest bit of the middle byte flipped (in a text file, a digit stays a
// digit: the flip changes a number without breaking the format), the last
// 37 bytes (or a third) cut, 512 bytes zeroed from a third in, 185
// garbage bytes appended. ok is false where the kind does not apply
// (nothing to flip, cut or zero in an empty file).
func fixedDamage(kind string, size int64) (damage, bool) {
	d := damage{kind: kind, seed: 185}
	switch kind {
	case "bitflip":
		d.pos, d.bit = size/2, 0x01
	case "tailcut":
		d.pos = size - min(37, max(1, size/3))
	case "zero":
		d.pos = size / 3
		d.n = min(512, size-d.pos)
	case "garbage":
		d.n = 185
	}
	return d, kind == "garbage" || kind == "delete" || size > 0
}

// randomDamage picks a damage for a file of size bytes from rng.
func randomDamage(rng *rand.Rand, size int64) damage {
	for {
		d := damage{kind: damageKinds[rng.IntN(len(damageKinds))], seed: rng.Uint64()}
		switch d.kind {
		case "bitflip":
			if size == 0 {
				continue
			}
			d.pos, d.bit = rng.Int64N(size), byte(1)<<rng.IntN(8)
		case "tailcut":
			if size == 0 {
				continue
			}
			d.pos = size - 1 - rng.Int64N(min(size, 4096))
		case "zero":
			if size == 0 {
				continue
			}
			d.pos = rng.Int64N(size)
			d.n = min(1+rng.Int64N(4096), size-d.pos)
		case "garbage":
			d.n = 1 + rng.Int64N(1024)
		}
		return d
	}
}

// first is the first byte the damage changes in a file of size bytes
// (size when it only appends).
func (d damage) first(size int64) int64 {
	switch d.kind {
	case "bitflip", "zero", "tailcut":
		return d.pos
	case "garbage":
		return size
	}
	return 0
}

// apply puts the damage into the file at path.
func (d damage) apply(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	switch d.kind {
	case "bitflip":
		data[d.pos] ^= d.bit
	case "tailcut":
		data = data[:d.pos]
	case "zero":
		clear(data[d.pos : d.pos+d.n])
	case "garbage":
		rng := rand.New(rand.NewPCG(d.seed, d.seed))
		for range d.n {
			data = append(data, byte(rng.Uint32()))
		}
	case "empty":
		data = nil
	case "delete":
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// File kinds of a data directory, as the matrix names them.
const (
	kindLog             = "log"
	kindIndex           = "index"
	kindTimeIndex       = "timeindex"
	kindProducerSnap    = "producer-snapshot"
	kindEpochCheckpoint = "leader-epoch-checkpoint"
	kindPartitionMeta   = "partition.metadata"
	kindQuarantine      = "quarantine-checkpoint"
	kindRecoveryPoints  = "recovery-point-offset-checkpoint"
	kindHighWatermarks  = "replication-offset-checkpoint"
	kindLogStarts       = "log-start-offset-checkpoint"
	kindCleanShutdown   = ".clean-shutdown"
	kindWAL             = "raft-wal"
	kindRaftSnap        = "raft-snapshot"
	kindRaftLock        = "raft-lock"
	kindOther           = "other"
)

// fileClass says what a file of a golden directory is.
type fileClass struct {
	kind string
	p    gtp // partition files
	// Segment files: the segment's base offset, whether it is the active
	// (last) one, and where the next segment starts (the log end for the
	// active one).
	base, next int64
	active     bool
	// newest marks the newest raft snapshot.
	newest bool
}

// classify says what the file rel (relative to the golden directory) is.
func (g *golden) classify(t *testing.T, rel string) fileClass {
	t.Helper()
	dir, name := filepath.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case dir == "" && (name == kindRecoveryPoints || name == kindHighWatermarks || name == kindLogStarts || name == kindCleanShutdown):
		return fileClass{kind: name}
	case dir == "meta/wal":
		return fileClass{kind: kindWAL}
	case dir == "meta/snap":
		snaps := g.filesIn(t, "meta/snap", ".snap")
		return fileClass{kind: kindRaftSnap, newest: len(snaps) > 0 && snaps[len(snaps)-1] == name}
	case rel == "meta/LOCK":
		return fileClass{kind: kindRaftLock}
	}
	for _, p := range goldenPartitions() {
		if dir != p.String() {
			continue
		}
		c := fileClass{p: p, kind: kindOther}
		switch name {
		case kindEpochCheckpoint, kindPartitionMeta, kindQuarantine:
			c.kind = name
			return c
		}
		base, ext, _ := strings.Cut(name, ".")
		off, err := strconv.ParseInt(base, 10, 64)
		if err != nil || len(base) != 20 {
			return c
		}
		switch ext {
		case "log":
			c.kind = kindLog
		case "index":
			c.kind = kindIndex
		case "timeindex":
			c.kind = kindTimeIndex
		case "snapshot":
			c.kind = kindProducerSnap
			return c
		default:
			return c
		}
		logs := g.filesIn(t, dir, ".log")
		c.base, c.next, c.active = off, g.end[p], true
		for i, l := range logs {
			if l == base+".log" && i+1 < len(logs) {
				c.next, _ = strconv.ParseInt(strings.TrimSuffix(logs[i+1], ".log"), 10, 64)
				c.active = false
			}
		}
		return c
	}
	return fileClass{kind: kindOther}
}

// filesIn lists the names in the golden directory's dir ending in suffix,
// sorted.
func (g *golden) filesIn(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(g.dir, dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) && !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// batchAt returns the base offset of the batch of the segment file (in the
// golden directory) that holds byte pos, and false when pos lies past its
// last whole batch.
func (g *golden) batchAt(t *testing.T, rel string, pos int64) (int64, bool) {
	t.Helper()
	base, _, ok := g.batchHolding(t, rel, pos)
	return base, ok
}

// batchFloor returns the byte position of the batch of the segment file
// (in the golden directory) that holds byte pos, or the end of its last
// whole batch when pos lies past it: recovery may cut the active segment
// there, never before.
func (g *golden) batchFloor(t *testing.T, rel string, pos int64) int64 {
	t.Helper()
	_, at, _ := g.batchHolding(t, rel, pos)
	return at
}

func (g *golden) batchHolding(t *testing.T, rel string, pos int64) (base, at int64, ok bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(g.dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	for {
		batch, rest, err := recordbatch.Next(data)
		if err != nil {
			return 0, at, false
		}
		h, err := recordbatch.ParseHeader(batch)
		if err != nil {
			return 0, at, false
		}
		if pos < at+int64(len(batch)) {
			return h.BaseOffset, at, true
		}
		at += int64(len(batch))
		data = rest
	}
}

// outcome is whether a damaged directory must start.
type outcome int

const (
	mustStart outcome = iota
	mustRefuse
	startOrRefuse
)

func (o outcome) String() string {
	return [...]string{"must start", "must refuse to start", "may start or refuse"}[o]
}

// expectation is what a broker may and must do with one damaged directory.
type expectation struct {
	outcome outcome
	// mention is what a refusal must name (the damaged file).
	mention string
	// refused is a partition that must be refused, its files kept
	// (KAFKA_STORAGE_ERROR), the others served.
	refused *gtp
	// loss is a range of offsets of one partition that may be missing
	// (the damaged segment's range from the damaged batch on); lossOf
	// names the partition.
	lossOf   gtp
	loss     [2]int64
	hasLoss  bool
	deleted  string // the damaged file is gone: the output names what was lost, not it
	aside    string // the damaged file must be found damaged and kept under this name
	reServed bool   // records of plain-1 below its log start may be served again
	forget   bool   // topics may be unknown to the metadata (a cut WAL)
}

func (e expectation) String() string {
	s := e.outcome.String()
	if e.refused != nil {
		s += ", " + e.refused.String() + " refused"
	}
	if e.hasLoss {
		s += fmt.Sprintf(", %s offsets %d to %d may be lost", e.lossOf, e.loss[0], e.loss[1]-1)
	}
	if e.reServed {
		s += ", deleted records may be served again"
	}
	if e.forget {
		s += ", topics may be forgotten"
	}
	if e.aside != "" {
		s += ", kept aside as " + filepath.Base(e.aside)
	}
	return s
}

// allowedLoss reports whether offset o of p may be missing.
func (e expectation) allowedLoss(p gtp, o int64) bool {
	return e.hasLoss && p == e.lossOf && o >= e.loss[0] && o < e.loss[1]
}

// expect says what a broker must do with the golden directory after d was
// put into rel. The rules are those of DESIGN.md and the README's "Damaged
// or missing files": a damaged segment costs only its own range from the
// damaged batch on (only the active segment's torn tail is cut), derived
// files are rebuilt, a damaged identity refuses its partition, a damaged
// log start checkpoint or raft WAL refuses the broker (a WAL's torn tail
// is cut), a damaged newest raft snapshot is passed over only when an older
// one and the WAL hold its state.
//
// fixed says the damage is the matrix's (fixedDamage), whose outcome is
// known where a random damage's may go either way.
func (g *golden) expect(t *testing.T, rel string, c fileClass, d damage, size int64, fixed bool) expectation {
	t.Helper()
	e := expectation{outcome: mustStart, mention: filepath.Base(rel)}
	if d.kind == "delete" {
		e.deleted = rel
	}
	switch c.kind {
	case kindLog:
		first := d.first(size)
		if base, ok := g.batchAt(t, rel, first); ok {
			e.lossOf, e.loss, e.hasLoss = c.p, [2]int64{base, c.next}, true
		} else if d.kind == "delete" || d.kind == "empty" {
			e.lossOf, e.loss, e.hasLoss = c.p, [2]int64{c.base, c.next}, true
		}
	case kindPartitionMeta:
		e.refused = &c.p
	case kindLogStarts:
		// Checksummed: any damage is found and refuses, but a cut of
		// exactly the checksum line leaves a whole file of an earlier
		// version; a lost file serves deleted records again.
		switch {
		case d.kind == "delete":
			e.reServed = true
		case d.kind == "tailcut" && !fixed:
			e.outcome = startOrRefuse
		default:
			e.outcome = mustRefuse
		}
	case kindRecoveryPoints, kindHighWatermarks, kindEpochCheckpoint, kindProducerSnap, kindQuarantine:
		// Checksummed derived files: found damaged, kept aside, rebuilt.
		if fixed && d.kind != "delete" {
			e.aside = rel + ".corrupt"
		}
	case kindWAL:
		// Only a torn tail is cut (the matrix's cut and garbage are
		// torn-looking tails); damage with records after it refuses,
		// naming the file and offset, and so does a WAL lost or emptied
		// beside the snapshots, naming the directory.
		if d.kind != "bitflip" && (d.kind != "zero" || !fixed) {
			e.mention = "meta/wal"
		}
		switch {
		case d.kind == "bitflip" || d.kind == "empty" || d.kind == "delete":
			e.outcome = mustRefuse
		case fixed && d.kind == "zero":
			e.outcome = mustRefuse
		case !fixed:
			e.outcome, e.forget = startOrRefuse, true
		}
	case kindRaftSnap:
		// The golden WAL holds every entry since the cluster began: an
		// older snapshot (or none) and the WAL hold the state of any
		// snapshot, so a damaged one is passed over and kept aside.
		if c.newest && fixed && d.kind != "delete" {
			e.aside = rel + ".broken"
		}
	case kindOther:
		e.outcome = startOrRefuse
	}
	return e
}
