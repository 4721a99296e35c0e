package tiering

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
)

// retrier runs an operation up to attempts times, sleeping a capped,
// jittered exponential backoff between tries, while the error is one that a
// later try may not hit (network failures, timeouts of one attempt, 5xx,
// throttling).
type retrier struct {
	attempts  int
	base, max time.Duration
	timeout   time.Duration
	onRetry   func(attempt int, err error) // observes retried errors; may be nil
}

// do calls op, with a context limited to one attempt's timeout when
// r.timeout is set, until it succeeds, fails for good, or ctx ends.
func (r retrier) do(ctx context.Context, op func(ctx context.Context, attempt int) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if r.timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, r.timeout)
		}
		err = op(actx, attempt)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
		if attempt >= r.attempts || !retryable(err) {
			return err
		}
		if r.onRetry != nil {
			r.onRetry(attempt, err)
		}
		if serr := sleepCtx(ctx, r.backoff(attempt)); serr != nil {
			return errors.Join(serr, err)
		}
	}
}

func (r retrier) backoff(attempt int) time.Duration {
	d := r.base << min(attempt-1, 20)
	if d > r.max || d <= 0 {
		d = r.max
	}
	// Full jitter on the upper half: [d/2, d).
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryable reports whether another attempt of the call may succeed. Errors
// of the caller's own context are not seen here (do checks them first), so a
// deadline here is the per-attempt timeout.
func retryable(err error) bool {
	for _, final := range []error{ErrExists, ErrNotFound, ErrChecksum, ErrInvalidKey, ErrInvalidRange, ErrPrecondition, context.Canceled} {
		if errors.Is(err, final) {
			return false
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	resp := s3Response(err)
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		return true
	}
	switch resp.Code {
	case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed":
		return true
	}
	return errors.Is(err, io.EOF) // connection closed before a response
}

// s3Response finds the S3 error response in err's chain (minio-go's
// ToErrorResponse looks at err itself only, not at wrapped errors).
func s3Response(err error) minio.ErrorResponse {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp
	}
	return minio.ErrorResponse{}
}
