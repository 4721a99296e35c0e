package listen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/websocket"
)

// servers runs the gateway's arrangement on one real TCP listener: fiber on
// the rest listener, net/http with gorilla/websocket on the ws listener.
type servers struct {
	addr     string
	ws, rest net.Listener
	app      *fiber.App
	hs       *http.Server
}

func startServers(t *testing.T, opts Options) *servers {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ws, rest, err := Split(ln, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &servers{addr: ln.Addr().String(), ws: ws, rest: rest}

	s.app = fiber.New(fiber.Config{DisableStartupMessage: true})
	s.app.All("/*", func(c *fiber.Ctx) error {
		return c.SendString("rest " + c.Method() + " " + c.OriginalURL())
	})
	restDone := make(chan error, 1)
	go func() { restDone <- s.app.Listener(rest) }()

	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.WriteMessage(websocket.TextMessage, []byte("ws "+r.URL.RequestURI()))
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, msg)
		}
	})
	s.hs = &http.Server{Handler: mux}
	wsDone := make(chan error, 1)
	go func() { wsDone <- s.hs.Serve(ws) }()

	t.Cleanup(func() {
		s.app.Shutdown()
		s.hs.Close()
		for _, ch := range []chan error{restDone, wsDone} {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				t.Error("a server did not stop")
			}
		}
	})
	return s
}

// rawRequest sends req on a new connection, a few bytes per write, and
// returns the status line and body of the answer.
func rawRequest(t *testing.T, addr, req string) (status, body string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < len(req); i += 7 {
		if _, err := io.WriteString(c, req[i:min(i+7, len(req))]); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status, string(b)
}

func TestSplitRoutes(t *testing.T) {
	s := startServers(t, Options{})

	// REST over a pooled client connection.
	for range 3 {
		resp, err := http.Post("http://"+s.addr+"/v1/topics?x=1", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "rest POST /v1/topics?x=1" {
			t.Fatalf("REST answer %q", b)
		}
	}

	// A WebSocket, with a query string.
	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.addr+"/v1/ws?access_token=abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "ws /v1/ws?access_token=abc" {
		t.Fatalf("first message %q, %v", msg, err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("echo")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "echo" {
		t.Fatalf("echo %q, %v", msg, err)
	}

	upgrade := "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	tests := []struct{ name, req, status, body string }{
		{"upgrade header in pieces", "GET /v1/ws HTTP/1.1\r\nHost: x\r\n" + upgrade + "\r\n", "101 Switching Protocols", ""},
		{"upgrade token in a list, LF lines", "GET /v1/ws?a=b HTTP/1.1\nHost: x\nConnection: keep-alive, Upgrade\nupgrade: foo, WebSocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n\n", "101 Switching Protocols", ""},
		{"plain GET of the ws path", "GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK", "rest GET /v1/ws"},
		{"upgrade to another path", "GET /v1/wsx HTTP/1.1\r\nHost: x\r\n" + upgrade + "\r\n", "200 OK", "rest GET /v1/wsx"},
		{"upgrade with another method", "POST /v1/ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n" + upgrade + "\r\n", "200 OK", "rest POST /v1/ws"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawRequest(t, s.addr, tc.req)
			if status != tc.status || (tc.body != "" && body != tc.body) {
				t.Fatalf("got %q %q, want %q %q", status, body, tc.status, tc.body)
			}
		})
	}
}

// TestSplitFirstRequestDecides shows the documented limit: an upgrade sent
// as the second request of a REST keep-alive connection reaches fiber.
func TestSplitFirstRequestDecides(t *testing.T) {
	s := startServers(t, Options{})
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, req := range []string{
		"GET /v1/topics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /v1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	} {
		io.WriteString(c, req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "rest GET") {
			t.Fatalf("%q answered %s %q, want fiber's 200", req, resp.Status, b)
		}
	}
}

func TestSplitSilentConnectionClosed(t *testing.T) {
	s := startServers(t, Options{PeekTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want EOF", n, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the peek timeout", d)
	}
	// A partial request line that stalls is closed too.
	c2, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "GET /v1/w")
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c2.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want EOF", n, err)
	}
}

func TestSplitLongHeadGoesToREST(t *testing.T) {
	s := startServers(t, Options{MaxPeekBytes: 256})
	req := "GET /v1/ws HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 600) + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
	status, body := rawRequest(t, s.addr, req)
	if status != "200 OK" || body != "rest GET /v1/ws" {
		t.Fatalf("got %q %q, want fiber's answer", status, body)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		in            string
		decided, isWS bool
	}{
		{"", false, false},
		{"GE", false, false},
		{"POST / HTTP/1.1\r\n", true, false},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", true, false},
		{"GET /v1/x", true, false},
		{"GET /v1/w", false, false},
		{"GET http://h/v1/ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", true, true},
		{"GET /v1/ws HTTP/1.1\r\nUpgrade: websocket\r\n", false, false},
		{"GET /v1/ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", true, true},
		{"GET /v1/ws#f HTTP/1.1\r\nUpgrade:websocket\r\n\r\n", true, true},
		{"GET /v1/ws HTTP/1.1\r\nUpgrade: h2c\r\n\r\n", true, false},
		{"GET /v1/ws HTTP/1.1\r\nX-Upgrade: websocket\r\n\r\n", true, false},
		{"GET /v1/ws HTTP/2.0\r\nUpgrade: websocket\r\n\r\n", true, false},
		{"\x16\x03\x01\x02\x00", true, false},
	}
	for _, tc := range tests {
		decided, isWS := classify([]byte(tc.in), "/v1/ws")
		if decided != tc.decided || isWS != tc.isWS {
			t.Errorf("classify(%q) = %v, %v; want %v, %v", tc.in, decided, isWS, tc.decided, tc.isWS)
		}
	}
}

// acceptResult runs Accept on l and reports its outcome.
func acceptResult(l net.Listener) chan error {
	ch := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if c != nil {
			c.Close()
		}
		ch <- err
	}()
	return ch
}

func waitErr(t *testing.T, ch chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Accept did not return", what)
		return nil
	}
}

func TestSplitCloseChildren(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ws, rest, err := Split(ln, Options{PeekTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if ws.Addr().String() != ln.Addr().String() || rest.Addr().String() != ln.Addr().String() {
		t.Fatalf("addresses %v %v, want %v", ws.Addr(), rest.Addr(), ln.Addr())
	}

	// A blocked Accept returns net.ErrClosed when its listener closes.
	blocked := acceptResult(ws)
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, blocked, "ws"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ws Accept after Close: %v", err)
	}
	if _, err := ws.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second ws Accept: %v", err)
	}
	if err := ws.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}

	// The other listener still works; a WebSocket connection is closed.
	restConn := acceptResult(rest)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /x HTTP/1.1\r\n\r\n")
	if err := waitErr(t, restConn, "rest"); err != nil {
		t.Fatalf("rest Accept: %v", err)
	}
	c.Close()
	c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /v1/ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("WebSocket connection with ws closed: read %v, want EOF", err)
	}
	c.Close()

	// A connection still being peeked at does not hold up the last Close,
	// which closes the parent.
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	restBlocked := acceptResult(rest)
	start := time.Now()
	if err := rest.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := waitErr(t, restBlocked, "rest"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("rest Accept after Close: %v", err)
	}
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatal("peeked connection still open after Close")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("parent Accept after both closed: %v", err)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("parent still accepts connections")
	}
}

func TestSplitCloseParent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ws, rest, err := Split(ln, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := acceptResult(ws), acceptResult(rest)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	for i, ch := range []chan error{a, b} {
		if err := waitErr(t, ch, fmt.Sprint("listener ", i)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("listener %d Accept after parent Close: %v", i, err)
		}
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rest.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSplitOptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, o := range []Options{{WebSocketPath: "v1/ws"}, {PeekTimeout: -1}, {MaxPeekBytes: 3}} {
		if _, _, err := Split(ln, o); err == nil {
			t.Errorf("Split with %+v: no error", o)
		}
	}
	if _, _, err := Split(nil, Options{}); err == nil {
		t.Error("Split(nil): no error")
	}
}

// TestPeekedConnLetsGoOfTheHead: once the peeked head is replayed, the
// connection no longer holds the peek buffer, which would otherwise stay
// with every long-lived (WebSocket) connection.
func TestPeekedConnLetsGoOfTheHead(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	head := make([]byte, 0, 2048)
	head = append(head, "GET /v1/ws HTTP/1.1\r\n\r\n"...)
	c := &peekedConn{Conn: server, head: head}
	go client.Write([]byte("more"))
	got, err := io.ReadAll(io.LimitReader(c, int64(len(head))+4))
	if err != nil || string(got) != "GET /v1/ws HTTP/1.1\r\n\r\nmore" {
		t.Fatalf("read %q, %v", got, err)
	}
	if c.head != nil {
		t.Fatalf("the connection still holds the peek buffer (%d bytes)", cap(c.head))
	}
}
