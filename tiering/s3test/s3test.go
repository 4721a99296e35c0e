// Package s3test runs a real S3-compatible server (versitygw, with its
// POSIX backend) on 127.0.0.1 for tests: a temporary directory as storage,
// SigV4 credentials, a free port, stopped by PID at the end of the test.
//
// The binary is installed by `make test-deps` (pinned in the Makefile). A
// test that needs it fails when it is missing, naming that target, unless
// it runs with -short, where it is skipped.
package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// BinaryEnv names an environment variable that may point at the versitygw
// binary; otherwise it is looked up in PATH, then in $GOPATH/bin.
const BinaryEnv = "RUNNEL_VERSITYGW"

// Credentials of the server's root account.
const (
	AccessKey = "runneltest"
	SecretKey = "runneltest-secret-key"
	Region    = "us-east-1"
)

// Server is a running versitygw.
type Server struct {
	// Endpoint is "127.0.0.1:port", to give to minio-go or S3Options.
	Endpoint string
	// Dir is the storage directory: one subdirectory per bucket, one file
	// per object.
	Dir string

	bin      string
	cmd      *exec.Cmd
	log      *syncBuffer
	stopOnce sync.Once
	exited   chan struct{}
}

// Binary returns the path of the versitygw binary, or an error telling how
// to install it.
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if !isExec(p) {
			return "", fmt.Errorf("%s=%s is not an executable file; unset it and run `make test-deps`", BinaryEnv, p)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gopath := build.Default.GOPATH
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		if p := filepath.Join(gobin, "versitygw"); isExec(p) {
			return p, nil
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		if p := filepath.Join(dir, "bin", "versitygw"); isExec(p) {
			return p, nil
		}
	}
	return "", errors.New("versitygw (the S3 server the tiering tests run against) is not installed: run `make test-deps`, or set " + BinaryEnv)
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Start runs a server for the test and stops it at cleanup. It fails the
// test when the binary is missing, except under -short, where it skips.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if testing.Short() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	s, err := start(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func start(bin, dir string) (*Server, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Endpoint: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, bin: bin, log: new(syncBuffer)}
		if lastErr = s.launch(); lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

// launch runs the binary on s.Endpoint and s.Dir and waits until it
// answers; on failure the process is stopped.
func (s *Server) launch() error {
	s.exited = make(chan struct{})
	s.stopOnce = sync.Once{}
	s.cmd = exec.Command(s.bin, "--port", s.Endpoint, "--quiet", "--region", Region, "posix", s.Dir)
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		close(s.exited)
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := s.exited
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := s.waitReady(30 * time.Second); err != nil {
		s.Stop()
		return err
	}
	return nil
}

// Restart starts the server again after Stop, on the same address and
// storage directory, so clients configured with Endpoint reach it again
// and find their objects. It fails the test when the server does not
// come up (another process may have taken the port meanwhile).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.launch(); err != nil {
		t.Fatalf("restart versitygw on %s: %v", s.Endpoint, err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls until the server answers an authenticated ListBuckets.
func (s *Server) waitReady(limit time.Duration) error {
	c := s.Client()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.ListBuckets(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("versitygw exited at start: %s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw on %s not ready after %v: %v; output: %s", s.Endpoint, limit, err, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client returns a plain minio-go client with the root credentials, for
// setting up buckets and for reaching behind a store's back.
func (s *Server) Client() *minio.Client {
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		panic(fmt.Sprintf("s3test: minio client: %v", err)) // only a malformed endpoint fails, and ours is not
	}
	return c
}

// Bucket creates a bucket and returns its name.
func (s *Server) Bucket(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client().MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// Stop kills the server by its PID and waits for it to exit. It is safe to
// call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(syscall.SIGKILL)
		}
		<-s.exited
	})
}

// syncBuffer collects the server's output; exec copies into it from its own
// goroutine while a failing test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Output returns what the server printed so far.
func (s *Server) Output() string { return s.log.String() }
