package tiering

import (
	"cmp"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// chunkCache keeps fixed-size chunks of remote segment logs as files in one
// directory, bounded in bytes with least-recently-used eviction. A chunk
// file is a header (magic, CRC-32C and length of the data) followed by the
// data, written to a temporary file and renamed into place, so a reader sees
// a whole file or none. A file whose header or checksum does not match is
// dropped and the chunk fetched again: the cache is derived data, never
// served unchecked. Concurrent misses of one chunk share one fetch.
//
// Lock order: mu only; nothing blocking (file I/O aside from unlinks of
// evicted files, or fetches) runs under it.
type chunkCache struct {
	dir     string
	limit   int64
	logger  *slog.Logger
	metrics *readMetrics

	mu       sync.Mutex
	lru      *list.List               // of *chunkEntry, most recent first
	entries  map[string]*list.Element // by file name
	bytes    int64                    // sum of the entries' file sizes
	inflight map[string]*chunkFetch
	// hot keeps the most recently used chunks' checked bytes in memory
	// (hotLimit bytes), so that consecutive fetches of a consumer, which
	// mostly share a chunk, read and checksum its file once.
	hot      *list.List // of *hotChunk, most recent first
	hotByKey map[string]*list.Element
	hotBytes int64
	hotLimit int64
}

type hotChunk struct {
	name string
	data []byte
}

type chunkEntry struct {
	name string
	size int64
}

// chunkFetch is a fetch in progress; waiters read data and err after done.
type chunkFetch struct {
	done chan struct{}
	data []byte
	err  error
}

const (
	chunkMagic      = "RNC1"
	chunkHeaderSize = 16 // magic, CRC-32C of data, length of data (uint64)
	chunkSuffix     = ".chunk"
	chunkTempSuffix = ".tmp"
)

// openChunkCache opens dir as a chunk cache of at most limit bytes, adopting
// the chunk files an earlier run left (oldest first in the LRU order) and
// removing its leftover temporary files. Other files are left alone.
func openChunkCache(dir string, limit, hotLimit int64, logger *slog.Logger, m *readMetrics) (*chunkCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tier cache: %w", err)
	}
	c := &chunkCache{dir: dir, limit: limit, logger: logger, metrics: m, lru: list.New(),
		entries: map[string]*list.Element{}, inflight: map[string]*chunkFetch{},
		hot: list.New(), hotByKey: map[string]*list.Element{}, hotLimit: hotLimit}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tier cache: %w", err)
	}
	type found struct {
		name string
		size int64
		mod  int64
	}
	var files []found
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() {
			continue
		}
		if strings.HasSuffix(name, chunkTempSuffix) && strings.Contains(name, chunkSuffix) {
			os.Remove(filepath.Join(dir, name)) // a write that never finished
			continue
		}
		if !strings.HasSuffix(name, chunkSuffix) {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		files = append(files, found{name, info.Size(), info.ModTime().UnixNano()})
	}
	// Oldest first, each pushed to the front: the newest ends most recent.
	slices.SortFunc(files, func(a, b found) int { return cmp.Compare(a.mod, b.mod) })
	for _, f := range files {
		c.entries[f.name] = c.lru.PushFront(&chunkEntry{f.name, f.size})
		c.bytes += f.size
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// chunkName is the cache file name of chunk index of the object at key.
func chunkName(key string, index int64) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16]) + "-" + strconv.FormatInt(index, 10) + chunkSuffix
}

// get returns the chunk named name, from the cache when it holds a sound
// copy, else from fetch (whose result it keeps); concurrent gets of one
// name share one fetch. hit reports whether this call did without a fetch
// of its own; the metrics count the same (misses are store fetches).
func (c *chunkCache) get(ctx context.Context, name string, fetch func(context.Context) ([]byte, error)) (data []byte, hit bool, err error) {
	c.mu.Lock()
	if el, ok := c.hotByKey[name]; ok {
		c.hot.MoveToFront(el)
		if fel, ok := c.entries[name]; ok {
			c.lru.MoveToFront(fel)
		}
		c.mu.Unlock()
		c.metrics.cacheHits.Inc()
		return el.Value.(*hotChunk).data, true, nil
	}
	if el, ok := c.entries[name]; ok {
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		data, err := c.readFile(name)
		if err == nil {
			c.metrics.cacheHits.Inc()
			c.mu.Lock()
			c.keepHotLocked(name, data)
			c.mu.Unlock()
			return data, true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) { // evicted meanwhile is a plain miss
			c.logger.Warn("tier cache: dropping a damaged chunk file; fetching it again", "file", name, "error", err)
			c.metrics.cacheDamaged.Inc()
		}
		c.mu.Lock()
		if el, ok := c.entries[name]; ok {
			c.removeLocked(el)
		}
	}
	if f, ok := c.inflight[name]; ok {
		// Another read (or the read-ahead) is fetching it: no fetch of
		// our own, so it counts as a hit.
		c.mu.Unlock()
		select {
		case <-f.done:
			if f.err == nil {
				c.metrics.cacheHits.Inc()
			}
			if isContextErr(f.err) && ctx.Err() == nil {
				// The fetch ended because its caller went away, not
				// because of the store: fetch it for this caller.
				return c.get(ctx, name, fetch)
			}
			return f.data, f.err == nil, f.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	c.metrics.cacheMisses.Inc()
	f := &chunkFetch{done: make(chan struct{})}
	c.inflight[name] = f
	c.mu.Unlock()

	f.data, f.err = fetch(ctx)
	if f.err == nil {
		size, werr := c.writeFile(name, f.data)
		if werr != nil {
			c.logger.Warn("tier cache: chunk not kept", "file", name, "error", werr)
		}
		c.mu.Lock()
		if werr == nil {
			if el, ok := c.entries[name]; ok { // cannot happen while inflight, but keep the sum right
				c.removeLocked(el)
			}
			c.entries[name] = c.lru.PushFront(&chunkEntry{name, size})
			c.bytes += size
			c.evictLocked()
		}
		c.keepHotLocked(name, f.data)
		delete(c.inflight, name)
		c.mu.Unlock()
	} else {
		c.mu.Lock()
		delete(c.inflight, name)
		c.mu.Unlock()
	}
	close(f.done)
	return f.data, false, f.err
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// drop forgets the chunk named name (its bytes turned out bad).
func (c *chunkCache) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[name]; ok {
		c.removeLocked(el)
	}
	if el, ok := c.hotByKey[name]; ok {
		c.dropHotLocked(el)
	}
}

// keepHotLocked puts a chunk's checked bytes in the in-memory tier,
// evicting the least recently used ones beyond hotLimit. The bytes are
// shared with readers: nobody modifies them.
func (c *chunkCache) keepHotLocked(name string, data []byte) {
	if int64(len(data)) > c.hotLimit {
		return
	}
	if el, ok := c.hotByKey[name]; ok {
		c.dropHotLocked(el)
	}
	c.hotByKey[name] = c.hot.PushFront(&hotChunk{name, data})
	c.hotBytes += int64(len(data))
	for c.hotBytes > c.hotLimit {
		c.dropHotLocked(c.hot.Back())
	}
}

func (c *chunkCache) dropHotLocked(el *list.Element) {
	h := el.Value.(*hotChunk)
	c.hot.Remove(el)
	delete(c.hotByKey, h.name)
	c.hotBytes -= int64(len(h.data))
}

// removeLocked takes el out of the cache and unlinks its file.
func (c *chunkCache) removeLocked(el *list.Element) {
	e := el.Value.(*chunkEntry)
	c.lru.Remove(el)
	delete(c.entries, e.name)
	c.bytes -= e.size
	if err := os.Remove(filepath.Join(c.dir, e.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.logger.Warn("tier cache: remove chunk file", "file", e.name, "error", err)
	}
	c.metrics.cacheBytes.Set(float64(c.bytes))
}

// evictLocked removes least recently used chunks until the cache fits.
func (c *chunkCache) evictLocked() {
	for c.bytes > c.limit && c.lru.Len() > 0 {
		c.removeLocked(c.lru.Back())
	}
	c.metrics.cacheBytes.Set(float64(c.bytes))
}

// readFile reads and checks a chunk file.
func (c *chunkCache) readFile(name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		return nil, err
	}
	if len(b) < chunkHeaderSize || string(b[:4]) != chunkMagic {
		return nil, fmt.Errorf("chunk file %s: bad header", name)
	}
	n := binary.BigEndian.Uint64(b[8:16])
	if n != uint64(len(b)-chunkHeaderSize) {
		return nil, fmt.Errorf("chunk file %s: header says %d bytes, file holds %d", name, n, len(b)-chunkHeaderSize)
	}
	data := b[chunkHeaderSize:]
	if want, got := binary.BigEndian.Uint32(b[4:8]), crc32.Checksum(data, castagnoli); want != got {
		return nil, fmt.Errorf("chunk file %s: %w: stored 0x%08x computed 0x%08x", name, ErrChecksum, want, got)
	}
	return data, nil
}

// writeFile writes a chunk file atomically (temporary file, rename) and
// returns its size. No fsync: a file torn by a crash fails its checksum
// and is fetched again.
func (c *chunkCache) writeFile(name string, data []byte) (int64, error) {
	size := int64(chunkHeaderSize + len(data))
	if size > c.limit {
		return 0, fmt.Errorf("chunk of %d bytes exceeds the cache size %d", size, c.limit)
	}
	f, err := os.CreateTemp(c.dir, name+".*"+chunkTempSuffix)
	if err != nil {
		return 0, err
	}
	var hdr [chunkHeaderSize]byte
	copy(hdr[:4], chunkMagic)
	binary.BigEndian.PutUint32(hdr[4:8], crc32.Checksum(data, castagnoli))
	binary.BigEndian.PutUint64(hdr[8:16], uint64(len(data)))
	_, err = f.Write(hdr[:])
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(c.dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, err
	}
	return size, nil
}
