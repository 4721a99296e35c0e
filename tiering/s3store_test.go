package tiering_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/s3test"
	"github.com/runnel-dev/runnel/tiering/storetest"
)

// testPartSize keeps multipart uploads small in tests (S3's minimum).
const testPartSize = 5 << 20

var bucketSeq atomic.Int64

// newS3Store returns a store on a fresh bucket of srv.
func newS3Store(t *testing.T, srv *s3test.Server, mod func(*tiering.S3Options)) *tiering.S3Store {
	t.Helper()
	bucket := srv.Bucket(t, "b"+strings.ToLower(strings.ReplaceAll(time.Now().Format("150405.000000"), ".", ""))+"-"+string(rune('a'+bucketSeq.Add(1)%26)))
	opts := tiering.S3Options{
		Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		Region: s3test.Region, PathStyle: true, PartSize: testPartSize,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := tiering.NewS3(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestS3StoreAcceptance(t *testing.T) {
	srv := s3test.Start(t)
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) tiering.Store { return newS3Store(t, srv, nil) },
		Corrupt: func(t *testing.T, s tiering.Store, key string) {
			corruptS3(t, srv.Client(), s.(*tiering.S3Store).Bucket(), key)
		},
		LargeSize: 3*testPartSize + 12345,
		BodyReads: 2,
	})
}

// corruptS3 overwrites an object through a plain client with one bit
// flipped, keeping the checksum metadata the store recorded: bit rot as the
// store would meet it.
func corruptS3(t *testing.T, c *minio.Client, bucket, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum := st.Metadata.Get("X-Amz-Meta-Runnel-Crc32c")
	if sum == "" {
		t.Fatalf("object %s has no checksum metadata: %v", key, st.Metadata)
	}
	b[len(b)/2] ^= 0x01
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{UserMetadata: map[string]string{"runnel-crc32c": sum}}); err != nil {
		t.Fatal(err)
	}
}
