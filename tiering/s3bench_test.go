package tiering_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/s3test"
)

// BenchmarkS3Put compares the store's Put of a segment-sized object with a
// plain minio-go PutObject of the same bytes to the same local server, in
// the same run (goal: the store at >= 0.8x the plain client's rate). Both use
// 16 MiB parts, 4 in flight. The load average is logged since the server
// shares the machine.
func BenchmarkS3Put(b *testing.B) {
	const size = 64 << 20
	srv := s3test.Start(b)
	bucket := srv.Bucket(b, "bench")
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for i := 0; i < len(body); i += 4096 {
		body[i] = byte(i / 4096) // not all the same pages
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average: %s", strings.TrimSpace(string(la)))
	}
	ctx := context.Background()
	s, err := tiering.NewS3(tiering.S3Options{
		Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		Region: s3test.Region, PathStyle: true,
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := srv.Client()
	storePut := func(key string) error {
		_, err := s.Put(ctx, key, bytes.NewReader(body), size)
		return err
	}
	plainPut := func(key string) error {
		_, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), size, minio.PutObjectOptions{PartSize: 16 << 20, NumThreads: 4})
		return err
	}
	// Each iteration times one upload of each kind, alternating which goes
	// first, so both meet the same load on the machine.
	var storeTime, plainTime time.Duration
	b.SetBytes(2 * size)
	for i := 0; b.Loop(); i++ {
		order := []struct {
			put func(string) error
			acc *time.Duration
		}{{storePut, &storeTime}, {plainPut, &plainTime}}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for j, o := range order {
			key := fmt.Sprintf("k/%d-%d-%d", b.N, i, j)
			t0 := time.Now()
			if err := o.put(key); err != nil {
				b.Fatal(err)
			}
			*o.acc += time.Since(t0)
			b.StopTimer()
			if err := s.Delete(ctx, key); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * size / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(storeTime), "store-MB/s")
	b.ReportMetric(mbps(plainTime), "minio-go-MB/s")
	b.ReportMetric(mbps(storeTime)/mbps(plainTime), "store/minio-go")
}
