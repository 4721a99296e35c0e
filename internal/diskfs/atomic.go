package diskfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// TempSuffix is added to a path for the temporary file WriteFileAtomic
// writes first. A leftover <path>.tmp is an interrupted write: the store
// that owns path may remove it.
const TempSuffix = ".tmp"

// WriteFileAtomic replaces path with data, whole, through fsys: it writes
// <path>.tmp (created with perm), fsyncs it, renames it over path and fsyncs
// the directory, so that after a crash path holds either its old contents
// or data, never a part of either. On failure the temporary file is removed
// (when it still can be) and path is as it was, unless only the directory's
// fsync failed: then path holds data but the rename may not survive a
// crash.
func WriteFileAtomic(fsys FS, path string, data []byte, perm os.FileMode) error {
	tmp := path + TempSuffix
	if err := writeSynced(fsys, tmp, data, perm); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return fsys.SyncDir(filepath.Dir(path))
}

// writeSynced creates (or truncates) path holding data and fsyncs it.
func writeSynced(fsys FS, path string, data []byte, perm os.FileMode) error {
	f, err := fsys.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err := fsys.WriteAt(f, [][]byte{data}, 0); err != nil {
			f.Close()
			return err
		}
	}
	if err := fsys.Sync(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
