package commitlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// BenchmarkClean compacts a log of COMPACT_BENCH_BYTES (64 MiB by default;
// COMPACT_BENCH_BYTES=1073741824 for the 1 GiB of the issue) in 16
// segments of 1 KiB records in batches of 16, written to keys chosen at
// random among a tenth as many keys as records: about 10% of the records
// are live after cleaning. Each iteration cleans a fresh copy. It reports
// the bytes read per second of the run, the offset map's memory (bounded
// by the dedupe buffer, 128 MiB), the peak Go heap in use sampled during
// the run, and the share of bytes left. COMPACT_BENCH_DEDUPE_BYTES sets a
// smaller dedupe buffer: the log is then cleaned in several runs.
func BenchmarkClean(b *testing.B) {
	total := int64(64 << 20)
	if v, err := strconv.ParseInt(os.Getenv("COMPACT_BENCH_BYTES"), 10, 64); err == nil && v > 0 {
		total = v
	}
	const recSize, perBatch = 1024, 16
	records := total / recSize
	keys := max(records/10, 1)
	pristine := filepath.Join(b.TempDir(), "pristine")
	o := quietOptions()
	o.SegmentBytes = max(total/16, 1<<20)
	o.Compact, o.CompactOnly = true, true
	l, err := Open(pristine, o)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	val := make([]byte, recSize-20)
	for i := range val {
		val[i] = byte(rng.Uint32())
	}
	recs := make([]recordbatch.Record, perBatch)
	now := time.Now().UnixMilli()
	for n := int64(0); n < records; n += perBatch {
		for i := range recs {
			recs[i] = recordbatch.Record{Key: fmt.Appendf(nil, "key-%012d", rng.Int64N(keys)), Value: val, Timestamp: now}
		}
		batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Roll(); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	o.CleanShutdown = true
	var copts CleanerOptions
	if v, err := strconv.ParseInt(os.Getenv("COMPACT_BENCH_DEDUPE_BYTES"), 10, 64); err == nil && v > 0 {
		copts.DedupeBufferSize = v // smaller than the keys need: several runs
	}
	c, err := NewCleaner(copts)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var read, left, mapBytes, runs int64
	var peak uint64
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		ents, _ := os.ReadDir(pristine)
		for _, e := range ents {
			// Hard links: the cleaner replaces files by rename, never
			// writes into them, so the pristine copy stays whole.
			if err := os.Link(filepath.Join(pristine, e.Name()), filepath.Join(dir, e.Name())); err != nil {
				b.Fatal(err)
			}
		}
		l, err := Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		l.SetHighWatermark(1 << 62)
		runtime.GC()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		// A run whose map fills stops there; the next goes on.
		for st, n := (CleanStats{}), 0; err == nil && st.EndOffset < l.LogEndOffset() && n < 1000; n++ {
			if st, err = c.Clean(context.Background(), l, true); err == nil {
				read += st.BytesRead
				mapBytes = max(mapBytes, st.MapBytes)
				runs++
			}
		}
		elapsed += time.Since(start)
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		left += l.Size()
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(read)/elapsed.Seconds()/(1<<20), "read-MB/s")
	b.ReportMetric(float64(total)*float64(b.N)/elapsed.Seconds()/(1<<20), "log-MB/s")
	b.ReportMetric(float64(mapBytes)/(1<<20), "map-MiB")
	b.ReportMetric(float64(c.MaxMapBytes())/(1<<20), "map-bound-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(left)/float64(total)/float64(b.N), "left-ratio")
	b.ReportMetric(float64(runs)/float64(b.N), "runs")
}
