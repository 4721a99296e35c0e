package commitlog

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

func benchBatch(b *testing.B, records, valueSize int) []byte {
	b.Helper()
	recs := make([]recordbatch.Record, records)
	val := bytes.Repeat([]byte("0123456789abcdef"), valueSize/16+1)[:valueSize]
	for i := range recs {
		recs[i] = recordbatch.Record{Key: []byte(fmt.Sprintf("key-%06d", i)), Value: val, Timestamp: time.Now().UnixMilli()}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		b.Fatal(err)
	}
	return batch
}

func quietOptions() Options {
	return Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// BenchmarkAppendVsWrite appends 1 KiB records in 16 KiB and 1 MiB batches and,
// interleaved in the same run, writes the same bytes to a plain file with
// write(2). It reports both rates and their ratio (log / raw).
func BenchmarkAppendVsWrite(b *testing.B) {
	for _, bs := range []struct {
		name    string
		records int
	}{{"16KiB", 16}, {"1MiB", 1024}} {
		b.Run(bs.name, func(b *testing.B) {
			dir := b.TempDir()
			batch := benchBatch(b, bs.records, 1000)
			l, err := Open(filepath.Join(dir, "log"), quietOptions())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			raw, err := os.Create(filepath.Join(dir, "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			var tLog, tRaw time.Duration
			var rawBytes int64
			b.ReportAllocs()
			b.ResetTimer()
			const block = 64
			for done := 0; done < b.N; done += block {
				n := min(block, b.N-done)
				start := time.Now()
				for i := 0; i < n; i++ {
					if _, err := raw.Write(batch); err != nil {
						b.Fatal(err)
					}
				}
				rawBytes += int64(n * len(batch))
				if rawBytes > 1<<30 { // keep the raw file like a segment: roll at 1 GiB
					raw.Truncate(0)
					raw.Seek(0, io.SeekStart)
					rawBytes = 0
				}
				mid := time.Now()
				for i := 0; i < n; i++ {
					if _, err := l.Append(batch, 1); err != nil {
						b.Fatal(err)
					}
				}
				tRaw += mid.Sub(start)
				tLog += time.Since(mid)
				if _, err := l.DeleteExpired(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			mb := float64(b.N) * float64(len(batch)) / 1e6
			b.ReportMetric(mb/tLog.Seconds(), "log-MB/s")
			b.ReportMetric(mb/tRaw.Seconds(), "raw-MB/s")
			b.ReportMetric(tRaw.Seconds()/tLog.Seconds(), "log/raw")
		})
	}
}

// BenchmarkAppendSmallRecords appends batches of 1,000 records of 100 bytes.
func BenchmarkAppendSmallRecords(b *testing.B) {
	batch := benchBatch(b, 1000, 100)
	o := quietOptions()
	o.RetentionBytes = 2 << 30
	l, err := Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			l.DeleteExpired()
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkOffsetLookup finds the file position of random offsets in a full
// 1 GiB segment, built from 16 KiB batches and from single-record 1 KiB batches
// (the worst case for a sparse index: several batches per index entry).
func BenchmarkOffsetLookup(b *testing.B) {
	for _, bs := range []struct {
		name    string
		records int
	}{{"16KiB-batches", 16}, {"1KiB-batches", 1}} {
		b.Run(bs.name, func(b *testing.B) {
			batch := benchBatch(b, bs.records, 1000)
			o := quietOptions()
			o.SegmentBytes = 1 << 30
			l, err := Open(b.TempDir(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			for {
				if _, err := l.Append(batch, 1); err != nil {
					b.Fatal(err)
				}
				if len(l.Segments()) > 1 {
					break
				}
			}
			s := l.segments[0]
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportMetric(float64(s.size)/(1<<20), "segment-MiB")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				off := s.base + rng.Int64N(s.next-s.base)
				l.mu.RLock()
				pos, base, err := s.translate(off)
				l.mu.RUnlock()
				if err != nil || base > off || pos >= s.size {
					b.Fatalf("lookup %d: pos %d base %d err %v", off, pos, base, err)
				}
			}
		})
	}
}

// BenchmarkRead locates 1 MiB of batches from random offsets (what a fetch does
// before sendfile).
func BenchmarkRead(b *testing.B) {
	batch := benchBatch(b, 16, 1000)
	l, err := Open(b.TempDir(), quietOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 20000; i++ {
		l.Append(batch, 1)
	}
	end := l.LogEndOffset()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	var bytesFound int64
	for i := 0; i < b.N; i++ {
		res, err := l.Read(rng.Int64N(end), 1<<20, ToLogEnd)
		if err != nil {
			b.Fatal(err)
		}
		bytesFound += res.Size()
	}
	b.ReportMetric(float64(bytesFound)/float64(b.N), "bytes/read")
}

// BenchmarkRecover re-reads and checks a 256 MiB segment of 1 KiB single-record
// batches, as an open after a crash does (CRC of every batch, index rebuild).
func BenchmarkRecover(b *testing.B) {
	batch := benchBatch(b, 1, 1000)
	dir := b.TempDir()
	l, err := Open(dir, quietOptions())
	if err != nil {
		b.Fatal(err)
	}
	for l.Size() < 256<<20 {
		if _, err := l.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	size := l.Size()
	l.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, err := Open(dir, quietOptions()) // not CleanShutdown: full recovery
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
}
