package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/runnel-dev/runnel/tiering/s3test"
)

func newTestS3(t *testing.T) (*S3Store, *s3test.Server) {
	srv := s3test.Start(t)
	s, err := NewS3(S3Options{
		Endpoint: srv.Endpoint, Bucket: srv.Bucket(t, "internal"), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		PathStyle: true, PartSize: minPartSize,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

// TestS3ServerChecksBodyCRC sends a CRC-32C that does not match the body:
// the server must refuse the object, which shows the checksum sent with a
// single PUT is verified on the server and not merely stored.
func TestS3ServerChecksBodyCRC(t *testing.T) {
	s, _ := newTestS3(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := bytes.Repeat([]byte("runnel"), 1000)
	_, err := s.putOnce(ctx, "wrong/crc", bytes.NewReader(b), int64(len(b)), 0xdeadbeef)
	if err == nil {
		t.Fatal("server accepted a body whose CRC-32C differs from the header")
	}
	if !errors.Is(mapS3Error(err), ErrChecksum) {
		t.Fatalf("server's refusal %v does not map to ErrChecksum", err)
	}
	if _, err := s.Stat(ctx, "wrong/crc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat after the refused Put: %v, want not found", err)
	}
}

func TestS3OptionsValidate(t *testing.T) {
	good := S3Options{Endpoint: "127.0.0.1:9000", Bucket: "b", AccessKey: "a", SecretKey: "s"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good options: %v", err)
	}
	for _, c := range []struct {
		name string
		mod  func(*S3Options)
		want string
	}{
		{"no endpoint", func(o *S3Options) { o.Endpoint = "" }, "endpoint"},
		{"scheme", func(o *S3Options) { o.Endpoint = "http://h:1" }, "without a scheme"},
		{"path", func(o *S3Options) { o.Endpoint = "h:1/x" }, "without a path"},
		{"no bucket", func(o *S3Options) { o.Bucket = "" }, "bucket"},
		{"half creds", func(o *S3Options) { o.SecretKey = "" }, "both or neither"},
		{"small part", func(o *S3Options) { o.PartSize = 1 << 20 }, "5 MiB"},
		{"negative timeout", func(o *S3Options) { o.CallTimeout = -time.Second }, "call timeout"},
		{"tls without https", func(o *S3Options) { o.InsecureSkipVerify = true }, "Secure"},
	} {
		o := good
		c.mod(&o)
		err := o.Validate()
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("%s: %v, want an error mentioning %q", c.name, err, c.want)
		}
		if _, nerr := NewS3(o, nil); nerr == nil {
			t.Errorf("%s: NewS3 accepted invalid options", c.name)
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{ErrExists, false},
		{ErrNotFound, false},
		{ErrChecksum, false},
		{errors.New("some 4xx"), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRetrierBacksOffAndStops(t *testing.T) {
	r := retrier{attempts: 4, base: time.Millisecond, max: 4 * time.Millisecond, timeout: time.Second}
	calls := 0
	err := r.do(context.Background(), func(context.Context, int) error { calls++; return context.DeadlineExceeded })
	if calls != 4 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("retryable failure: %d calls, err %v; want 4 calls", calls, err)
	}
	calls = 0
	err = r.do(context.Background(), func(context.Context, int) error { calls++; return ErrExists })
	if calls != 1 || !errors.Is(err, ErrExists) {
		t.Fatalf("final failure: %d calls, err %v; want 1 call", calls, err)
	}
	for a := 1; a < 30; a++ {
		if d := r.backoff(a); d < r.base/2 || d > r.max {
			t.Fatalf("backoff(%d) = %v outside [%v, %v]", a, d, r.base/2, r.max)
		}
	}
}

func TestWrappedS3ErrorsKeepTheirMeaning(t *testing.T) {
	busy := fmt.Errorf("part 3: %w", minio.ErrorResponse{StatusCode: 503, Code: "SlowDown"})
	if !retryable(busy) {
		t.Fatal("a wrapped 503 SlowDown is not retried")
	}
	taken := &uncertainInitiate{fmt.Errorf("x: %w", minio.ErrorResponse{StatusCode: 412, Code: "PreconditionFailed"})}
	if err := mapS3Error(taken); !errors.Is(err, ErrExists) {
		t.Fatalf("a wrapped 412 maps to %v, want ErrExists", err)
	}
}
