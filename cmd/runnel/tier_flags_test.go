package main

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/runnel-dev/runnel/tiering"
)

// TestTierFlags checks the store the tier flags select and their refusals.
func TestTierFlags(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := func() tierFlags {
		return tierFlags{cacheBytes: tiering.DefaultCacheBytes, retentionCheck: 1}
	}
	f := base()
	if c, err := f.config(log); err != nil || c.Store != nil {
		t.Fatalf("no flags: %+v %v (want tiering off)", c, err)
	}
	f = base()
	f.dir, f.prefix = t.TempDir(), "p"
	if c, err := f.config(log); err != nil || c.Store == nil || c.Prefix != "p" {
		t.Fatalf("--tier-dir: %+v %v", c, err)
	}
	f = base()
	f.s3.Endpoint, f.s3.Bucket, f.s3.AccessKey, f.s3.SecretKey = "127.0.0.1:9000", "b", "k", "s"
	if c, err := f.config(log); err != nil || c.Store == nil {
		t.Fatalf("--s3-*: %+v %v", c, err)
	}
	for _, tc := range []struct {
		what string
		edit func(*tierFlags)
	}{
		{"both stores", func(f *tierFlags) { f.dir, f.s3.Bucket, f.s3.Endpoint = t.TempDir(), "b", "127.0.0.1:9000" }},
		{"bucket without endpoint", func(f *tierFlags) { f.s3.Bucket = "b" }},
		{"access key without secret", func(f *tierFlags) { f.s3.Endpoint, f.s3.Bucket, f.s3.AccessKey = "127.0.0.1:9000", "b", "k" }},
		{"endpoint with scheme", func(f *tierFlags) { f.s3.Endpoint, f.s3.Bucket = "http://127.0.0.1:9000", "b" }},
		{"insecure without tls", func(f *tierFlags) { f.s3.Endpoint, f.s3.Bucket, f.s3.InsecureSkipVerify = "127.0.0.1:9000", "b", true }},
		{"no cache", func(f *tierFlags) { f.cacheBytes = 0 }},
		{"no retention check", func(f *tierFlags) { f.retentionCheck = 0 }},
	} {
		f := base()
		tc.edit(&f)
		if _, err := f.config(log); err == nil {
			t.Errorf("%s: accepted", tc.what)
		} else if ue := (*usageError)(nil); !errors.As(err, &ue) {
			t.Errorf("%s: %v is not a usage error", tc.what, err)
		}
	}
}

// TestTierFlagsEnv checks that the S3 secret is read from the environment
// and a bad tier flag stops runnel dev with a usage error.
func TestTierFlagsEnv(t *testing.T) {
	r := runnel(t, []string{"RUNNEL_S3_BUCKET=b", "RUNNEL_S3_ACCESS_KEY=k"}, "dev", "--data-dir", t.TempDir(), "--s3-endpoint", "127.0.0.1:1")
	wantUsageError(t, r, "access key and secret key go together")
}
