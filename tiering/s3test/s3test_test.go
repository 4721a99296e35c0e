package s3test

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestBinaryMissingNamesMakeTarget(t *testing.T) {
	t.Setenv(BinaryEnv, filepath.Join(t.TempDir(), "versitygw"))
	_, err := Binary()
	if err == nil || !strings.Contains(err.Error(), "make test-deps") {
		t.Fatalf("Binary with a missing file: %v, want an error naming `make test-deps`", err)
	}
	t.Setenv(BinaryEnv, "")
	t.Setenv("PATH", t.TempDir())
	t.Setenv("GOBIN", "")
	t.Setenv("GOPATH", t.TempDir())
	if p, err := Binary(); err == nil {
		// build.Default.GOPATH was read at start-up; if the real one holds
		// the binary, the lookup legitimately finds it there.
		if !strings.HasSuffix(p, filepath.Join("bin", "versitygw")) {
			t.Fatalf("Binary found %q", p)
		}
	} else if !strings.Contains(err.Error(), "make test-deps") {
		t.Fatalf("Binary with nothing installed: %v, want an error naming `make test-deps`", err)
	}
}

func TestStartServes(t *testing.T) {
	s := Start(t)
	bucket := s.Bucket(t, "probe")
	if ok, err := s.Client().BucketExists(t.Context(), bucket); err != nil || !ok {
		t.Fatalf("bucket %s after creation: exists=%v err=%v", bucket, ok, err)
	}
	s.Stop()
	s.Stop() // idempotent
	if _, err := s.Client().BucketExists(t.Context(), bucket); err == nil {
		t.Fatal("server still answers after Stop")
	}
}

// TestRestartKeepsAddressAndObjects: after Stop the server refuses, after
// Restart it answers on the same address with the objects it held.
func TestRestartKeepsAddressAndObjects(t *testing.T) {
	s := Start(t)
	bucket := s.Bucket(t, "restart")
	body := "kept across the restart"
	if _, err := s.Client().PutObject(t.Context(), bucket, "k", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	endpoint := s.Endpoint
	s.Stop()
	if _, err := s.Client().BucketExists(t.Context(), bucket); err == nil {
		t.Fatal("server still answers after Stop")
	}
	s.Restart(t)
	if s.Endpoint != endpoint {
		t.Fatalf("endpoint %s after restart, was %s", s.Endpoint, endpoint)
	}
	o, err := s.Client().GetObject(t.Context(), bucket, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	got, err := io.ReadAll(o)
	if err != nil || string(got) != body {
		t.Fatalf("object after restart: %q %v, want %q", got, err, body)
	}
}
