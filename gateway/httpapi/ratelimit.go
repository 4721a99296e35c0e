package httpapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
)

// rateLimit spends one token of the subject's bucket, or refuses with
// 429 and when to retry.
func (s *Server) rateLimit(p *auth.Principal) error {
	if s.limiter == nil {
		return nil
	}
	ok, wait := s.limiter.allow(p.Subject)
	if ok {
		return nil
	}
	return &apierr.Error{Status: http.StatusTooManyRequests, Code: apierr.CodeRateLimited,
		Message:    "too many requests for this token's subject; retry after " + wait.Round(time.Millisecond).String(),
		RetryAfter: wait}
}

// sweepAt is the bucket count above which allow drops the buckets of
// subjects that have been idle long enough to be full again.
const sweepAt = 10000

// rateLimiter is a token bucket per key: rate tokens a second, at most
// burst saved up. Buckets are made on first use and dropped, once there
// are many, when full again; so a subject's limit never resets early.
type rateLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int, now func() time.Time) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket. When there is none it returns
// false and how long until there is one.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= sweepAt {
			l.sweepLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// sweepLocked drops full buckets, at most once a second.
func (l *rateLimiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < time.Second {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
