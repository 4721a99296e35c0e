package tiering_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

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
	b.Run("store", func(b *testing.B) {
		s, err := tiering.NewS3(tiering.S3Options{
			Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
			Region: s3test.Region, PathStyle: true,
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			key := fmt.Sprintf("store/%d-%d", b.N, i)
			if _, err := s.Put(ctx, key, bytes.NewReader(body), size); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = s.Delete(ctx, key)
			b.StartTimer()
		}
	})
	b.Run("minio-go", func(b *testing.B) {
		c := srv.Client()
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			key := fmt.Sprintf("plain/%d-%d", b.N, i)
			if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), size, minio.PutObjectOptions{PartSize: 16 << 20, NumThreads: 4}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{})
			b.StartTimer()
		}
	})
}
