package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
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

// TestS3PutSendsUnsignedPayloadWithCRC: a single PUT and every part of a
// multipart upload go with UNSIGNED-PAYLOAD (no SHA-256 of the body on
// either side) and the body's CRC-32C, which TestS3ServerChecksBodyCRC
// shows the server verifies.
func TestS3PutSendsUnsignedPayloadWithCRC(t *testing.T) {
	srv := s3test.Start(t)
	u, err := url.Parse("http://" + srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the Host header the request was signed for
	var mu sync.Mutex
	var puts []string
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.ContentLength > 0 {
			mu.Lock()
			puts = append(puts, r.Header.Get("X-Amz-Content-Sha256")+" crc32c="+r.Header.Get(hdrChecksumCRC32C))
			mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	s, err := NewS3(S3Options{
		Endpoint: front.Listener.Addr().String(), Bucket: srv.Bucket(t, "unsigned"), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		PathStyle: true, PartSize: minPartSize,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	small := bytes.Repeat([]byte("s"), 1000)
	large := bytes.Repeat([]byte("L"), minPartSize+1000) // two parts
	for key, b := range map[string][]byte{"small": small, "large": large} {
		if _, err := s.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(puts) != 3 {
		t.Fatalf("%d PUTs with a body, want 3 (one object, two parts): %q", len(puts), puts)
	}
	for _, p := range puts {
		if crc, ok := strings.CutPrefix(p, "UNSIGNED-PAYLOAD crc32c="); !ok || crc == "" {
			t.Fatalf("PUT sent with %q, want UNSIGNED-PAYLOAD and a CRC-32C", p)
		}
	}
}
