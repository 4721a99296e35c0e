package raftnode

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// diskStorage is raft's MemoryStorage made durable by the WAL and snapshot files.
// It is owned by the node's loop goroutine (MemoryStorage itself is safe for raft's
// concurrent reads).
type diskStorage struct {
	ms     *raft.MemoryStorage
	wal    *wal
	snaps  *snapStore
	lock   *os.File // flock on Dir/LOCK: one Node per Dir
	logger *slog.Logger
}

// loadedState is what was found in Dir.
type loadedState struct {
	snap  *pb.Snapshot // nil if none
	hs    *pb.HardState
	fresh bool // Dir held no raft state at all
}

func openDiskStorage(cfg *Config) (_ *diskStorage, _ *loadedState, err error) {
	logger := cfg.Logger
	lock, err := lockDir(cfg.FS, cfg.Dir)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()
	snaps, err := newSnapStore(cfg.FS, filepath.Join(cfg.Dir, "snap"), logger)
	if err != nil {
		return nil, nil, err
	}
	snap, damaged, err := snaps.loadNewest()
	if err != nil {
		return nil, nil, err
	}
	w, st, err := openWAL(cfg.FS, filepath.Join(cfg.Dir, "wal"), cfg.WALSegmentBytes, cfg.MaxMessageBytes+frameOverhead, logger)
	if err != nil {
		return nil, nil, err
	}
	s := &diskStorage{ms: raft.NewMemoryStorage(), wal: w, snaps: snaps, lock: lock, logger: logger}
	ld := &loadedState{snap: snap, fresh: snap == nil && len(damaged) == 0 && st.hs == nil && len(st.ents) == 0}
	if err := s.restore(ld, st, damaged); err != nil {
		_ = w.close()
		return nil, nil, err
	}
	snaps.setAside(damaged)
	return s, ld, nil
}

// lockDir takes an exclusive flock on dir/LOCK, so that two Nodes (or processes)
// never write the same WAL. The kernel drops it when the process dies.
func lockDir(fsys diskfs.FS, dir string) (*os.File, error) {
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create dir: %w", err)
	}
	f, err := fsys.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("storage: %s is in use by another node: %w", dir, err)
	}
	return f, nil
}

// restore loads the snapshot, the entries after it and the HardState into ms.
// It refuses (a *CorruptError) when the snapshot and the WAL together do not
// hold every entry up to the commit index, naming the damaged snapshot files
// that would have: starting anyway would drop committed metadata.
func (s *diskStorage) restore(ld *loadedState, st *walState, damaged []damagedSnapshot) error {
	var snapIndex, snapTerm uint64
	if ld.snap != nil {
		if err := s.ms.ApplySnapshot(ld.snap); err != nil {
			return fmt.Errorf("storage: apply snapshot: %w", err)
		}
		snapIndex, snapTerm = ld.snap.GetMetadata().GetIndex(), ld.snap.GetMetadata().GetTerm()
		if st.snap == nil || st.snap.GetIndex() < snapIndex {
			s.logger.Info("storage: snapshot file is newer than the WAL's last snapshot marker", "index", snapIndex)
		}
	}
	if st.hs == nil && len(st.ents) == 0 && (ld.snap != nil || len(damaged) > 0) {
		// Every WAL file holds a HardState once the node has one, and a
		// snapshot is only taken of entries the WAL held.
		return s.lost(damaged, "the WAL holds no hard state and no entries, but snapshot files exist: the WAL was lost or emptied, and the entries after the snapshot with it")
	}
	ents := st.ents
	for len(ents) > 0 && ents[0].GetIndex() <= snapIndex {
		ents = ents[1:]
	}
	if len(ents) > 0 && ents[0].GetIndex() != snapIndex+1 {
		return s.lost(damaged, fmt.Sprintf("WAL entries start at %d but the newest whole snapshot ends at %d: entries %d to %d are missing", ents[0].GetIndex(), snapIndex, snapIndex+1, ents[0].GetIndex()-1))
	}
	if len(ents) > 0 {
		if err := s.ms.Append(ents); err != nil {
			return fmt.Errorf("storage: load entries: %w", err)
		}
	}
	last, _ := s.ms.LastIndex()
	hs := &pb.HardState{}
	if st.hs != nil {
		hs = proto.Clone(st.hs).(*pb.HardState)
	}
	// A snapshot is only ever of committed state, so it may raise the commit index
	// (the snapshot file is made durable before its WAL record).
	if hs.GetTerm() < snapTerm {
		hs.Term, hs.Vote = new(snapTerm), new(uint64(0))
	}
	if hs.GetCommit() < snapIndex {
		hs.Commit = new(snapIndex)
	}
	if hs.GetCommit() > last {
		// Entries are written before the HardState that commits them, so a
		// torn tail never leaves the commit index past the log.
		return s.lost(damaged, fmt.Sprintf("the hard state commits entries up to %d but the log ends at %d: committed entries are missing", hs.GetCommit(), last))
	}
	ld.hs = hs
	if !raft.IsEmptyHardState(hs) {
		if err := s.ms.SetHardState(hs); err != nil {
			return fmt.Errorf("storage: set hard state: %w", err)
		}
	}
	return nil
}

// save persists one Ready: snapshot file (if any), then entries and HardState with
// one write and one fdatasync, then updates ms. Raft messages of the Ready may be
// sent only after save returns.
func (s *diskStorage) save(rd *raft.Ready) error {
	hasSnap := !raft.IsEmptySnap(rd.Snapshot)
	if hasSnap {
		if err := s.snaps.save(rd.Snapshot); err != nil {
			return err
		}
		s.wal.saveSnapshotMarker(markerOf(rd.Snapshot))
	}
	s.wal.saveEntries(rd.Entries)
	if !raft.IsEmptyHardState(rd.HardState) {
		s.wal.saveHardState(rd.HardState)
	}
	if err := s.wal.flush(rd.MustSync || hasSnap); err != nil {
		return err
	}
	if hasSnap {
		if err := s.ms.ApplySnapshot(rd.Snapshot); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
			return fmt.Errorf("storage: apply snapshot: %w", err)
		}
		if err := s.wal.releaseTo(rd.Snapshot.GetMetadata().GetIndex()); err != nil {
			return err
		}
	}
	if len(rd.Entries) > 0 {
		if err := s.ms.Append(rd.Entries); err != nil {
			return fmt.Errorf("storage: append: %w", err)
		}
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := s.ms.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("storage: set hard state: %w", err)
		}
	}
	return nil
}

// lost is the refusal for state missing from the WAL and snapshots: it names
// the newest damaged snapshot file, if any, as the one that would have held it.
func (s *diskStorage) lost(damaged []damagedSnapshot, problem string) error {
	if len(damaged) > 0 {
		d := damaged[0]
		return &CorruptError{File: d.path, Offset: d.offset, Problem: fmt.Sprintf("%v, and without it %s", d.err, problem)}
	}
	return &CorruptError{File: s.wal.dir, Offset: -1, Problem: problem}
}

func markerOf(snap *pb.Snapshot) *pb.SnapshotMetadata {
	md := snap.GetMetadata()
	return &pb.SnapshotMetadata{Index: new(md.GetIndex()), Term: new(md.GetTerm()), ConfState: md.GetConfState()}
}

// snapshot records a snapshot of the state machine at index, compacts ms leaving
// catchUp entries before it, and deletes WAL segments the snapshot covers.
func (s *diskStorage) snapshot(index uint64, cs *pb.ConfState, data []byte, catchUp uint64) error {
	snap, err := s.ms.CreateSnapshot(index, cs, data)
	if err != nil {
		return fmt.Errorf("storage: create snapshot at %d: %w", index, err)
	}
	if err := s.snaps.save(snap); err != nil {
		return err
	}
	s.wal.saveSnapshotMarker(markerOf(snap))
	if err := s.wal.flush(true); err != nil {
		return err
	}
	if index > catchUp {
		if err := s.ms.Compact(index - catchUp); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("storage: compact: %w", err)
		}
	}
	return s.wal.releaseTo(index)
}

func (s *diskStorage) close() error {
	err := s.wal.close()
	if s.lock != nil {
		_ = s.lock.Close()
		s.lock = nil
	}
	return err
}
