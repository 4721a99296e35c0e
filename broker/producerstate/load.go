package producerstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// corruptSuffix is added to the name of a damaged snapshot moved aside.
const corruptSuffix = ".corrupt"

// errStopScan ends a log scan at the replay limit.
var errStopScan = errors.New("replay limit reached")

// ctxCheckEvery is how many batch headers a replay reads between checks of
// its context.
const ctxCheckEvery = 4096

// Load returns the producer state of the partition whose directory is dir and
// whose log is log, when the partition is opened (after the log's own
// recovery). It reads the latest snapshot at or below the log end offset and
// replays the headers of the log's batches from there to the end; with no
// usable snapshot it replays the whole log. Snapshots above the log end
// describe batches the log no longer holds and are deleted; a damaged
// snapshot is logged, moved aside (renamed <name>.corrupt, kept for
// inspection) and the next older one tried. Producers whose
// last batch is below the log start offset, or that have expired, are left
// out.
//
// The Manager keeps log to rebuild state in TruncateTo.
func Load(ctx context.Context, dir string, log HeaderScanner, opts Options) (*Manager, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("load producer state %s: %w", dir, err)
	}
	m := &Manager{dir: dir, log: log, opts: opts.withDefaults(), producers: map[int64]*entry{}}
	if err := m.rebuild(ctx, log.Offsets().LogEnd); err != nil {
		return nil, fmt.Errorf("load producer state %s: %w", dir, err)
	}
	return m, nil
}

// rebuild replaces the state with the one the log's batches below limit (and
// the log end) give: from the latest usable snapshot at or below that point,
// then replayed from the log.
func (m *Manager) rebuild(ctx context.Context, limit int64) error {
	start := time.Now()
	offs := m.log.Offsets()
	limit = min(limit, offs.LogEnd)
	snaps, err := listSnapshots(m.opts.FS, m.dir)
	if err != nil {
		return err
	}
	producers := map[int64]*entry{}
	from, snapshot := offs.LogStart, int64(-1)
	removed := false
	for i := len(snaps) - 1; i >= 0 && snapshot < 0; i-- {
		off := snaps[i]
		if off <= limit {
			ps, err := readSnapshot(m.dir, off)
			if err == nil {
				producers, from, snapshot = ps, off, off
				continue
			}
			if !errors.Is(err, ErrCorruptSnapshot) {
				return err
			}
			// Derived data: rebuilt from the log; the file is kept aside
			// for inspection.
			path := snapshotPath(m.dir, off)
			if err := m.opts.FS.Rename(path, path+corruptSuffix); err != nil {
				return fmt.Errorf("move damaged producer snapshot aside: %w", err)
			}
			m.opts.Logger.Warn("damaged producer snapshot moved aside; the state is rebuilt from the log", "file", path,
				"moved_to", path+corruptSuffix, "error", err)
		} else if err := removeFile(m.opts.FS, snapshotPath(m.dir, off)); err != nil {
			return err // above the log end: it describes batches the log no longer holds
		}
		removed = true
	}
	if removed {
		if err := m.opts.FS.SyncDir(m.dir); err != nil {
			return err
		}
	}

	end, scanned := from, 0
	err = m.log.ScanHeaders(from, func(h recordbatch.Header) error {
		if scanned++; scanned%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		next := h.NextOffset()
		if next <= from {
			return nil // already in the snapshot
		}
		if next > limit {
			return errStopScan
		}
		end = applyTo(producers, &h, h.BaseOffset)
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return fmt.Errorf("replay log from %d: %w", from, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	nowMs := m.opts.Now().UnixMilli()
	dropped := 0
	for id, e := range producers {
		if e.lastOffset < offs.LogStart || m.expired(e, nowMs) {
			delete(producers, id)
			dropped++
		}
	}
	m.mu.Lock()
	m.producers, m.mapEnd = producers, end
	m.mu.Unlock()
	m.opts.Logger.Info("loaded producer state", "dir", m.dir, "snapshot", snapshot, "replayed_from", from,
		"replayed_to", end, "scanned", scanned, "producers", len(producers), "dropped", dropped,
		"took", time.Since(start))
	return nil
}
