package tiering

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// Header names of S3's additional checksums.
const (
	hdrChecksumCRC32C = "X-Amz-Checksum-Crc32c"
	hdrChecksumAlgo   = "X-Amz-Checksum-Algorithm"
)

// abortTimeout bounds the clean-up of a failed multipart upload, which runs
// even when the caller's context is already done.
const abortTimeout = 30 * time.Second

// crcBase64 is the wire form of a CRC-32C in x-amz-checksum-crc32c.
func crcBase64(crc uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	return base64.StdEncoding.EncodeToString(b[:])
}

// putOnce makes one attempt at storing the object, create-only. Up to
// PartSize it is a single PUT carrying If-None-Match: * and the object's
// CRC-32C, which the server checks against the body. Bodies go with
// UNSIGNED-PAYLOAD: the CRC-32C the server verifies protects them, and
// minio-go's default over plain HTTP (a streaming SHA-256 signature of
// every 64 KiB chunk, checked again by the server) costs the CPU that
// producers on the same cores need; over TLS minio-go sends
// UNSIGNED-PAYLOAD anyway. Above, it is a
// multipart upload driven here rather than by minio-go's PutObject, because
// minio-go (v7.4.1) drops custom headers from CompleteMultipartUpload,
// which is the request where If-None-Match must go; every part carries its
// own CRC-32C for the server to check.
func (s *S3Store) putOnce(ctx context.Context, key string, body io.ReaderAt, size int64, crc uint32) (minio.UploadInfo, error) {
	meta := map[string]string{metaCRC: fmt.Sprintf("%08x", crc)}
	if uint64(size) <= s.opts.PartSize {
		meta[hdrChecksumCRC32C] = crcBase64(crc)
		opts := minio.PutObjectOptions{UserMetadata: meta, ContentType: "application/octet-stream", DisableContentSha256: true}
		opts.SetMatchETagExcept("*")
		return s.core.PutObject(ctx, s.opts.Bucket, key, io.NewSectionReader(body, 0, size), size, "", "", opts)
	}
	meta[hdrChecksumAlgo] = "CRC32C"
	uploadID, err := s.core.NewMultipartUpload(ctx, s.opts.Bucket, key, minio.PutObjectOptions{UserMetadata: meta, ContentType: "application/octet-stream"})
	if err != nil {
		// The server may have created the upload without the answer
		// reaching us: mark it for sweepDoomedUploads.
		return minio.UploadInfo{}, &uncertainInitiate{err}
	}
	info, err := s.uploadParts(ctx, key, uploadID, body, size)
	if err != nil {
		s.abortUpload(ctx, key, uploadID)
	}
	return info, err
}

// abortUpload aborts a failed multipart upload, even when ctx is done. A
// part still in flight on the server when the abort lands can bring the
// upload back, so the store checks that it is gone and aborts again, a few
// times over a few seconds (as S3's documentation advises). What survives
// is logged; a bucket lifecycle rule (AbortIncompleteMultipartUpload) reaps
// it, and it never becomes an object.
func (s *S3Store) abortUpload(ctx context.Context, key, uploadID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	wait := 100 * time.Millisecond
	var err error
	for range 5 {
		err = s.core.AbortMultipartUpload(actx, s.opts.Bucket, key, uploadID)
		if err != nil && s3Response(err).Code != "NoSuchUpload" {
			break
		}
		if err = sleepCtx(actx, wait); err != nil {
			break
		}
		wait *= 2
		_, err = s.core.ListObjectParts(actx, s.opts.Bucket, key, uploadID, 0, 1)
		if s3Response(err).Code == "NoSuchUpload" {
			return
		}
		if err != nil {
			break
		}
		err = errors.New("upload still present after abort")
	}
	s.log.Warn("tiering: could not abort a failed multipart upload; a bucket lifecycle rule must reap it",
		"key", key, "upload_id", uploadID, "err", err)
}

// uploadParts sends the parts, PartConcurrency at a time, then completes
// the upload on condition that the key is still free.
func (s *S3Store) uploadParts(ctx context.Context, key, uploadID string, body io.ReaderAt, size int64) (minio.UploadInfo, error) {
	partSize := int64(s.opts.PartSize)
	n := int((size + partSize - 1) / partSize)
	parts := make([]minio.CompletePart, n)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, s.opts.PartConcurrency)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-pctx.Done():
		}
		if pctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			part, err := s.uploadPart(pctx, key, uploadID, body, i, partSize, size)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
				return
			}
			parts[i] = part
		})
	}
	wg.Wait()
	if firstErr != nil {
		return minio.UploadInfo{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return minio.UploadInfo{}, err
	}
	opts := minio.PutObjectOptions{}
	opts.SetMatchETagExcept("*")
	return s.core.CompleteMultipartUpload(ctx, s.opts.Bucket, key, uploadID, parts, opts)
}

func (s *S3Store) uploadPart(ctx context.Context, key, uploadID string, body io.ReaderAt, i int, partSize, size int64) (minio.CompletePart, error) {
	off := int64(i) * partSize
	length := min(partSize, size-off)
	sec := io.NewSectionReader(body, off, length)
	h := crc32.New(castagnoli)
	if _, err := copyCtx(ctx, h, sec, length); err != nil {
		return minio.CompletePart{}, err
	}
	sum := crcBase64(h.Sum32())
	if _, err := sec.Seek(0, io.SeekStart); err != nil {
		return minio.CompletePart{}, err
	}
	op, err := s.core.PutObjectPart(ctx, s.opts.Bucket, key, uploadID, i+1, sec, length,
		minio.PutObjectPartOptions{CustomHeader: http.Header{hdrChecksumCRC32C: {sum}}, DisableContentSha256: true})
	if err != nil {
		return minio.CompletePart{}, fmt.Errorf("part %d: %w", i+1, err)
	}
	if op.ChecksumCRC32C != "" && op.ChecksumCRC32C != sum {
		return minio.CompletePart{}, fmt.Errorf("part %d: %w: server CRC-32C %s, sent %s", i+1, ErrChecksum, op.ChecksumCRC32C, sum)
	}
	if op.Size != 0 && op.Size != length {
		return minio.CompletePart{}, errors.New("part size mismatch")
	}
	return minio.CompletePart{PartNumber: i + 1, ETag: op.ETag, ChecksumCRC32C: sum}, nil
}

// uncertainInitiate wraps a failed CreateMultipartUpload, which the server
// may have carried out: an upload may exist that no one knows the id of.
type uncertainInitiate struct{ err error }

func (u *uncertainInitiate) Error() string { return u.err.Error() }
func (u *uncertainInitiate) Unwrap() error { return u.err }

// sweepDoomedUploads aborts the incomplete multipart uploads of key once
// the key holds an object: with If-None-Match: * on completion none of
// them can ever complete, whoever started them. It runs after a Put that
// may have left an upload whose id it never learnt.
func (s *S3Store) sweepDoomedUploads(ctx context.Context, key string) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	var ids []string
	for u := range s.client.ListIncompleteUploads(lctx, s.opts.Bucket, key, true) {
		if u.Err != nil {
			s.log.Warn("tiering: listing incomplete uploads to sweep", "key", key, "err", u.Err)
			return
		}
		if u.Key == key {
			ids = append(ids, u.UploadID)
		}
	}
	for _, id := range ids {
		s.abortUpload(ctx, key, id)
	}
}
