package tiering

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// metaCRC is the user-metadata key (header x-amz-meta-runnel-crc32c) that
// holds an object's CRC-32C as 8 hex digits.
const (
	metaCRC       = "runnel-crc32c"
	metaCRCHeader = "X-Amz-Meta-Runnel-Crc32c"
)

// S3Store is a Store on an S3-compatible bucket, through minio-go. See the
// package documentation for its guarantees.
type S3Store struct {
	client *minio.Client
	core   minio.Core
	opts   S3Options
	log    *slog.Logger
}

// NewS3 returns a store on opts.Bucket. It does not contact the server;
// the first call does (use Stat on any key to check connectivity).
func NewS3(opts S3Options, log *slog.Logger) (*S3Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.fillDefaults()
	if log == nil {
		log = slog.Default()
	}
	tr, err := minio.DefaultTransport(opts.Secure)
	if err != nil {
		return nil, fmt.Errorf("tiering: S3 transport: %w", err)
	}
	if opts.Secure {
		tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.InsecureSkipVerify}
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("tiering: S3 CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tiering: S3 CA file %s: no PEM certificates in it", opts.CAFile)
			}
			tlsConf.RootCAs = pool
		}
		tr.TLSClientConfig = tlsConf
	}
	var creds *credentials.Credentials
	if opts.AccessKey != "" {
		creds = credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, opts.SessionToken)
	} else {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(opts.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       opts.Secure,
		Transport:    tr,
		Region:       opts.Region,
		BucketLookup: lookup,
		MaxRetries:   1, // the store retries whole calls itself, with its own backoff and timeouts
	})
	if err != nil {
		return nil, fmt.Errorf("tiering: S3 client for %s: %w", opts.Endpoint, err)
	}
	return &S3Store{client: client, core: minio.Core{Client: client}, opts: opts, log: log}, nil
}

// Bucket returns the bucket the store writes to.
func (s *S3Store) Bucket() string { return s.opts.Bucket }

func (s *S3Store) retrier(op, key string, timeout time.Duration) retrier {
	return retrier{
		attempts: s.opts.Attempts, base: s.opts.BackoffBase, max: s.opts.BackoffMax, timeout: timeout,
		onRetry: func(attempt int, err error) {
			s.log.Warn("tiering: S3 call failed, retrying", "op", op, "key", key, "attempt", attempt, "err", err)
		},
	}
}

// Put implements Store: one request up to PartSize, a multipart upload
// above it (aborted when it fails); the request that creates the object
// carries If-None-Match: *. See putOnce.
func (s *S3Store) Put(ctx context.Context, key string, body io.ReaderAt, size int64) (ObjectInfo, error) {
	info, err := s.put(ctx, key, body, size)
	return info, opErr("put", key, err)
}

func (s *S3Store) put(ctx context.Context, key string, body io.ReaderAt, size int64) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if size < 0 {
		return ObjectInfo{}, fmt.Errorf("negative size %d", size)
	}
	crc, err := checksumOf(ctx, body, size)
	if err != nil {
		return ObjectInfo{}, err
	}
	var up minio.UploadInfo
	var uncertain bool
	err = s.retrier("put", key, s.opts.PutTimeout).do(ctx, func(ctx context.Context, attempt int) error {
		var err error
		up, err = s.putOnce(ctx, key, body, size, crc)
		var ui *uncertainInitiate
		if errors.As(err, &ui) {
			uncertain = true
		}
		if err == nil {
			return nil
		}
		err = mapS3Error(err)
		if attempt > 1 && errors.Is(err, ErrExists) {
			// An earlier attempt may have landed without its answer
			// reaching us: the object is ours if it holds our bytes.
			if st, serr := s.stat(ctx, key); serr == nil && st.Size == size && st.CRC32C == crc {
				up = minio.UploadInfo{Size: size, LastModified: st.ModTime}
				return nil
			}
		}
		return err
	})
	if uncertain && (err == nil || errors.Is(err, ErrExists)) {
		s.sweepDoomedUploads(ctx, key)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	if up.Size != 0 && up.Size != size { // CompleteMultipartUpload reports no size
		return ObjectInfo{}, fmt.Errorf("%w: server stored %d bytes of %d", ErrChecksum, up.Size, size)
	}
	if got, ok := serverCRC(up.ChecksumCRC32C); ok && got != crc {
		return ObjectInfo{}, fmt.Errorf("%w: server computed CRC-32C %08x, sent %08x", ErrChecksum, got, crc)
	}
	mod := up.LastModified
	if mod.IsZero() {
		mod = time.Now()
	}
	return ObjectInfo{Key: key, Size: size, CRC32C: crc, ModTime: mod}, nil
}

// serverCRC decodes a full-object CRC-32C as S3 returns it (base64 of the
// big-endian value). A multipart composite ("...-N") is not a whole-object
// checksum and is not compared.
func serverCRC(v string) (uint32, bool) {
	if v == "" || strings.Contains(v, "-") {
		return 0, false
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// Stat implements Store.
func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, opErr("stat", key, err)
	}
	var info ObjectInfo
	err := s.retrier("stat", key, s.opts.CallTimeout).do(ctx, func(ctx context.Context, _ int) error {
		var err error
		info, err = s.stat(ctx, key)
		return err
	})
	return info, opErr("stat", key, err)
}

func (s *S3Store) stat(ctx context.Context, key string) (ObjectInfo, error) {
	oi, err := s.client.StatObject(ctx, s.opts.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, mapS3Error(err)
	}
	crc, err := recordedCRC(oi.Metadata)
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: oi.Size, CRC32C: crc, ModTime: oi.LastModified}, nil
}

func recordedCRC(h http.Header) (uint32, error) {
	v := h.Get(metaCRCHeader)
	if v == "" {
		return 0, fmt.Errorf("%w: object carries no %s metadata (not written by this store?)", ErrChecksum, metaCRC)
	}
	n, err := strconv.ParseUint(v, 16, 32)
	if err != nil || len(v) != 8 {
		return 0, fmt.Errorf("%w: unreadable %s metadata %q", ErrChecksum, metaCRC, v)
	}
	return uint32(n), nil
}

// Get implements Store. CallTimeout bounds the wait for the response
// headers; the body is then read under ctx alone.
func (s *S3Store) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	rc, err := s.get(ctx, key, off, length)
	return rc, opErr("get", key, err)
}

func (s *S3Store) get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if off < 0 || length < -1 {
		return nil, fmt.Errorf("%w: offset %d length %d", ErrInvalidRange, off, length)
	}
	if length == 0 {
		return s.emptyRead(ctx, key, off)
	}
	var out io.ReadCloser
	err := s.retrier("get", key, 0).do(ctx, func(ctx context.Context, _ int) error {
		var err error
		out, err = s.getOnce(ctx, key, off, length)
		return err
	})
	if errors.Is(err, ErrInvalidRange) {
		// S3 refuses a range that starts at the end; the contract gives an
		// empty read there.
		return s.emptyRead(ctx, key, off)
	}
	return out, err
}

// emptyRead answers a read of no bytes at off: an empty reader when the
// object exists and off is within [0, size].
func (s *S3Store) emptyRead(ctx context.Context, key string, off int64) (io.ReadCloser, error) {
	st, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if _, err := clampRange(off, 0, st.Size); err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}

func (s *S3Store) getOnce(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	var gopts minio.GetObjectOptions
	switch {
	case off == 0 && length == -1:
	case length == -1:
		_ = gopts.SetRange(off, 0)
	default:
		_ = gopts.SetRange(off, off+length-1)
	}
	rctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(s.opts.CallTimeout, cancel)
	body, _, hdr, err := s.core.GetObject(rctx, s.opts.Bucket, key, gopts)
	if !timer.Stop() {
		if err == nil {
			body.Close()
		}
		cancel()
		return nil, fmt.Errorf("no response within %v: %w", s.opts.CallTimeout, context.DeadlineExceeded)
	}
	if err != nil {
		cancel()
		return nil, mapS3Error(err)
	}
	rc := &cancelCloser{ReadCloser: body, cancel: cancel}
	total, n, err := responseSizes(hdr)
	if err != nil {
		rc.Close()
		return nil, err
	}
	if off != 0 || n != total {
		return &ctxReader{ctx: ctx, rc: rc, key: key}, nil
	}
	crc, err := recordedCRC(hdr)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return newVerifyReader(ctx, rc, key, total, crc), nil
}

// responseSizes returns the object's total size and the length of the
// returned body, from Content-Range (ranged) or Content-Length (whole).
func responseSizes(h http.Header) (total, n int64, err error) {
	n, err = strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if err != nil || n < 0 {
		return 0, 0, fmt.Errorf("response without a valid Content-Length (%q)", h.Get("Content-Length"))
	}
	cr := h.Get("Content-Range")
	if cr == "" {
		return n, n, nil
	}
	i := strings.LastIndexByte(cr, '/')
	if i < 0 {
		return 0, 0, fmt.Errorf("unreadable Content-Range %q", cr)
	}
	total, err = strconv.ParseInt(cr[i+1:], 10, 64)
	if err != nil || total < n {
		return 0, 0, fmt.Errorf("unreadable Content-Range %q", cr)
	}
	return total, n, nil
}

type cancelCloser struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelCloser) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// List implements Store. A listing interrupted by a failure resumes after
// the last key delivered; CallTimeout bounds the wait for each next entry.
func (s *S3Store) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := validatePrefix(prefix); err != nil {
		return opErr("list", prefix, err)
	}
	var after string
	var fnErr error
	err := s.retrier("list", prefix, 0).do(ctx, func(ctx context.Context, _ int) error {
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		timer := time.AfterFunc(s.opts.CallTimeout, cancel)
		defer timer.Stop()
		for oi := range s.client.ListObjectsIter(lctx, s.opts.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, StartAfter: after}) {
			if !timer.Stop() {
				return fmt.Errorf("no listing response within %v: %w", s.opts.CallTimeout, context.DeadlineExceeded)
			}
			if oi.Err != nil {
				return mapS3Error(oi.Err)
			}
			if err := fn(ObjectInfo{Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
				fnErr = err
				return nil
			}
			after = oi.Key
			timer.Reset(s.opts.CallTimeout)
		}
		if lctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("no listing response within %v: %w", s.opts.CallTimeout, context.DeadlineExceeded)
		}
		return ctx.Err()
	})
	if fnErr != nil {
		return fnErr
	}
	return opErr("list", prefix, err)
}

// Delete implements Store.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return opErr("delete", key, err)
	}
	err := s.retrier("delete", key, s.opts.CallTimeout).do(ctx, func(ctx context.Context, _ int) error {
		err := mapS3Error(s.client.RemoveObject(ctx, s.opts.Bucket, key, minio.RemoveObjectOptions{}))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
	return opErr("delete", key, err)
}

// mapS3Error gives S3 error responses their Store meaning, keeping the
// server's message.
func mapS3Error(err error) error {
	if err == nil {
		return nil
	}
	resp := s3Response(err)
	var sentinel error
	switch {
	case resp.Code == "NoSuchBucket":
		return fmt.Errorf("bucket does not exist: %w", err)
	case resp.Code == "NoSuchKey", resp.Code == "NotFound", resp.StatusCode == http.StatusNotFound:
		sentinel = ErrNotFound
	case resp.Code == "PreconditionFailed", resp.StatusCode == http.StatusPreconditionFailed:
		sentinel = ErrExists
	case resp.Code == "ConditionalRequestConflict", resp.StatusCode == http.StatusConflict:
		sentinel = ErrPrecondition
	case resp.Code == "InvalidRange", resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		sentinel = ErrInvalidRange
	case resp.Code == "BadDigest", resp.Code == "InvalidDigest", resp.Code == "XAmzContentChecksumMismatch",
		resp.Code == "XAmzContentSHA256Mismatch", resp.Code == "InvalidChecksum":
		sentinel = ErrChecksum
	default:
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}
