package tiering_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/runnel-dev/runnel/internal/faultharness"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/s3test"
)

// retryCounter is a slog handler counting the store's retry warnings.
type retryCounter struct {
	t testing.TB
	n atomic.Int64
}

func (c *retryCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *retryCounter) Handle(_ context.Context, r slog.Record) error {
	var attrs []string
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a.String()); return true })
	c.t.Logf("%s %s %s", r.Level, r.Message, strings.Join(attrs, " "))
	if r.Level == slog.LevelWarn && r.Message == "tiering: S3 call failed, retrying" {
		c.n.Add(1)
	}
	return nil
}
func (c *retryCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *retryCounter) WithGroup(string) slog.Handler      { return c }

// faultyStore returns a store that reaches srv through a fault proxy.
func faultyStore(t *testing.T, srv *s3test.Server, mod func(*tiering.S3Options)) (*tiering.S3Store, *faultharness.Proxy, *retryCounter) {
	t.Helper()
	p, err := faultharness.NewProxy(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	opts := tiering.S3Options{
		Endpoint: p.Addr(), Bucket: srv.Bucket(t, "faults"), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		Region: s3test.Region, PathStyle: true, PartSize: testPartSize,
		Attempts: 30, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}
	if mod != nil {
		mod(&opts)
	}
	rc := &retryCounter{t: t}
	s, err := tiering.NewS3(opts, slog.New(rc))
	if err != nil {
		t.Fatal(err)
	}
	return s, p, rc
}

func roundTrip(t *testing.T, s tiering.Store, key string, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rc, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read back %s: %d bytes, err %v; want the %d put", key, len(got), err, len(b))
	}
}

// TestS3PutRetriesWhileServerUnreachable: connections are refused when the
// upload starts; the store retries with backoff and the upload lands whole
// once the server is reachable again.
func TestS3PutRetriesWhileServerUnreachable(t *testing.T) {
	srv := s3test.Start(t)
	s, p, retries := faultyStore(t, srv, nil)
	b := bytes.Repeat([]byte("unreachable "), 1_000_000) // 12 MB: multipart
	p.Refuse()
	putAcrossFault(t, s, p, retries, "seg/unreachable", b, 700*time.Millisecond)
}

// putAcrossFault puts b while the fault already set on p lasts for another
// healAfter, and checks that the Put needed retries and stored b whole.
func putAcrossFault(t *testing.T, s tiering.Store, p *faultharness.Proxy, retries *retryCounter, key string, b []byte, healAfter time.Duration) {
	t.Helper()
	heal := time.AfterFunc(healAfter, p.Heal)
	defer heal.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := s.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("Put across a fault: %v", err)
	}
	if retries.n.Load() == 0 {
		t.Fatal("the Put never retried; the fault did not bite")
	}
	roundTrip(t, s, key, b)
}

// TestS3SlowServerPerCallTimeout: a server slower than CallTimeout fails
// each attempt by its own timeout, and the call gives up after Attempts;
// once the server is fast again the same call succeeds.
func TestS3SlowServerPerCallTimeout(t *testing.T) {
	srv := s3test.Start(t)
	s, p, retries := faultyStore(t, srv, func(o *tiering.S3Options) {
		o.Attempts = 3
		o.CallTimeout = 300 * time.Millisecond
	})
	b := []byte("small object")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := s.Put(ctx, "slow/k", bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	p.Shape(faultharness.Backward, faultharness.Shaping{Latency: 3 * time.Second})
	start := time.Now()
	_, err := s.Stat(ctx, "slow/k")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stat through a slow link: %v, want a timeout", err)
	}
	if n := retries.n.Load(); n != 2 {
		t.Fatalf("%d retries logged, want 2 (3 attempts)", n)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("Stat took %v; the per-call timeout did not cut it short", took)
	}
	p.Heal()
	if st, err := s.Stat(ctx, "slow/k"); err != nil || st.Size != int64(len(b)) {
		t.Fatalf("Stat after heal: %+v %v", st, err)
	}
}

// TestS3PutTimeoutThenRecovers: the server's answers are delayed so that no
// attempt of a multipart upload finishes within PutTimeout; attempts are
// abandoned (and their multipart uploads aborted) until the link heals,
// then the object lands whole, and no multipart upload is left behind.
// (The answers are delayed rather than the uploads throttled: the proxy
// would buffer whole parts and deliver them after the abort, which a real
// link, whose buffers are small, does not.)
func TestS3PutTimeoutThenRecovers(t *testing.T) {
	srv := s3test.Start(t)
	s, p, retries := faultyStore(t, srv, func(o *tiering.S3Options) { o.PutTimeout = time.Second })
	b := bytes.Repeat([]byte("throttled! "), 1_200_000) // ~13 MB: 3 parts
	p.Shape(faultharness.Backward, faultharness.Shaping{Latency: 1500 * time.Millisecond})
	putAcrossFault(t, s, p, retries, "seg/throttled", b, 2500*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for u := range srv.Client().ListIncompleteUploads(ctx, s.Bucket(), "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		_, perr := minio.Core{Client: srv.Client()}.ListObjectParts(ctx, s.Bucket(), u.Key, u.UploadID, 0, 10)
		t.Errorf("multipart upload left behind: %s %s (list parts: %v)", u.Key, u.UploadID, perr)
	}
}
