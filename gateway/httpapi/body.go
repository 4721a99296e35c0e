package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// Request bodies.
//
// Left to itself, fasthttp reads a request's whole body before any handler
// runs, into a buffer as large as the Content-Length announces, for as long
// as the read timeout allows: 1,500 unauthenticated POSTs trickling their
// bodies held 1.8 GB. So bodies are streamed (fiber's StreamRequestBody) and
// taken in three steps:
//
//  1. Once a request's head has arrived, before any body byte is read
//     (fasthttp's HeaderReceived hook), a body that will be refused anyway
//     is withheld: one over MaxBodyBytes, or one sent to a /v1 route with a
//     token that does not verify. fasthttp is told the request has no body
//     and that the connection closes after the answer, which is then sent
//     at once; the lingering close (linger.go) discards the body unread.
//  2. fasthttp reads at most the first 8 KiB of the other bodies with the
//     head (its streaming prefetch), both within HeadTimeout.
//  3. The handler, after the token, the rate limit and the permission were
//     checked, reads the rest (Server.body) into a buffer of its own, taken
//     from a budget shared by all requests (budget.go) as the body arrives,
//     at no less than MinBodyRate once BodyRateGrace has passed and within
//     ReadTimeout. The buffer belongs to the request: the produce path
//     decodes its events in place, without another copy.
//
// A request whose body was not read to its end (a refusal, a route that
// takes no body, a body cut for being slow) closes its connection after the
// answer, as the rest of its body would otherwise be read as the next
// request; unless fasthttp's prefetch holds all of it, which is then
// discarded.

// withheldHeader marks a request whose body step 1 withheld; the value says
// why. Every request has it deleted first, so clients cannot set it.
const withheldHeader = "X-Runnel-Body-Withheld"

// Why a body was withheld.
const (
	withheldTooLarge = "too-large"
	withheldToken    = "token"
)

// Body buffer sizes: a body of known length up to exactBodyBuf gets a buffer
// of its length at once; others start at growBodyBuf and double as they
// arrive, so that a slow sender holds no more than it sent.
const (
	exactBodyBuf = 64 << 10
	growBodyBuf  = 16 << 10
)

// bodyBudgetWait is how long a body waits for room in the budget before its
// request is refused with 503: as long as the Retry-After it is told.
const bodyBudgetWait = time.Second

// headerReceived is fasthttp's HeaderReceived hook: step 1.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	h.Del(withheldHeader)
	cl := h.ContentLength()
	if cl == 0 || cl == -2 { // no body (-2: neither length nor chunked)
		return fasthttp.RequestConfig{}
	}
	var why string
	switch {
	case cl > s.limits.MaxBodyBytes:
		why = withheldTooLarge
	case s.needsToken(h) && !s.tokenAccepted(h.Peek(fiber.HeaderAuthorization)):
		why = withheldToken
	default:
		return fasthttp.RequestConfig{}
	}
	h.Set(withheldHeader, why)
	h.SetContentLength(0)     // and no Transfer-Encoding
	h.Del(fiber.HeaderExpect) // no "100 Continue": the body is not wanted
	h.SetConnectionClose()    // its bytes must not be read as a request
	return fasthttp.RequestConfig{}
}

// needsToken reports whether h is for a route that needs a bearer token.
func (s *Server) needsToken(h *fasthttp.RequestHeader) bool {
	if string(h.Method()) == fiber.MethodOptions {
		return false // CORS preflights carry no token
	}
	uri := h.RequestURI()
	if len(uri) > 0 && uri[0] == '/' {
		// The origin form every client sends: the path is what comes
		// before the query (or a fragment), as URI.PathOriginal gives it.
		if i := bytes.IndexAny(uri, "?#"); i >= 0 {
			uri = uri[:i]
		}
		return s.table.needsToken(uri)
	}
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if err := u.Parse(nil, uri); err != nil {
		return false // fiber will refuse it; the prefetch is bounded anyway
	}
	return s.table.needsToken(u.PathOriginal())
}

// withheld reports whether step 1 withheld the request's body for why.
func withheld(c *fiber.Ctx, why string) bool {
	return string(c.Request().Header.Peek(withheldHeader)) == why
}

// bodyState is what Server.body learnt of a request's body.
type bodyState struct {
	buf      []byte
	err      error
	reserved int64 // taken from the budget until the request ends
	complete bool  // read to its end
}

type bodyKey struct{}

// bodyStates are pooled: one per request with a body, on the hot path.
var bodyStates = sync.Pool{New: func() any { return new(bodyState) }}

// body returns the request's body, reading it on the first call (step 3).
// Handlers call it once they have checked everything the head can tell.
func (s *Server) body(c *fiber.Ctx) ([]byte, error) {
	if st, ok := c.Locals(bodyKey{}).(*bodyState); ok {
		return st.buf, st.err
	}
	st := bodyStates.Get().(*bodyState)
	c.Locals(bodyKey{}, st)
	st.buf, st.err = s.readBody(c, st)
	if st.err == nil {
		// For c.Body() in extra routes and for the request log; it also
		// hands fasthttp's prefetch buffer back to its pool.
		c.Request().SetBodyRaw(st.buf)
	}
	return st.buf, st.err
}

// endBody runs when a request has been answered and logged: its body buffer
// goes back to the budget, and a connection whose body was not read to its
// end is closed after the answer.
func (s *Server) endBody(c *fiber.Ctx) {
	st, _ := c.Locals(bodyKey{}).(*bodyState)
	if cl := c.Request().Header.ContentLength(); (cl > 0 || cl == -1) && (st == nil || !st.complete) && !drainPrefetched(c, cl) {
		c.Response().SetConnectionClose()
	}
	if st != nil {
		s.budget.release(st.reserved)
		c.Locals(bodyKey{}, nil)
		*st = bodyState{} // the buffer may live on (an acks=0 write); the state does not
		bodyStates.Put(st)
	}
}

// drainPrefetched discards the unread rest of a body of length cl when
// fasthttp already holds all of it (its prefetch takes up to 8 KiB with the
// head), without waiting for the network, and reports whether it did: then
// the connection can serve the next request. A 404 or 429 for a small body
// then costs the client no new connection.
func drainPrefetched(c *fiber.Ctx, cl int) bool {
	req := c.Request()
	conn := c.Context().Conn()
	if cl < 0 || !req.IsBodyStream() || conn == nil {
		return false
	}
	// Reads of what is held already do not touch the connection; one that
	// does fails at once.
	if conn.SetReadDeadline(time.Now()) != nil {
		return false
	}
	n, err := io.Copy(io.Discard, io.LimitReader(req.BodyStream(), int64(cl)+1))
	return err == nil && n == int64(cl)
}

// bodyBytes is how many body bytes the request brought, for the log.
func bodyBytes(c *fiber.Ctx) int {
	if st, ok := c.Locals(bodyKey{}).(*bodyState); ok {
		return len(st.buf)
	}
	return 0
}

func (s *Server) readBody(c *fiber.Ctx, st *bodyState) ([]byte, error) {
	req := c.Request()
	cl := req.Header.ContentLength()
	if !req.IsBodyStream() {
		// Read already, as in-process requests are: copy it out of
		// fasthttp's buffer, which the next request reuses.
		st.complete = true
		b := req.Body()
		if len(b) == 0 {
			return nil, nil
		}
		if err := s.checkBodyHead(c, len(b)); err != nil {
			return nil, err
		}
		if err := s.reserve(st, len(b)); err != nil {
			return nil, err
		}
		return append(make([]byte, 0, len(b)), b...), nil
	}
	if cl == 0 || cl == -2 {
		st.complete = true
		return nil, nil
	}
	if err := s.checkBodyHead(c, cl); err != nil {
		return nil, err
	}
	return s.readStream(c, st, cl)
}

// checkBodyHead refuses, from the head alone, a body of length cl (-1:
// chunked) that the gateway will not read.
func (s *Server) checkBodyHead(c *fiber.Ctx, cl int) error {
	if enc := c.Request().Header.Peek(fiber.HeaderContentEncoding); len(enc) > 0 && !bytes.EqualFold(enc, []byte("identity")) {
		// fiber would inflate it without bound: a small body could take
		// gigabytes.
		return apierr.New(http.StatusUnsupportedMediaType, codeUnsupportedMediaType,
			"Content-Encoding %q is not accepted; send the body uncompressed", enc)
	}
	if cl > s.limits.MaxBodyBytes {
		return s.bodyTooLarge()
	}
	return nil
}

// readStream reads a streamed body of length cl (-1: chunked).
func (s *Server) readStream(c *fiber.Ctx, st *bodyState, cl int) ([]byte, error) {
	stream := c.Request().BodyStream()
	conn := c.Context().Conn()
	limit, size := s.limits.MaxBodyBytes, min(growBodyBuf, s.limits.MaxBodyBytes)
	if cl >= 0 {
		limit, size = cl, min(cl, growBodyBuf)
		if cl <= exactBodyBuf {
			size = cl
		}
	}
	if err := s.reserve(st, size); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, size)
	start := c.Context().Time() // the head's end: fasthttp's clock as the handler began
	hard := start.Add(s.limits.ReadTimeout)
	read := func(p []byte) (int, error) {
		deadline, rated := s.bodyDeadline(start, hard, len(buf))
		if conn != nil {
			if err := conn.SetReadDeadline(deadline); err != nil {
				return 0, err
			}
		}
		n, err := stream.Read(p)
		if err != nil && !errors.Is(err, io.EOF) {
			err = s.bodyReadError(err, rated, len(buf)+n, cl)
		}
		return n, err
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) == limit {
				if cl >= 0 {
					break
				}
				// A chunked body at the limit: one byte more is too much.
				var one [1]byte
				n, err := read(one[:])
				if n > 0 {
					return nil, s.bodyTooLarge()
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return nil, err
				}
				continue
			}
			old, grown := cap(buf), min(2*cap(buf), limit)
			if err := s.reserve(st, grown); err != nil {
				return nil, err
			}
			buf = append(make([]byte, 0, grown), buf...)
			s.budget.release(int64(old))
			st.reserved -= int64(old)
		}
		n, err := read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if cl >= 0 && len(buf) < cl {
		return nil, apierr.Invalid("the body ended after %d of its %d bytes", len(buf), cl)
	}
	st.complete = true
	return buf, nil
}

// bodyDeadline is when the body must have sent more than got bytes: after
// the grace period, at MinBodyRate; never past hard (ReadTimeout). rated is
// whether the rate, not ReadTimeout, set it.
func (s *Server) bodyDeadline(start, hard time.Time, got int) (deadline time.Time, rated bool) {
	d := start.Add(s.limits.BodyRateGrace + time.Duration(int64(got)*int64(time.Second)/int64(s.limits.MinBodyRate)))
	if d.Before(hard) {
		return d, true
	}
	return hard, false
}

// bodyReadError is what the client is told when its body could not be read.
func (s *Server) bodyReadError(err error, rated bool, got, cl int) error {
	e := &apierr.Error{Status: http.StatusBadRequest, Code: apierr.CodeInvalidRequest, Err: err}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.metrics.slowBodies.Inc()
		e.Status, e.Code = http.StatusRequestTimeout, apierr.CodeTimeout
		e.Message = fmt.Sprintf("the body was not received within %v", s.limits.ReadTimeout)
		if rated {
			e.Message = fmt.Sprintf("the body arrived slower than %d bytes/s after its first %v; the gateway stopped reading it",
				s.limits.MinBodyRate, s.limits.BodyRateGrace)
		}
	case cl < 0:
		e.Message = fmt.Sprintf("the chunked body could not be read after %d bytes: %v", got, err)
	default:
		e.Message = fmt.Sprintf("the body ended after %d of its %d bytes", got, cl)
	}
	return e
}

// reserve takes n bytes of the body budget for st's request.
func (s *Server) reserve(st *bodyState, n int) error {
	if !s.budget.acquire(int64(n), bodyBudgetWait) {
		s.metrics.bodyBudgetRefused.Inc()
		return &apierr.Error{Status: http.StatusServiceUnavailable, Code: apierr.CodeUnavailable, RetryAfter: bodyBudgetWait,
			Message: "the gateway is receiving as many request bodies as its memory allows; retry"}
	}
	st.reserved += int64(n)
	return nil
}

func (s *Server) bodyTooLarge() error {
	return apierr.New(http.StatusRequestEntityTooLarge, apierr.CodeTooLarge, "the request body is larger than %d bytes", s.limits.MaxBodyBytes)
}
