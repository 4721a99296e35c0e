package commitlog

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// Files of a data directory shared by all its partition logs.
const (
	recoveryPointFile = "recovery-point-offset-checkpoint"
	replicationFile   = "replication-offset-checkpoint"
	logStartFile      = "log-start-offset-checkpoint"
	cleanShutdownFile = ".clean-shutdown"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String gives the partition's directory name, <topic>-<partition>.
func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

var topicNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// ErrBadTopicPartition means a topic name or partition number is not one Kafka
// allows. Fix the name: [a-zA-Z0-9._-], 1 to 249 characters, not "." or "..".
var ErrBadTopicPartition = errors.New("invalid topic or partition")

// Validate reports whether tp can name a partition directory.
func (tp TopicPartition) Validate() error {
	if !topicNameRE.MatchString(tp.Topic) || tp.Topic == "." || tp.Topic == ".." || tp.Partition < 0 {
		return fmt.Errorf("%w: %q partition %d", ErrBadTopicPartition, tp.Topic, tp.Partition)
	}
	return nil
}

// Suffixes of partition directories moved aside, after Kafka's: a removed
// partition's directory is renamed <topic>-<partition>.<random hex>-delete and
// removed after StoreOptions.FileDeleteDelay; one set aside for an operator to
// look at is renamed ...-stray and never removed. Neither is a partition
// directory any more (Partitions skips them).
const (
	deleteDirSuffix = "-delete"
	strayDirSuffix  = "-stray"
)

// DefaultFileDeleteDelay is Kafka's file.delete.delay.ms.
const DefaultFileDeleteDelay = time.Minute

// StoreOptions tune a Store. Zero values take the defaults.
type StoreOptions struct {
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// FileDeleteDelay is file.delete.delay.ms: how long the directory of a
	// deleted partition stays, renamed aside, before it is removed (default
	// DefaultFileDeleteDelay). Directories left renamed by an earlier run are
	// removed this long after the store opens.
	FileDeleteDelay time.Duration
	// FS changes the data directory's files: its checkpoints and, unless
	// their Options name another, the partition logs' (diskfs.OS if nil).
	FS diskfs.FS
}

// Store is a broker's data directory: one Log per partition directory, and the
// checkpoints that span them (recovery points, high watermarks, log start
// offsets). Closing it cleanly marks a clean shutdown, so the next open trusts
// the files; after a crash the logs re-read what lies past their recovery points.
//
// Deleting a partition renames its directory aside at once and removes it
// after FileDeleteDelay, on a goroutine the Store owns (Close stops it; what
// is still waiting is removed after the next open's delay).
type Store struct {
	dir    string
	fs     diskfs.FS
	logger *slog.Logger
	clean  map[string]bool // partition directories the previous run closed cleanly
	delay  time.Duration

	mu      sync.Mutex
	logs    map[TopicPartition]*Log
	opening map[TopicPartition]chan struct{}    // closed when the open ends
	points  map[string]map[TopicPartition]int64 // checkpoint file → values read at open
	pending map[string]time.Time                // renamed-aside directory → when to remove it
	closed  bool

	wake chan struct{} // buffered 1: pending changed
	stop chan struct{}
	done chan struct{} // closed when the remover goroutine has exited
}

// OpenStore opens (creating) a data directory with the default options.
func OpenStore(dir string, logger *slog.Logger) (*Store, error) {
	return OpenStoreWith(dir, StoreOptions{Logger: logger})
}

// OpenStoreWith opens (creating) a data directory. It removes the
// clean-shutdown marker before any log is written, so a crash from here on is
// seen as one. A damaged log start checkpoint refuses the open before
// anything in the directory is changed.
func OpenStoreWith(dir string, opts StoreOptions) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if opts.FileDeleteDelay < 0 {
		return nil, fmt.Errorf("open store: file delete delay %v must not be negative", opts.FileDeleteDelay)
	}
	if opts.FileDeleteDelay == 0 {
		opts.FileDeleteDelay = DefaultFileDeleteDelay
	}
	if opts.FS == nil {
		opts.FS = diskfs.OS{}
	}
	if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	st := &Store{dir: dir, fs: opts.FS, logger: logger, logs: map[TopicPartition]*Log{}, opening: map[TopicPartition]chan struct{}{}, points: map[string]map[TopicPartition]int64{}, clean: map[string]bool{},
		delay: opts.FileDeleteDelay, pending: map[string]time.Time{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	// The checkpoints are read before anything is changed: a damaged one
	// that refuses the open leaves the directory as it was, clean-shutdown
	// marker included, for the next open after the repair.
	if err := st.readAllPoints(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	marker := filepath.Join(dir, cleanShutdownFile)
	markerFound := false
	if data, err := os.ReadFile(marker); err == nil {
		markerFound = true
		for _, name := range strings.Fields(string(data)) {
			st.clean[name] = true
		}
		if err := st.fs.Remove(marker); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		if err := st.fs.SyncDir(dir); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if !markerFound {
		used, err := st.hasEarlierRun()
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		if used {
			logger.Info("no clean shutdown recorded; logs past their recovery points will be checked", "dir", dir)
		}
	}
	ents, err := st.fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasSuffix(e.Name(), deleteDirSuffix) {
			st.pending[e.Name()] = time.Now().Add(st.delay)
		}
	}
	go st.runRemover()
	return st, nil
}

// hasEarlierRun reports whether an earlier run left state in the directory:
// a checkpoint or a partition directory. A brand-new directory has neither,
// so its missing clean-shutdown marker says nothing about a crash.
func (st *Store) hasEarlierRun() (bool, error) {
	for _, name := range []string{recoveryPointFile, replicationFile, logStartFile} {
		if _, err := os.Stat(filepath.Join(st.dir, name)); err == nil {
			return true, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	tps, err := ListPartitions(st.dir)
	return len(tps) > 0, err
}

// rebuiltCheckpoints are the checkpoints a store rebuilds when they are
// damaged, with what that costs; the log start offsets are not among them:
// without them records deleted by DeleteRecords or retention would be served
// again, so a damaged one refuses the open.
var rebuiltCheckpoints = map[string]string{
	recoveryPointFile: "every partition is re-read whole and checked, as after a crash",
	replicationFile:   "high watermarks restart at the log start offsets and move up as leaders commit again",
}

// readAllPoints reads the store's offset checkpoints. A damaged one that
// can be rebuilt is moved aside (kept as <name>.corrupt) and read as empty,
// but only once none of them refuses the open: a refusal changes nothing.
func (st *Store) readAllPoints() error {
	damaged := map[string]error{}
	for _, name := range []string{recoveryPointFile, replicationFile, logStartFile} {
		m, err := readOffsetCheckpoint(filepath.Join(st.dir, name))
		switch {
		case err == nil:
			st.points[name] = m
			continue
		case !errors.Is(err, errCorruptCheckpoint):
			return err
		}
		if _, ok := rebuiltCheckpoints[name]; !ok {
			return fmt.Errorf("%w; it records where each partition's log starts after DeleteRecords and retention; restore it from a backup, or move it aside to accept that deleted records are served again", err)
		}
		damaged[name] = err
	}
	for name, err := range damaged {
		path := filepath.Join(st.dir, name)
		aside, merr := moveAside(st.fs, path)
		if merr != nil {
			return fmt.Errorf("%w (%v)", err, merr)
		}
		st.logger.Error("checkpoint is damaged: moved aside and rebuilt", "file", path, "moved_to", aside, "error", err, "effect", rebuiltCheckpoints[name])
		st.points[name] = map[TopicPartition]int64{}
	}
	return nil
}

// Dir returns the data directory.
func (st *Store) Dir() string { return st.dir }

// Partitions lists the partition directories present on disk (not those
// renamed aside).
func (st *Store) Partitions() ([]TopicPartition, error) { return ListPartitions(st.dir) }

// ListPartitions lists the partition directories in a data directory, sorted.
// Directories renamed aside (deleted, stray) are not partitions.
func ListPartitions(dir string) ([]TopicPartition, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	var out []TopicPartition
	for _, e := range ents {
		if tp, ok := ParsePartitionDir(e.Name()); ok && e.IsDir() {
			out = append(out, tp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

// ParsePartitionDir reads a partition directory's name, <topic>-<partition>.
// A directory renamed aside (<topic>-<partition>.<hex>-delete or -stray) does
// not parse: its name does not end in a partition number.
func ParsePartitionDir(name string) (TopicPartition, bool) {
	if strings.HasSuffix(name, deleteDirSuffix) || strings.HasSuffix(name, strayDirSuffix) {
		return TopicPartition{}, false
	}
	i := len(name) - 1
	for i >= 0 && name[i] != '-' {
		i--
	}
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	tp := TopicPartition{Topic: name[:i], Partition: int32(p)}
	if err != nil || tp.Validate() != nil || tp.String() != name {
		return TopicPartition{}, false
	}
	return tp, true
}

// Open opens (creating) the log of tp with opts; the store fills in the
// recovery point, clean-shutdown flag, log start offset and high watermark from
// its checkpoints. Opening an open partition returns the same Log. The open
// itself (recovery may read the whole log) runs outside the store's lock:
// checkpoints and other partitions do not wait for it, and a second Open of
// the same partition meanwhile waits for the first.
func (st *Store) Open(tp TopicPartition, opts Options) (*Log, error) {
	if err := tp.Validate(); err != nil {
		return nil, err
	}
	st.mu.Lock()
	st.waitOpenLocked(tp)
	if st.closed {
		st.mu.Unlock()
		return nil, ErrClosed
	}
	if l, ok := st.logs[tp]; ok {
		st.mu.Unlock()
		return l, nil
	}
	opts.RecoveryPoint = st.points[recoveryPointFile][tp]
	_, checkpointed := st.points[recoveryPointFile][tp]
	opts.CleanShutdown = st.clean[tp.String()] && checkpointed
	opts.LogStartOffset = st.points[logStartFile][tp]
	opts.HighWatermark = st.points[replicationFile][tp]
	if opts.Logger == nil {
		opts.Logger = st.logger.With("partition", tp.String())
	}
	if opts.FS == nil {
		opts.FS = st.fs
	}
	done := make(chan struct{})
	st.opening[tp] = done
	st.mu.Unlock()

	l, err := Open(filepath.Join(st.dir, tp.String()), opts)

	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.opening, tp)
	close(done)
	if err != nil {
		return nil, err
	}
	if st.closed {
		// Closed meanwhile: the log was not among those Close closed.
		if cerr := l.Close(); cerr != nil {
			st.logger.Warn("closing a log opened while the store closed", "partition", tp.String(), "error", cerr)
		}
		return nil, ErrClosed
	}
	st.logs[tp] = l
	return l, nil
}

// waitOpenLocked returns once no Open of tp is under way, releasing st.mu
// while it waits.
func (st *Store) waitOpenLocked(tp TopicPartition) {
	for ch, ok := st.opening[tp]; ok; ch, ok = st.opening[tp] {
		st.mu.Unlock()
		<-ch
		st.mu.Lock()
	}
}

// Log returns the open log of tp, if any.
func (st *Store) Log(tp TopicPartition) (*Log, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	l, ok := st.logs[tp]
	return l, ok
}

// Delete closes tp's log and renames its directory aside, to be removed after
// the store's FileDeleteDelay (Kafka's asynchronous delete): the topic was
// deleted, the partition moved away, or the directory belongs to an older
// topic of the same name. It returns the new name ("" if tp had no
// directory).
func (st *Store) Delete(tp TopicPartition) (string, error) {
	name, err := st.moveAside(tp, deleteDirSuffix)
	if err != nil || name == "" {
		return name, err
	}
	st.mu.Lock()
	st.pending[name] = time.Now().Add(st.delay)
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
	return name, nil
}

// SetAside closes tp's log and renames its directory to
// <topic>-<partition>.<hex>-stray, where it stays, untouched, until an
// operator removes it. It returns the new name ("" if tp had no directory).
func (st *Store) SetAside(tp TopicPartition) (string, error) {
	return st.moveAside(tp, strayDirSuffix)
}

// moveAside closes tp's log, forgets its checkpoints (a later partition of the
// same name starts afresh) and renames its directory <tp>.<random hex><suffix>.
func (st *Store) moveAside(tp TopicPartition, suffix string) (string, error) {
	if err := tp.Validate(); err != nil {
		return "", err
	}
	st.mu.Lock()
	st.waitOpenLocked(tp) // its directory is not renamed under an open
	l := st.logs[tp]
	delete(st.logs, tp)
	for _, m := range st.points {
		delete(m, tp)
	}
	st.mu.Unlock()
	if l != nil {
		if err := l.Close(); err != nil {
			st.logger.Warn("closing partition moved aside", "partition", tp.String(), "error", err)
		}
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("move partition %s aside: %w", tp, err)
	}
	name := tp.String() + "." + hex.EncodeToString(id[:]) + suffix
	if err := st.fs.Rename(filepath.Join(st.dir, tp.String()), filepath.Join(st.dir, name)); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("move partition %s aside: %w", tp, err)
		}
		name = ""
	} else if err := st.fs.SyncDir(st.dir); err != nil {
		return "", err
	}
	return name, st.Checkpoint()
}

// runRemover removes renamed-aside directories when their delay is over, until
// Close.
func (st *Store) runRemover() {
	defer close(st.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if next := st.removeDue(time.Now()); !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-st.stop:
			timer.Stop()
			return
		case <-st.wake:
		case <-timer.C:
		}
	}
}

// removeDue removes the directories whose time has come and returns when the
// next one is due (zero if none waits). A directory that cannot be removed is
// tried again after another delay.
func (st *Store) removeDue(now time.Time) time.Time {
	st.mu.Lock()
	var due []string
	for name, at := range st.pending {
		if !at.After(now) {
			due = append(due, name)
			delete(st.pending, name)
		}
	}
	st.mu.Unlock()
	for _, name := range due {
		if err := st.fs.RemoveAll(filepath.Join(st.dir, name)); err != nil {
			st.logger.Error("remove deleted partition directory; trying again later", "dir", name, "error", err)
			st.mu.Lock()
			st.pending[name] = now.Add(st.delay)
			st.mu.Unlock()
			continue
		}
		st.logger.Info("removed deleted partition directory", "dir", name)
	}
	if len(due) > 0 {
		if err := st.fs.SyncDir(st.dir); err != nil {
			st.logger.Warn("sync data directory after removals", "error", err)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var next time.Time
	for _, at := range st.pending {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// HoldsData reports whether a partition directory holds record data: a
// segment file (any file whose name has ".log" in it) that is not empty.
// Indexes, the identity file and checkpoints alone are not data.
func HoldsData(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for data in %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.Contains(e.Name(), ".log") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return false, fmt.Errorf("look for data in %s: %w", dir, err)
		}
		if info.Size() > 0 {
			return true, nil
		}
	}
	return false, nil
}

// Checkpoint writes the recovery points, high watermarks and log start offsets
// of every open log. A broker calls it periodically and after DeleteRecords.
func (st *Store) Checkpoint() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.checkpointLocked()
}

func (st *Store) checkpointLocked() error {
	for tp, l := range st.logs {
		o := l.Offsets()
		st.points[recoveryPointFile][tp] = o.RecoveryPoint
		st.points[replicationFile][tp] = o.HighWatermark
		st.points[logStartFile][tp] = o.LogStart
	}
	for name, m := range st.points {
		if err := writeOffsetCheckpoint(st.fs, filepath.Join(st.dir, name), m); err != nil {
			return err
		}
	}
	return nil
}

// ApplyRetention runs DeleteExpired on every open log and returns how many
// segments went.
func (st *Store) ApplyRetention() (int, error) {
	st.mu.Lock()
	logs := make([]*Log, 0, len(st.logs))
	for _, l := range st.logs {
		logs = append(logs, l)
	}
	st.mu.Unlock()
	total := 0
	var errs []error
	for _, l := range logs {
		n, err := l.DeleteExpired()
		total += n
		if err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// Close closes every log, writes the checkpoints and, when all of that
// succeeded, the clean-shutdown marker.
func (st *Store) Close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.closed = true
	st.mu.Unlock()
	// The remover takes mu while it works: stop it before taking mu for good.
	close(st.stop)
	<-st.done
	st.mu.Lock()
	defer st.mu.Unlock()
	var errs []error
	var cleanNames []string
	for tp, l := range st.logs {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
			continue
		}
		cleanNames = append(cleanNames, tp.String())
	}
	if err := st.checkpointLocked(); err != nil {
		errs = append(errs, err)
	} else {
		// Only partitions closed by this run are known clean; others keep
		// whatever state an earlier run left.
		sort.Strings(cleanNames)
		data := []byte(strings.Join(cleanNames, "\n") + "\n")
		if err := diskfs.WriteFileAtomic(st.fs, filepath.Join(st.dir, cleanShutdownFile), data, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func readOffsetCheckpoint(path string) (map[TopicPartition]int64, error) {
	rows, err := readCheckpoint(path, 3)
	if err != nil {
		return nil, err
	}
	m := make(map[TopicPartition]int64, len(rows))
	for _, r := range rows {
		p, err1 := strconv.ParseInt(r[1], 10, 32)
		o, err2 := strconv.ParseInt(r[2], 10, 64)
		if err1 != nil || err2 != nil || o < 0 {
			return nil, fmt.Errorf("%w %s: bad entry %q", errCorruptCheckpoint, path, r)
		}
		m[TopicPartition{r[0], int32(p)}] = o
	}
	return m, nil
}

func writeOffsetCheckpoint(fsys diskfs.FS, path string, m map[TopicPartition]int64) error {
	rows := make([][]string, 0, len(m))
	for tp, o := range m {
		rows = append(rows, []string{tp.Topic, strconv.Itoa(int(tp.Partition)), strconv.FormatInt(o, 10)})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i][0] != rows[j][0] {
			return rows[i][0] < rows[j][0]
		}
		return rows[i][1] < rows[j][1]
	})
	return writeCheckpoint(fsys, path, rows)
}
