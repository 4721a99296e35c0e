package commitlog

import (
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

// Store is a broker's data directory: one Log per partition directory, and the
// checkpoints that span them (recovery points, high watermarks, log start
// offsets). Closing it cleanly marks a clean shutdown, so the next open trusts
// the files; after a crash the logs re-read what lies past their recovery points.
type Store struct {
	dir    string
	logger *slog.Logger
	clean  map[string]bool // partition directories the previous run closed cleanly

	mu     sync.Mutex
	logs   map[TopicPartition]*Log
	points map[string]map[TopicPartition]int64 // checkpoint file → values read at open
	closed bool
}

// OpenStore opens (creating) a data directory. It removes the clean-shutdown
// marker before any log is written, so a crash from here on is seen as one.
func OpenStore(dir string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	st := &Store{dir: dir, logger: logger, logs: map[TopicPartition]*Log{}, points: map[string]map[TopicPartition]int64{}, clean: map[string]bool{}}
	marker := filepath.Join(dir, cleanShutdownFile)
	if data, err := os.ReadFile(marker); err == nil {
		for _, name := range strings.Fields(string(data)) {
			st.clean[name] = true
		}
		if err := os.Remove(marker); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open store: %w", err)
	}
	for _, name := range []string{recoveryPointFile, replicationFile, logStartFile} {
		m, err := st.readPoints(name)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		st.points[name] = m
	}
	if _, err := os.Stat(marker); err != nil && len(st.clean) == 0 {
		logger.Info("no clean shutdown recorded; logs past their recovery points will be checked", "dir", dir)
	}
	return st, nil
}

// rebuiltCheckpoints are the checkpoints a store rebuilds when they are
// damaged, with what that costs; the log start offsets are not among them:
// without them records deleted by DeleteRecords or retention would be served
// again, so a damaged one refuses the open.
var rebuiltCheckpoints = map[string]string{
	recoveryPointFile: "every partition is re-read whole and checked, as after a crash",
	replicationFile:   "high watermarks restart at the log start offsets and move up as leaders commit again",
}

// readPoints reads one of the store's offset checkpoints. A damaged one that
// can be rebuilt is moved aside (kept as <name>.corrupt) and read as empty.
func (st *Store) readPoints(name string) (map[TopicPartition]int64, error) {
	path := filepath.Join(st.dir, name)
	m, err := readOffsetCheckpoint(path)
	if err == nil || !errors.Is(err, errCorruptCheckpoint) {
		return m, err
	}
	effect, ok := rebuiltCheckpoints[name]
	if !ok {
		return nil, fmt.Errorf("%w; it records where each partition's log starts after DeleteRecords and retention; restore it from a backup, or move it aside to accept that deleted records are served again", err)
	}
	aside, merr := moveAside(path)
	if merr != nil {
		return nil, fmt.Errorf("%w (%v)", err, merr)
	}
	st.logger.Error("checkpoint is damaged: moved aside and rebuilt", "file", path, "moved_to", aside, "error", err, "effect", effect)
	return map[TopicPartition]int64{}, nil
}

// Dir returns the data directory.
func (st *Store) Dir() string { return st.dir }

// Partitions lists the partition directories present on disk.
func (st *Store) Partitions() ([]TopicPartition, error) {
	ents, err := os.ReadDir(st.dir)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	var out []TopicPartition
	for _, e := range ents {
		if tp, ok := parsePartitionDir(e.Name()); ok && e.IsDir() {
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

func parsePartitionDir(name string) (TopicPartition, bool) {
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
// its checkpoints. Opening an open partition returns the same Log.
func (st *Store) Open(tp TopicPartition, opts Options) (*Log, error) {
	if err := tp.Validate(); err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil, ErrClosed
	}
	if l, ok := st.logs[tp]; ok {
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
	l, err := Open(filepath.Join(st.dir, tp.String()), opts)
	if err != nil {
		return nil, err
	}
	st.logs[tp] = l
	return l, nil
}

// Log returns the open log of tp, if any.
func (st *Store) Log(tp TopicPartition) (*Log, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	l, ok := st.logs[tp]
	return l, ok
}

// Delete closes tp's log and removes its directory (topic deletion).
func (st *Store) Delete(tp TopicPartition) error {
	if err := tp.Validate(); err != nil {
		return err
	}
	st.mu.Lock()
	l := st.logs[tp]
	delete(st.logs, tp)
	for _, m := range st.points {
		delete(m, tp)
	}
	st.mu.Unlock()
	if l != nil {
		if err := l.Close(); err != nil {
			st.logger.Warn("closing deleted partition", "partition", tp.String(), "error", err)
		}
	}
	if err := os.RemoveAll(filepath.Join(st.dir, tp.String())); err != nil {
		return fmt.Errorf("delete partition %s: %w", tp, err)
	}
	if err := syncDir(st.dir); err != nil {
		return err
	}
	return st.Checkpoint()
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
		if err := writeOffsetCheckpoint(filepath.Join(st.dir, name), m); err != nil {
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
	defer st.mu.Unlock()
	if st.closed {
		return nil
	}
	st.closed = true
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
		if err := WriteFileAtomic(filepath.Join(st.dir, cleanShutdownFile), data); err != nil {
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

func writeOffsetCheckpoint(path string, m map[TopicPartition]int64) error {
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
	return writeCheckpoint(path, rows)
}
