package commitlog

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// A cleaned segment is written beside the one it replaces and swapped in
// with renames, as Kafka does, so that a crash at any point leaves either
// the old segment or the new one, whole:
//
//  1. <base>.log.cleaned, .index.cleaned and .timeindex.cleaned are
//     written and fsynced.
//  2. The two indexes are renamed to .swap, then the log (the commit
//     point), and the directory is fsynced.
//  3. The indexes' .swap files are renamed over the old indexes, then the
//     log's over the old log (a rename replaces its target atomically),
//     and the directory is fsynced.
//
// An open (completeSwaps) removes every .cleaned file (step 1 did not
// finish: the old segment is whole), and removes index .swap files that
// have no log .swap beside them (step 2 did not finish); a log .swap
// means step 2 finished, and the open finishes step 3. The old files are
// replaced by rename rather than renamed to .deleted first: readers hold
// the old file open (reference-counted), so their bytes stay readable.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// swapCleaned swaps the fsynced .cleaned files of s in for it (steps 2 and
// 3 above) and replaces s in the log by the new segment. It reports false,
// removing the cleaned files, when s left the log meanwhile (retention,
// truncation, close) or no longer holds the size bytes it was cleaned from
// (a follower's truncation).
func (l *Log) swapCleaned(ps plannedSegment) (bool, error) {
	s := ps.s
	l.mu.Lock()
	defer l.mu.Unlock()
	i := -1
	for j, t := range l.segments[:len(l.segments)-1] {
		if t == s {
			i = j
		}
	}
	if l.closed || i < 0 || s.size != ps.size || s.next != ps.next {
		var errs []error
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := l.fs.Remove(s.prefix + suf + cleanedSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return false, errors.Join(errs...)
	}
	for _, suf := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
		if err := l.fs.Rename(s.prefix+suf+cleanedSuffix, s.prefix+suf+swapSuffix); err != nil {
			return false, fmt.Errorf("swap cleaned segment %d: %w", s.base, err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return false, fmt.Errorf("swap cleaned segment %d: %w", s.base, err)
	}
	if err := finishSwap(l.fs, s.prefix); err != nil {
		return false, err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return false, fmt.Errorf("swap cleaned segment %d: %w", s.base, err)
	}
	ns, indexesOK, err := openSegment(l.dir, s.base, false, l.opts)
	if err != nil {
		return false, err
	}
	if err := ns.loadTail(); err != nil || !indexesOK || ns.next != ps.next {
		ns.close()
		return false, fmt.Errorf("cleaned segment %d does not end at offset %d (ends at %d): %v", s.base, ps.next, ns.next, err)
	}
	ns.verified = true
	l.segments[i] = ns
	s.deleted.Store(true)
	if err := s.close(); err != nil {
		l.logger.Warn("closing the segment a cleaned one replaced", "segment", s.prefix+logSuffix, "error", err)
	}
	return true, nil
}

// finishSwap renames the .swap files of the segment at prefix over its
// files, the log last.
func finishSwap(fsys diskfs.FS, prefix string) error {
	for _, suf := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
		err := fsys.Rename(prefix+suf+swapSuffix, prefix+suf)
		if err != nil && !(suf != logSuffix && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("swap cleaned segment %s: %w", prefix+suf, err)
		}
	}
	return nil
}

// completeSwaps finishes or rolls back the swaps a crash interrupted in
// dir (see the steps above): .cleaned files go, a log .swap is renamed in
// with its indexes, index .swap files without one go.
func completeSwaps(fsys diskfs.FS, dir string, logger *slog.Logger) error {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list segments: %w", err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	changed := false
	for name := range names {
		stem, ok := strings.CutSuffix(name, cleanedSuffix)
		if !ok {
			if stem, ok = strings.CutSuffix(name, swapSuffix); !ok {
				continue
			}
		}
		base, suf, ok := ParseSegmentFileName(stem)
		if !ok {
			continue
		}
		prefix := dir + string(os.PathSeparator) + segmentName(base)
		switch {
		case strings.HasSuffix(name, swapSuffix) && suf == logSuffix:
			logger.Warn("finishing the swap of a cleaned segment a crash interrupted", "segment", prefix+logSuffix)
			if err := finishSwap(fsys, prefix); err != nil {
				return err
			}
		case strings.HasSuffix(name, swapSuffix) && names[segmentName(base)+logSuffix+swapSuffix]:
			// Renamed with its log, above.
		default:
			logger.Info("removing a cleaned segment file a crash left before its swap", "file", dir+string(os.PathSeparator)+name)
			if err := fsys.Remove(dir + string(os.PathSeparator) + name); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", name, err)
			}
		}
		changed = true
	}
	if changed {
		return fsys.SyncDir(dir)
	}
	return nil
}
