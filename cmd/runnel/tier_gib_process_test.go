package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The volume of TestDevTiersGiB: 1 GiB in 64 KiB records (few records, so
// the per-record work of four readers stays small), 16 MiB segments, four
// of them kept locally.
const (
	gibRecords     = 16384
	gibValueBytes  = 64 << 10
	gibSegment     = 16 << 20
	gibLocalBytes  = 4 * gibSegment
	gibTopic       = "gib"
	gibSampleEvery = 50 * time.Millisecond
)

// gibValue is record i's value: pseudo-random bytes (incompressible, not
// JSON, so REST and WebSocket carry them as value_b64).
func gibValue(i int) []byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(i))
	b := make([]byte, gibValueBytes)
	_, _ = rand.NewChaCha8(seed).Read(b)
	return b
}

// recordHash hashes records in offset order: each offset, length and value.
type recordHash struct {
	h    hash.Hash
	next int64
}

func newRecordHash() *recordHash { return &recordHash{h: sha256.New()} }

// add takes the record at offset; a record out of order is an error.
func (r *recordHash) add(offset int64, value []byte) error {
	if offset != r.next {
		return fmt.Errorf("record at offset %d, want %d", offset, r.next)
	}
	var hdr [16]byte
	binary.BigEndian.PutUint64(hdr[:8], uint64(offset))
	binary.BigEndian.PutUint64(hdr[8:], uint64(len(value)))
	r.h.Write(hdr[:])
	r.h.Write(value)
	r.next++
	return nil
}

func (r *recordHash) sum() string { return fmt.Sprintf("%x", r.h.Sum(nil)) }

// uploadLag reads runnel_tier_upload_lag_segments (all partitions) from
// the operator address ops.
func uploadLag(ops string) (int64, error) {
	resp, err := http.Get("http://" + ops + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var lag float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "runnel_tier_upload_lag_segments") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", sc.Text(), err)
		}
		lag += v
	}
	return int64(lag), sc.Err()
}

// dirBytes is the disk space the regular files under dir take (blocks
// allocated: preallocated index files count what they use, not their
// length).
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				} else {
					n += fi.Size()
				}
			}
		}
		return nil
	})
	return n
}

// TestDevTiersGiB runs "runnel dev --tier-dir" and produces 1 GiB to a
// tiered topic with 16 MiB segments and local.retention.bytes of four
// segments. The data directory never holds more than that bound plus the
// active segment and two segments waiting for their upload; then kcat,
// franz-go, REST reads and a WebSocket subscription from earliest, at
// once, each get every record from offset 0 byte-identical and in order
// (hashed), most of them from the store.
func TestDevTiersGiB(t *testing.T) {
	if raceDetector {
		// Under -race the runnel process (this test binary) moves 1 GiB
		// through four readers in over 5 minutes; make test runs this test
		// again without -race (the unit-volume target).
		t.Skip("a volume test: run without -race (make unit-volume)")
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat not installed (make test-deps installs it)")
	}
	start := time.Now()
	dataDir, tierDir := t.TempDir(), t.TempDir()
	ops := freePort(t)
	dev := startDev(t, dataDir, "--tier-dir", tierDir, "--metrics", ops, "--retention-check-interval", "100ms")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("runnel dev stderr:\n%s", dev.output())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl := devKafkaClient(t, dev, kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64))
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{
		"segment.bytes": kadmString(strconv.Itoa(gibSegment)), "remote.storage.enable": kadmString("true"),
		"local.retention.bytes": kadmString(strconv.Itoa(gibLocalBytes)), "retention.ms": kadmString("-1"),
	}, gibTopic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v %s", err, resp.Err, resp.ErrMessage)
	}

	// The data directory's size, sampled while producing and uploading:
	// local retention may only delete uploaded segments, so it holds at
	// most local.retention.bytes, the segments waiting for their upload
	// (the upload lag, read first), the active segment and one uploaded
	// since the last retention pass.
	var maxLocal, maxLag atomic.Int64
	var overErr atomic.Pointer[error]
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		tick := time.NewTicker(gibSampleEvery)
		defer tick.Stop()
		for {
			lag, err := uploadLag(ops)
			if err != nil {
				overErr.CompareAndSwap(nil, &err)
				return
			}
			n := dirBytes(dataDir)
			if bound := gibLocalBytes + (lag+2)*gibSegment; n > bound {
				err := fmt.Errorf("data directory holds %d bytes with %d segments waiting for upload: bound %d", n, lag, bound)
				overErr.CompareAndSwap(nil, &err)
			}
			if n > maxLocal.Load() {
				maxLocal.Store(n)
			}
			if lag > maxLag.Load() {
				maxLag.Store(lag)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	})

	want := newRecordHash()
	var produceErr atomic.Pointer[error]
	var inflight sync.WaitGroup
	for i := range gibRecords {
		v := gibValue(i)
		if err := want.add(int64(i), v); err != nil {
			t.Fatal(err)
		}
		inflight.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: gibTopic, Value: v}, func(r *kgo.Record, err error) {
			defer inflight.Done()
			if err == nil && r.Offset != int64(i) {
				err = fmt.Errorf("record %d stored at offset %d", i, r.Offset)
			}
			if err != nil {
				produceErr.CompareAndSwap(nil, &err)
			}
		})
	}
	inflight.Wait()
	if p := produceErr.Load(); p != nil {
		t.Fatalf("produce: %v", *p)
	}
	produced := time.Since(start)

	// Wait until local retention is down to its bound (everything older
	// uploaded), then stop sampling.
	deadline := time.Now().Add(2 * time.Minute)
	for dirBytes(dataDir) > gibLocalBytes+gibSegment {
		if time.Now().After(deadline) {
			t.Fatalf("data directory still holds %d bytes, local.retention.bytes is %d", dirBytes(dataDir), gibLocalBytes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stopSampling)
	sampling.Wait()
	t.Logf("produced %d MiB in %v; data directory at most %d MiB (local.retention.bytes %d MiB), upload lag at most %d segments, %d MiB now",
		gibRecords*gibValueBytes>>20, produced.Round(time.Millisecond), maxLocal.Load()>>20, gibLocalBytes>>20, maxLag.Load(), dirBytes(dataDir)>>20)
	if p := overErr.Load(); p != nil {
		t.Fatal(*p)
	}

	readers := map[string]func(context.Context, *recordHash) error{
		"franz-go":  func(ctx context.Context, h *recordHash) error { return gibReadFranz(ctx, dev, h) },
		"kcat":      func(ctx context.Context, h *recordHash) error { return gibReadKcat(ctx, dev, h) },
		"REST":      func(ctx context.Context, h *recordHash) error { return gibReadREST(ctx, dev, h) },
		"WebSocket": func(ctx context.Context, h *recordHash) error { return gibReadWS(ctx, dev, h) },
	}
	readStart := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, read := range readers {
		wg.Go(func() {
			h := newRecordHash()
			began := time.Now()
			err := read(ctx, h)
			mu.Lock()
			defer mu.Unlock()
			t.Logf("%s read %d records in %v", name, h.next, time.Since(began).Round(time.Millisecond))
			switch {
			case err != nil:
				t.Errorf("%s: %v (after %d records)", name, err, h.next)
			case h.next != gibRecords || h.sum() != want.sum():
				t.Errorf("%s read %d records hashing %s, want %d hashing %s", name, h.next, h.sum(), gibRecords, want.sum())
			}
		})
	}
	wg.Wait()
	t.Logf("four readers of 1 GiB at once in %v; whole test %v", time.Since(readStart).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if !t.Failed() {
		if got := dirBytes(tierDir); got < int64(gibRecords*gibValueBytes-gibLocalBytes-gibSegment) {
			t.Fatalf("the store holds %d bytes: the reads were not from it", got)
		}
	}
}

func gibReadFranz(ctx context.Context, dev *devProc, h *recordHash) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(dev.kafka), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{gibTopic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return err
	}
	defer cl.Close()
	for h.next < gibRecords {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return ferr
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if err := h.add(r.Offset, r.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// gibReadKcat reads with kcat, each record as "offset size value\n".
func gibReadKcat(ctx context.Context, dev *devProc, h *recordHash) error {
	cmd := exec.CommandContext(ctx, "kcat", "-C", "-b", dev.kafka, "-t", gibTopic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o %S %s\n")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	br := bufio.NewReaderSize(out, 1<<20)
	value := make([]byte, gibValueBytes)
	for h.next < gibRecords {
		off, err := br.ReadString(' ')
		if err != nil {
			return fmt.Errorf("kcat output: %w (stderr %s)", err, stderr.String())
		}
		size, err := br.ReadString(' ')
		if err != nil {
			return fmt.Errorf("kcat output: %w", err)
		}
		o, err1 := strconv.ParseInt(off[:len(off)-1], 10, 64)
		n, err2 := strconv.Atoi(size[:len(size)-1])
		if err1 != nil || err2 != nil || n < 0 || n > len(value) {
			return fmt.Errorf("kcat record header %q %q", off, size)
		}
		if _, err := io.ReadFull(br, value[:n]); err != nil {
			return fmt.Errorf("kcat value at %d: %w", o, err)
		}
		if nl, err := br.ReadByte(); err != nil || nl != '\n' {
			return fmt.Errorf("kcat record at %d not followed by a newline", o)
		}
		if err := h.add(o, value[:n]); err != nil {
			return err
		}
	}
	return nil
}

// gibEvent is an event as REST and WebSocket give it.
type gibEvent struct {
	Type     string `json:"type"`
	Offset   int64  `json:"offset"`
	ValueB64 string `json:"value_b64"`
}

func (e gibEvent) add(h *recordHash) error {
	v, err := base64.StdEncoding.DecodeString(e.ValueB64)
	if err != nil {
		return fmt.Errorf("value_b64 at %d: %w", e.Offset, err)
	}
	return h.add(e.Offset, v)
}

func gibReadREST(ctx context.Context, dev *devProc, h *recordHash) error {
	for h.next < gibRecords {
		var page struct {
			Events     []gibEvent `json:"events"`
			NextOffset int64      `json:"next_offset"`
		}
		code, err := dev.do(ctx, "GET", fmt.Sprintf("/v1/topics/%s/partitions/0/events?offset=%d&limit=1000", gibTopic, h.next), nil, &page)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("REST read at %d: %d %v", h.next, code, err)
		}
		if len(page.Events) == 0 {
			return fmt.Errorf("REST read at %d: no events, next offset %d", h.next, page.NextOffset)
		}
		for _, e := range page.Events {
			if err := e.add(h); err != nil {
				return err
			}
		}
	}
	return nil
}

func gibReadWS(ctx context.Context, dev *devProc, h *recordHash) error {
	d := websocket.Dialer{ReadBufferSize: 1 << 20}
	ws, _, err := d.DialContext(ctx, wsURLOf(dev.url)+"/v1/ws?access_token="+dev.token, http.Header{"Origin": {dev.url}})
	if err != nil {
		return err
	}
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()
	if err := ws.WriteJSON(map[string]any{"type": "subscribe", "id": "s", "topic": gibTopic, "from": "earliest"}); err != nil {
		return err
	}
	for h.next < gibRecords {
		var f gibEvent
		if err := ws.ReadJSON(&f); err != nil {
			return fmt.Errorf("WebSocket: %w", err)
		}
		switch f.Type {
		case "subscribed":
		case "event":
			if err := f.add(h); err != nil {
				return err
			}
		default:
			return fmt.Errorf("WebSocket frame of type %q", f.Type)
		}
	}
	return nil
}
