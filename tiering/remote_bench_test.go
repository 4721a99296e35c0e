package tiering_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/s3test"
	"github.com/runnel-dev/runnel/tiering/tiertest"
)

// benchSegment uploads a rolled segment of about size bytes (batches of 100
// records of 160 bytes) to store.
func benchSegment(b *testing.B, store tiering.Store, size int64) metadata.RemoteSegment {
	b.Helper()
	l, err := commitlog.Open(b.TempDir(), commitlog.Options{SegmentBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	rs := make([]recordbatch.Record, 100)
	for i := range rs {
		rs[i] = recordbatch.Record{Timestamp: int64(i), Value: []byte(strings.Repeat(string(rune('a'+i%26)), 160))}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, rs)
	if err != nil {
		b.Fatal(err)
	}
	for l.Size() < size {
		if _, err := l.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Roll(); err != nil {
		b.Fatal(err)
	}
	return tiertest.UploadSegment(b, store, "bench", uuid.New(), 0, 1, l.Segments()[0])
}

// benchRemoteRead measures, in each iteration, a consumer's sequential read
// of a whole remote segment in 1 MiB fetches with a cold chunk cache, the
// same read again with the cache warm, and a plain Get of the same
// segment.log object (the store's own rate), and reports each in MB/s.
func benchRemoteRead(b *testing.B, store tiering.Store) {
	const size = 64 << 20
	seg := benchSegment(b, store, size)
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average: %s", strings.TrimSpace(string(la)))
	}
	ctx := context.Background()
	readAll := func(r *tiering.Reader) {
		for o := seg.BaseOffset; o <= seg.EndOffset; {
			res, err := r.Read(ctx, seg, o, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			o = res.NextOffset
		}
	}
	var cold, warm, plain time.Duration
	b.SetBytes(3 * seg.Size)
	for b.Loop() {
		r, err := tiering.NewReader(store, tiering.ReaderOptions{CacheDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		readAll(r)
		cold += time.Since(t0)
		t0 = time.Now()
		readAll(r)
		warm += time.Since(t0)
		r.Close()
		t0 = time.Now()
		rc, err := store.Get(ctx, tiering.SegmentObject(seg.ObjectKey, tiering.SegmentLogFile), 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
		plain += time.Since(t0)
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * float64(seg.Size) / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(cold), "cold-MB/s")
	b.ReportMetric(mbps(warm), "warm-MB/s")
	b.ReportMetric(mbps(plain), "store-get-MB/s")
	b.ReportMetric(mbps(cold)/mbps(plain), "cold/get")
}

// BenchmarkRemoteReadDir reads a remote segment from a directory store.
func BenchmarkRemoteReadDir(b *testing.B) {
	store, err := tiering.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	benchRemoteRead(b, store)
}

// BenchmarkRemoteReadS3 reads a remote segment from a local S3 server
// (versitygw) through ranged GETs.
func BenchmarkRemoteReadS3(b *testing.B) {
	srv := s3test.Start(b)
	store, err := tiering.NewS3(tiering.S3Options{
		Endpoint: srv.Endpoint, Bucket: srv.Bucket(b, "bench"), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		Region: s3test.Region, PathStyle: true,
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	benchRemoteRead(b, store)
}
