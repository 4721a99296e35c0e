package s3test

import (
	"path/filepath"
	"strings"
	"testing"
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
