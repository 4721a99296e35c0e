package httpapi

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// rawPost opens a connection and sends a POST head announcing length body
// bytes (-1: chunked) with the given extra header lines, then the first
// bytes of its body, and no more.
func (h *harness) rawPost(path string, length int, headers []string, first []byte) net.Conn {
	h.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	var b strings.Builder
	b.WriteString("POST " + path + " HTTP/1.1\r\nHost: gateway\r\n")
	if length >= 0 {
		b.WriteString("Content-Length: " + strconv.Itoa(length) + "\r\n")
	} else {
		b.WriteString("Transfer-Encoding: chunked\r\n")
	}
	for _, l := range headers {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		h.t.Fatal(err)
	}
	if _, err := c.Write(first); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// readAnswer reads one response from c within timeout.
func readAnswer(t *testing.T, c net.Conn, br *bufio.Reader, timeout time.Duration) *response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", timeout, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer's body: %v", err)
	}
	if resp.Close { // net/http takes the header out
		resp.Header.Set("Connection", "close")
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantClosed checks that the server ends the connection after its answer.
func wantClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the answer: read %d bytes, %v; want the connection closed", n, err)
	}
}

// TestBodyWithheldWhenRefused: a POST whose token does not verify, or whose
// Content-Length is over the limit, is answered from its head alone, at
// once, without a byte of its body (no "100 Continue" either), and its
// connection is closed after the answer. A POST with a good token but
// without the permission is refused after the first 8 KiB, not the body.
func TestBodyWithheldWhenRefused(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 1)
	other, err := auth.NewSecretMinter([]byte(strings.Repeat("k", 40)))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Mint(auth.MintOptions{Subject: "mallory", Admin: true, TTL: time.Hour, Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	noProduce := h.token(auth.MintOptions{Subject: "reader", Consume: []string{"*"}})
	const path = "/v1/topics/orders/events"
	for _, tc := range []struct {
		name    string
		path    string
		length  int
		headers []string
		first   []byte
		status  int
		code    string
	}{
		{"no token", path, DefaultMaxBodyBytes, nil, nil, 401, "unauthenticated"},
		{"not a JWT", path, DefaultMaxBodyBytes, []string{"Authorization: Bearer not-a-jwt"}, nil, 401, "unauthenticated"},
		{"forged", path, DefaultMaxBodyBytes, []string{"Authorization: Bearer " + forged}, nil, 401, "unauthenticated"},
		{"expect 100-continue", path, DefaultMaxBodyBytes, []string{"Expect: 100-continue"}, nil, 401, "unauthenticated"},
		{"chunked", path, -1, nil, []byte("4000\r\n"), 401, "unauthenticated"},
		{"admin route", "/v1/topics", 1000, []string{"Authorization: Bearer " + forged}, nil, 401, "unauthenticated"},
		{"a client's own marker", path, 1000, []string{withheldHeader + ": " + withheldTooLarge}, nil, 401, "unauthenticated"},
		{"too large", path, DefaultMaxBodyBytes + 1, []string{"Authorization: Bearer " + h.admin()}, nil, 413, "payload_too_large"},
		{"no permission", path, DefaultMaxBodyBytes, []string{"Authorization: Bearer " + noProduce}, bytes.Repeat([]byte("x"), 8<<10), 403, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.rawPost(tc.path, tc.length, append(tc.headers, "Content-Type: application/json"), tc.first)
			br := bufio.NewReader(c)
			r := readAnswer(t, c, br, 2*time.Second)
			wantError(t, r, tc.status, tc.code)
			if r.header.Get("Connection") != "close" {
				t.Fatalf("answer without Connection: close: %v", r.header)
			}
			wantClosed(t, c, br)
		})
	}
	// None of them brought a body byte into the request log.
	if strings.Contains(h.logs.String(), `"bytes_in":1`) {
		t.Fatalf("a refused body was read: %s", h.logs.String())
	}
}

// TestBodyNotPreParsed: fasthttp would read a whole multipart body before
// the handler; the produce route refuses its media type once the first
// 8 KiB (fasthttp's prefetch) are in.
func TestBodyNotPreParsed(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 1)
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"*"}})
	c := h.rawPost("/v1/topics/orders/events", DefaultMaxBodyBytes,
		[]string{"Authorization: Bearer " + tok, "Content-Type: multipart/form-data; boundary=xyz"},
		append([]byte("--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"), bytes.Repeat([]byte("a"), 8<<10)...))
	br := bufio.NewReader(c)
	wantError(t, readAnswer(t, c, br, 2*time.Second), 415, "unsupported_media_type")
	wantClosed(t, c, br)
}

// stallingBody sends its prefix and then nothing until the test ends.
type stallingBody struct {
	prefix io.Reader
	stop   chan struct{}
}

func (s *stallingBody) Read(p []byte) (int, error) {
	if n, err := s.prefix.Read(p); n > 0 || err != io.EOF {
		return n, err
	}
	<-s.stop
	return 0, io.ErrUnexpectedEOF
}

// TestSlowBodyCut: a body that arrives slower than MinBodyRate once
// BodyRateGrace has passed is cut with 408, and so is one that takes
// longer than ReadTimeout; the connection closes, the metric counts them.
func TestSlowBodyCut(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: Limits{BodyRateGrace: 300 * time.Millisecond, MinBodyRate: 64 << 10}})
	h.createTopic("orders", 1)
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"*"}})

	// A chunked body that stalls. (Not through the validating client,
	// which reads the whole body first; 408 is documented in
	// openapi.yaml's error table, as 431, not per route.)
	stop := make(chan struct{})
	defer close(stop)
	hr, _ := http.NewRequest("POST", h.base+"/v1/topics/orders/events", &stallingBody{prefix: strings.NewReader(`{"value":"` + strings.Repeat("x", 1000)), stop: stop})
	hr.Header.Set("Authorization", "Bearer "+tok)
	hr.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := h.raw.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, &response{status: resp.StatusCode, header: resp.Header, body: b}, 408, "timeout", "slower than 65536 bytes/s")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the stalled body was cut after %v", d)
	}

	// A trickle of a byte every 20 ms (50 B/s) with a known length.
	c := h.rawPost("/v1/topics/orders/events", 100000, []string{"Authorization: Bearer " + tok, "Content-Type: application/json"}, bytes.Repeat([]byte(" "), 8<<10))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	br := bufio.NewReader(c)
	r := readAnswer(t, c, br, 3*time.Second)
	wantError(t, r, 408, "timeout", "slower than")
	wantClosed(t, c, br)
	c.Close()
	<-done
	if v := h.metricValue("runnel_gateway_http_slow_bodies_total", nil); v != 2 {
		t.Fatalf("slow bodies counted %v, want 2", v)
	}

	// ReadTimeout bounds a body whatever its rate.
	h2 := newHarness(t, harnessOpts{limits: Limits{BodyRateGrace: time.Hour, ReadTimeout: 300 * time.Millisecond}})
	h2.createTopic("orders", 1)
	c = h2.rawPost("/v1/topics/orders/events", 100000, []string{"Authorization: Bearer " + h2.admin(), "Content-Type: application/json"}, bytes.Repeat([]byte(" "), 8<<10))
	br = bufio.NewReader(c)
	wantError(t, readAnswer(t, c, br, 3*time.Second), 408, "timeout", "not received within 300ms")
	wantClosed(t, c, br)
}

// TestBodyBudget: bodies in flight share MaxBodyBytesInFlight. A request
// that finds it spent waits up to a second: it is served when room comes
// within the wait, and refused with 503 and Retry-After otherwise.
func TestBodyBudget(t *testing.T) {
	const limit = 64 << 10
	h := newHarness(t, harnessOpts{limits: Limits{MaxBodyBytes: limit, MaxBodyBytesInFlight: limit}})
	h.createTopic("orders", 1)
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"*"}})
	event := func(n int) string { return `{"value":"` + strings.Repeat("v", n-len(`{"value":""}`)) + `"}` }
	inFlight := func() float64 {
		mfs, _ := h.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "runnel_gateway_http_body_bytes_in_flight" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}

	// hold sends a body of the whole budget, all but its last byte.
	hold := func() (net.Conn, *bufio.Reader, func()) {
		body := event(limit)
		c := h.rawPost("/v1/topics/orders/events", limit, []string{"Authorization: Bearer " + tok, "Content-Type: application/json"}, []byte(body[:limit-1]))
		testwait.For(t, 5*time.Second, 5*time.Millisecond, func() error {
			if v := inFlight(); v != limit {
				return fmt.Errorf("%v body bytes in flight", v)
			}
			return nil
		})
		return c, bufio.NewReader(c), func() { io.WriteString(c, body[limit-1:]) }
	}

	// Spent for longer than the wait: 503.
	c, br, finish := hold()
	start := time.Now()
	r := h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: event(100)})
	wantError(t, r, 503, "unavailable", "memory")
	if r.header.Get("Retry-After") != "1" || time.Since(start) < bodyBudgetWait {
		t.Fatalf("503 after %v with Retry-After %q", time.Since(start), r.header.Get("Retry-After"))
	}
	finish()
	wantStatus(t, readAnswer(t, c, br, 5*time.Second), 200)

	// Room comes within the wait: served.
	c, br, finish = hold()
	served := make(chan *response, 1)
	go func() {
		served <- h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: event(100)})
	}()
	testwait.For(t, 5*time.Second, 5*time.Millisecond, func() error { return waiting(h.srv.budget, 1) })
	finish()
	wantStatus(t, readAnswer(t, c, br, 5*time.Second), 200)
	wantStatus(t, <-served, 200)
	testwait.For(t, 5*time.Second, 5*time.Millisecond, func() error {
		if v := inFlight(); v != 0 {
			return fmt.Errorf("%v body bytes still in flight", v)
		}
		return nil
	})
	if v := h.metricValue("runnel_gateway_http_body_budget_refusals_total", nil); v != 1 {
		t.Fatalf("budget refusals counted %v, want 1", v)
	}
}

// TestBodyKeepAlive: a connection whose body was read to its end serves the
// next request; one whose body was left unread is closed after the answer.
func TestBodyKeepAlive(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 1)
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"*"}})
	body := `{"value":1}`
	c := h.rawPost("/v1/topics/orders/events", len(body), []string{"Authorization: Bearer " + tok}, []byte(body))
	br := bufio.NewReader(c)
	wantStatus(t, readAnswer(t, c, br, 5*time.Second), 200)
	chunked := "POST /v1/topics/orders/events HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer " + tok +
		"\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	io.WriteString(c, chunked)
	r := readAnswer(t, c, br, 5*time.Second)
	wantStatus(t, r, 200)
	if r.header.Get("Connection") == "close" {
		t.Fatal("a read body closed the connection")
	}
	// A small body the route does not take, or refused: fasthttp read it
	// with the head (its prefetch, its read buffer); it is discarded, and
	// the connection serves on.
	io.WriteString(c, "GET /v1/topics HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer "+h.admin()+"\r\nContent-Length: 5\r\n\r\nhello")
	wantStatus(t, readAnswer(t, c, br, 5*time.Second), 200)
	noProduce := h.token(auth.MintOptions{Subject: "reader", Consume: []string{"*"}})
	io.WriteString(c, "POST /v1/topics/orders/events HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer "+noProduce+"\r\nContent-Length: 11\r\n\r\n"+body)
	r = readAnswer(t, c, br, 5*time.Second)
	wantError(t, r, 403, "forbidden")
	if r.header.Get("Connection") == "close" {
		t.Fatal("a small refused body closed the connection")
	}
	// A larger one, more than fasthttp read with the head: answered, then
	// closed, even though the client sent all of it.
	large := `{"value":"` + strings.Repeat("x", 100000) + `"}`
	io.WriteString(c, "POST /v1/topics/orders/events HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer "+noProduce+"\r\nContent-Length: "+strconv.Itoa(len(large))+"\r\n\r\n"+large)
	r = readAnswer(t, c, br, 5*time.Second)
	wantError(t, r, 403, "forbidden")
	if r.header.Get("Connection") != "close" {
		t.Fatalf("an unread body left the connection open: %v", r.header)
	}
	wantClosed(t, c, br)
}

// TestBodyContentEncoding: compressed bodies are refused; fiber would
// inflate them without bound.
func TestBodyContentEncoding(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 1)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(`{"value":1}`))
	w.Close()
	r := h.do(req{method: "POST", path: "/v1/topics/orders/events", token: h.admin(), body: gz.String(), header: []string{"Content-Encoding", "gzip"}})
	wantError(t, r, 415, "unsupported_media_type", "Content-Encoding")
	r = h.do(req{method: "POST", path: "/v1/topics/orders/events", token: h.admin(), body: `{"value":1}`, header: []string{"Content-Encoding", "identity"}})
	wantStatus(t, r, 200)
}

// TestByteBudget: grants in arrival order, times out, and lets waiters
// behind a leaver in.
func TestByteBudget(t *testing.T) {
	b := newByteBudget(10)
	if !b.acquire(10, 0) {
		t.Fatal("a free budget refused")
	}
	if b.acquire(1, 10*time.Millisecond) {
		t.Fatal("a spent budget granted")
	}
	big, small := make(chan bool), make(chan bool)
	go func() { big <- b.acquire(8, 5*time.Second) }()
	testwait.For(t, 5*time.Second, time.Millisecond, func() error { return waiting(b, 1) })
	go func() { small <- b.acquire(2, 5*time.Second) }()
	testwait.For(t, 5*time.Second, time.Millisecond, func() error { return waiting(b, 2) })
	b.release(2) // enough for the small one, which must wait behind the big one
	if err := waiting(b, 2); err != nil {
		t.Fatal(err)
	}
	b.release(8)
	if !<-big || !<-small {
		t.Fatal("waiters not granted")
	}
	if b.available() != 0 {
		t.Fatalf("available %d", b.available())
	}
	// A waiter that gives up lets the one behind it in.
	go func() { big <- b.acquire(9, 50*time.Millisecond) }()
	testwait.For(t, 5*time.Second, time.Millisecond, func() error { return waiting(b, 1) })
	go func() { small <- b.acquire(1, 5*time.Second) }()
	testwait.For(t, 5*time.Second, time.Millisecond, func() error { return waiting(b, 2) })
	b.release(1)
	if <-big {
		t.Fatal("the big waiter was granted")
	}
	if !<-small {
		t.Fatal("the small waiter was not let in after the big one left")
	}
}

func waiting(b *byteBudget, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiters) != n {
		return fmt.Errorf("%d waiting, want %d", len(b.waiters), n)
	}
	return nil
}

// TestConcurrentStreamedBodies: many connections whose bodies arrive in
// two parts, the second after the handler started reading, each get their
// own body. (fasthttp 1.51 with ReduceMemoryUsage hands a connection's read
// buffer to another connection while a streamed body still reads from it:
// bodies mix or fail.)
func TestConcurrentStreamedBodies(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	keep := &lockedKeepingBackend{fakeBackend: h.be}
	h.srv.be = keep
	h.createTopic("orders", 1)
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"*"}})
	const conns = 40
	bodies := make([]string, conns)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		v := strings.Repeat(strconv.Itoa(i%10), 20000) + strconv.Itoa(i)
		bodies[i] = `{"value":"` + v + `"}`
		// Connections come one after another, so that later ones take
		// read buffers while earlier ones are reading their bodies.
		time.Sleep(2 * time.Millisecond)
		wg.Go(func() {
			body := bodies[i]
			// The head and exactly what fasthttp reads with it, so that
			// nothing more is buffered when the handler starts.
			c := h.rawPost("/v1/topics/orders/events", len(body), []string{"Authorization: Bearer " + tok, "Content-Type: application/json"}, []byte(body[:8<<10]))
			// Let the handler start reading, and other connections
			// come and go, before the rest arrives.
			time.Sleep(50 * time.Millisecond)
			if _, err := io.WriteString(c, body[8<<10:]); err != nil {
				errs <- err
				return
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("connection %d: status %d", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	keep.keptMu.Lock()
	defer keep.keptMu.Unlock()
	got := map[string]bool{}
	for _, ev := range keep.kept {
		got[string(ev.Value)] = true
	}
	for i, b := range bodies {
		if want := b[len(`{"value":`) : len(b)-1]; !got[want] {
			t.Errorf("connection %d's event is not among those produced", i)
		}
	}
}

// lockedKeepingBackend keeps the events it is given, for concurrent
// requests.
type lockedKeepingBackend struct {
	*fakeBackend
	keptMu sync.Mutex
	kept   []event.Event
}

func (k *lockedKeepingBackend) Produce(ctx context.Context, topic string, acks backend.Acks, events []event.Event, idem string) ([]backend.Result, error) {
	k.keptMu.Lock()
	k.kept = append(k.kept, events...)
	k.keptMu.Unlock()
	return k.fakeBackend.Produce(ctx, topic, acks, events, idem)
}
