package tiering

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DirStore is a Store kept in a local directory, one file per object at the
// key's path (so a key cannot also be the directory of other keys, as "a"
// and "a/b"). It is meant for single-node use (`runnel dev --tier-dir`) and
// for tests. Puts are atomic and create-only: the bytes are written to a
// temporary file under <root>/.tmp, fsynced, and hard-linked to the final
// name, which fails if the name is taken; the directory is fsynced after.
type DirStore struct {
	root string
	tmp  string
}

// staleTempAge is how old a leftover temporary file (from a Put that died
// with its process) must be before OpenDir removes it.
const staleTempAge = 24 * time.Hour

// OpenDir opens (creating if needed) a DirStore rooted at dir.
func OpenDir(dir string) (*DirStore, error) {
	if dir == "" {
		return nil, errors.New("tiering: directory store needs a directory")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("tiering: directory store %q: %w", dir, err)
	}
	s := &DirStore{root: root, tmp: filepath.Join(root, ".tmp")}
	if err := os.MkdirAll(s.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("tiering: directory store: %w", err)
	}
	s.removeStaleTemps()
	return s, nil
}

// Root returns the store's directory.
func (s *DirStore) Root() string { return s.root }

// Path returns the file that holds key's object. It exists for tests and
// tools that need to look behind the store; the file starts with a header.
func (s *DirStore) Path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

func (s *DirStore) removeStaleTemps() {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && time.Since(info.ModTime()) > staleTempAge {
			_ = os.Remove(filepath.Join(s.tmp, e.Name()))
		}
	}
}

// Put implements Store.
func (s *DirStore) Put(ctx context.Context, key string, body io.ReaderAt, size int64) (ObjectInfo, error) {
	info, err := s.put(ctx, key, body, size)
	return info, opErr("put", key, err)
}

func (s *DirStore) put(ctx context.Context, key string, body io.ReaderAt, size int64) (ObjectInfo, error) {
	final, err := s.Path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	if size < 0 {
		return ObjectInfo{}, fmt.Errorf("negative size %d", size)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	if _, err := os.Lstat(final); err == nil {
		return ObjectInfo{}, ErrExists
	}
	tmp, hdr, err := s.writeTemp(ctx, body, size)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer os.Remove(tmp)
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	if err := s.link(tmp, final); err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: size, CRC32C: hdr.crc, ModTime: time.Unix(0, hdr.unixNano)}, nil
}

// writeTemp writes header and body to a new temporary file and fsyncs it.
func (s *DirStore) writeTemp(ctx context.Context, body io.ReaderAt, size int64) (path string, hdr dirHeader, err error) {
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return "", dirHeader{}, err
	}
	path = f.Name()
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := f.Seek(dirHeaderLen, io.SeekStart); err != nil {
		return path, dirHeader{}, err
	}
	h := newCRCWriter(f)
	if _, err := copyCtx(ctx, h, io.NewSectionReader(body, 0, size), size); err != nil {
		return path, dirHeader{}, err
	}
	hdr = dirHeader{size: size, crc: h.sum(), unixNano: time.Now().UnixNano()}
	if _, err := f.WriteAt(hdr.marshal(), 0); err != nil {
		return path, dirHeader{}, err
	}
	if err := f.Sync(); err != nil {
		return path, dirHeader{}, err
	}
	return path, hdr, nil
}

// link publishes tmp as final without ever replacing an existing file, then
// makes the new name durable. A concurrent Delete may remove an emptied
// parent directory between MkdirAll and Link; that is retried.
func (s *DirStore) link(tmp, final string) error {
	dir := filepath.Dir(final)
	for attempt := 0; ; attempt++ {
		if err := s.mkdirAll(dir); err != nil {
			return err
		}
		err := os.Link(tmp, final)
		switch {
		case err == nil:
			return syncDir(dir)
		case errors.Is(err, fs.ErrExist):
			if fi, serr := os.Lstat(final); serr == nil && fi.IsDir() {
				return fmt.Errorf("%w: the key is a directory of other keys in this store", ErrExists)
			}
			return ErrExists
		case errors.Is(err, fs.ErrNotExist) && attempt < 3:
			continue
		default:
			return err
		}
	}
}

// mkdirAll creates dir and its missing parents below root, fsyncing each
// parent whose entries changed.
func (s *DirStore) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%w: a parent of the key is an object in this store", ErrInvalidKey)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != s.root {
		if err := s.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		if errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("%w: a parent of the key is an object in this store", ErrInvalidKey)
		}
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// open opens key's file (never through a symlink) and checks its header.
func (s *DirStore) open(key string) (*os.File, dirHeader, error) {
	path, err := s.Path(key)
	if err != nil {
		return nil, dirHeader{}, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, dirHeader{}, ErrNotFound
		}
		if errors.Is(err, syscall.ELOOP) {
			return nil, dirHeader{}, fmt.Errorf("%w: %s is a symlink, refused", ErrNotFound, path)
		}
		return nil, dirHeader{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, dirHeader{}, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, dirHeader{}, ErrNotFound
	}
	b := make([]byte, dirHeaderLen)
	if _, err := io.ReadFull(f, b); err != nil {
		f.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, dirHeader{}, fmt.Errorf("%w: %w: file of %d bytes", ErrChecksum, errBadHeader, fi.Size())
		}
		return nil, dirHeader{}, err
	}
	h, err := parseDirHeader(b, fi.Size())
	if err != nil {
		f.Close()
		return nil, dirHeader{}, err
	}
	return f, h, nil
}

// Stat implements Store.
func (s *DirStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, opErr("stat", key, err)
	}
	f, h, err := s.open(key)
	if err != nil {
		return ObjectInfo{}, opErr("stat", key, err)
	}
	f.Close()
	return ObjectInfo{Key: key, Size: h.size, CRC32C: h.crc, ModTime: time.Unix(0, h.unixNano)}, nil
}

// Get implements Store.
func (s *DirStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, opErr("get", key, err)
	}
	f, h, err := s.open(key)
	if err != nil {
		return nil, opErr("get", key, err)
	}
	n, err := clampRange(off, length, h.size)
	if err != nil {
		f.Close()
		return nil, opErr("get", key, err)
	}
	sec := &fileSection{SectionReader: io.NewSectionReader(f, dirHeaderLen+off, n), f: f}
	if off == 0 && n == h.size {
		return newVerifyReader(ctx, sec, key, h.size, h.crc), nil
	}
	return &ctxReader{ctx: ctx, rc: sec, key: key}, nil
}

// clampRange checks a requested range against an object of size bytes and
// returns how many bytes the read covers.
func clampRange(off, length, size int64) (int64, error) {
	if off < 0 || off > size {
		return 0, fmt.Errorf("%w: offset %d of a %d-byte object", ErrInvalidRange, off, size)
	}
	if length < -1 {
		return 0, fmt.Errorf("%w: length %d", ErrInvalidRange, length)
	}
	if length == -1 || off+length > size {
		return size - off, nil
	}
	return length, nil
}

type fileSection struct {
	*io.SectionReader
	f *os.File
}

func (s *fileSection) Close() error { return s.f.Close() }

// ctxReader stops a read once ctx is done.
type ctxReader struct {
	ctx context.Context
	rc  io.ReadCloser
	key string
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, opErr("get", r.key, err)
	}
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = opErr("get", r.key, err)
	}
	return n, err
}

func (r *ctxReader) Close() error { return r.rc.Close() }

// List implements Store.
func (s *DirStore) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	objs, err := s.collect(ctx, prefix)
	if err != nil {
		return opErr("list", prefix, err)
	}
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return opErr("list", prefix, err)
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// collect walks the directory that holds prefix's keys and returns the
// matching objects sorted by key (directory order is not key order: "a-b"
// sorts before "a/b").
func (s *DirStore) collect(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	var objs []ObjectInfo
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if path == start {
			return nil
		}
		rel, rerr := filepath.Rel(s.root, path)
		if rerr != nil {
			return rerr
		}
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, ierr := d.Info()
		if ierr != nil {
			if errors.Is(ierr, fs.ErrNotExist) {
				return nil // deleted while listing
			}
			return ierr
		}
		objs = append(objs, ObjectInfo{Key: key, Size: max(0, fi.Size()-dirHeaderLen), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortObjects(objs)
	return objs, nil
}

// Delete implements Store.
func (s *DirStore) Delete(ctx context.Context, key string) error {
	return opErr("delete", key, s.delete(ctx, key))
}

func (s *DirStore) delete(ctx context.Context, key string) error {
	path, err := s.Path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return nil // a directory of other keys, not an object
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	dir := filepath.Dir(path)
	if err := syncDir(dir); err != nil {
		return err
	}
	// Remove directories the delete emptied, so prefixes of removed data do
	// not accumulate; a directory still in use fails to go and stops this.
	for dir != s.root {
		if os.Remove(dir) != nil {
			break
		}
		dir = filepath.Dir(dir)
		_ = syncDir(dir)
	}
	return nil
}
