package raftnode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// Snapshot file layout, little endian: magic "RNLSNAP1", crc32c uint32 of the
// payload, payload length uint64, payload (protobuf raftpb.Snapshot).
const (
	snapMagic     = "RNLSNAP1"
	snapHeaderLen = 8 + 4 + 8
	snapKeep      = 2 // newest snapshot files kept; older ones are deleted
)

var errCorruptSnapshot = errors.New("corrupt snapshot file")

// snapStore keeps snapshot files <term>-<index>.snap in one directory.
type snapStore struct {
	fs     diskfs.FS
	dir    string
	logger *slog.Logger
}

func snapName(term, index uint64) string { return fmt.Sprintf("%016x-%016x.snap", term, index) }

func newSnapStore(fsys diskfs.FS, dir string, logger *slog.Logger) (*snapStore, error) {
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snap: create dir: %w", err)
	}
	s := &snapStore{fs: fsys, dir: dir, logger: logger}
	des, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snap: list dir: %w", err)
	}
	for _, de := range des {
		if strings.HasSuffix(de.Name(), diskfs.TempSuffix) {
			_ = fsys.Remove(filepath.Join(dir, de.Name()))
		}
	}
	return s, nil
}

func encodeSnapshotFile(snap *pb.Snapshot) []byte {
	payload := mustMarshal(snap)
	b := make([]byte, snapHeaderLen, snapHeaderLen+len(payload))
	copy(b, snapMagic)
	binary.LittleEndian.PutUint32(b[8:12], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint64(b[12:20], uint64(len(payload)))
	return append(b, payload...)
}

// decodeSnapshotFile decodes a snapshot file; on error it also returns the
// byte offset of the part found bad.
func decodeSnapshotFile(b []byte) (*pb.Snapshot, int64, error) {
	if len(b) < snapHeaderLen || string(b[:8]) != snapMagic {
		return nil, 0, fmt.Errorf("%w: bad header", errCorruptSnapshot)
	}
	n := binary.LittleEndian.Uint64(b[12:20])
	if n != uint64(len(b)-snapHeaderLen) {
		return nil, 12, fmt.Errorf("%w: length %d, file holds %d", errCorruptSnapshot, n, len(b)-snapHeaderLen)
	}
	payload := b[snapHeaderLen:]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[8:12]) {
		return nil, snapHeaderLen, fmt.Errorf("%w: checksum mismatch", errCorruptSnapshot)
	}
	snap := &pb.Snapshot{}
	if err := proto.Unmarshal(payload, snap); err != nil {
		return nil, snapHeaderLen, fmt.Errorf("%w: %v", errCorruptSnapshot, err)
	}
	if snap.GetMetadata().GetIndex() == 0 {
		return nil, snapHeaderLen, fmt.Errorf("%w: index 0", errCorruptSnapshot)
	}
	return snap, 0, nil
}

// save writes snap whole (diskfs.WriteFileAtomic: temp file, fsync, rename,
// fsync dir). Older files beyond the newest snapKeep are deleted afterwards.
func (s *snapStore) save(snap *pb.Snapshot) error {
	md := snap.GetMetadata()
	path := filepath.Join(s.dir, snapName(md.GetTerm(), md.GetIndex()))
	if err := diskfs.WriteFileAtomic(s.fs, path, encodeSnapshotFile(snap), 0o644); err != nil {
		return fmt.Errorf("snap: %w", err)
	}
	s.purge()
	return nil
}

// names returns the snapshot file names, newest (highest index) first.
func (s *snapStore) names() ([]string, error) {
	des, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snap: list dir: %w", err)
	}
	type item struct {
		name        string
		term, index uint64
	}
	var items []item
	for _, de := range des {
		var term, index uint64
		if _, err := fmt.Sscanf(de.Name(), "%016x-%016x.snap", &term, &index); err != nil || snapName(term, index) != de.Name() {
			continue
		}
		items = append(items, item{de.Name(), term, index})
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].index != items[j].index {
			return items[i].index > items[j].index
		}
		return items[i].term > items[j].term
	})
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.name
	}
	return out, nil
}

// damagedSnapshot is a snapshot file that did not load.
type damagedSnapshot struct {
	path   string
	offset int64 // where decoding failed
	err    error
}

// loadNewest returns the newest snapshot whose file is whole (nil if there is
// none) and the newer files that are damaged. Nothing is renamed here: the
// caller decides whether an older snapshot will do (setAside) or the node
// must refuse to start.
func (s *snapStore) loadNewest() (*pb.Snapshot, []damagedSnapshot, error) {
	names, err := s.names()
	if err != nil {
		return nil, nil, err
	}
	var damaged []damagedSnapshot
	for _, name := range names {
		path := filepath.Join(s.dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("snap: read %s: %w", name, err)
		}
		snap, off, err := decodeSnapshotFile(b)
		if err != nil {
			damaged = append(damaged, damagedSnapshot{path: path, offset: off, err: err})
			continue
		}
		return snap, damaged, nil
	}
	return nil, damaged, nil
}

// setAside renames damaged snapshot files to *.broken, once an older
// snapshot and the WAL were found to cover what they held, so that they are
// kept but no longer tried.
func (s *snapStore) setAside(damaged []damagedSnapshot) {
	for _, d := range damaged {
		s.logger.Error("snap: damaged snapshot file set aside; an older snapshot and the WAL hold its state", "file", d.path, "offset", d.offset, "err", d.err)
		if err := s.fs.Rename(d.path, d.path+".broken"); err != nil {
			s.logger.Warn("snap: set aside damaged snapshot", "file", d.path, "err", err)
		}
	}
}

func (s *snapStore) purge() {
	names, err := s.names()
	if err != nil {
		s.logger.Warn("snap: purge", "err", err)
		return
	}
	for i := snapKeep; i < len(names); i++ {
		if err := s.fs.Remove(filepath.Join(s.dir, names[i])); err != nil {
			s.logger.Warn("snap: delete old snapshot", "file", names[i], "err", err)
		}
	}
}
