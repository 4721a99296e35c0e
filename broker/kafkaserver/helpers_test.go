package kafkaserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/internal/testwait"
)

// testAPIs is the version table of the test handlers.
var testAPIs = map[int16]VersionRange{
	0: {Min: 3, Max: 9},  // Produce
	1: {Min: 4, Max: 16}, // Fetch
	3: {Min: 0, Max: 12}, // Metadata
}

// testLogger sends the server's log lines to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startServer starts a server on 127.0.0.1:0 and closes it at cleanup,
// checking that Serve returned ErrServerClosed and no goroutine is left.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, cfg, ln), ln.Addr().String()
}

func serveOn(t testing.TB, cfg Config, ln net.Listener) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.APIs == nil {
		cfg.APIs = testAPIs
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		checkNoServerGoroutines(t)
	})
	return s
}

// checkNoServerGoroutines fails if a goroutine of this package's server
// (not of the test) is still running, after a grace period for goroutines
// that have returned but not yet exited.
func checkNoServerGoroutines(t testing.TB) {
	t.Helper()
	testwait.For(t, 5*time.Second, 10*time.Millisecond, func() error {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "kafkaserver.(*conn)") || strings.Contains(g, "kafkaserver.(*Server)") {
				return fmt.Errorf("server goroutine left:\n%s", g)
			}
		}
		return nil
	})
}

// rawClient speaks the protocol on one connection with kmsg, so tests see
// exactly what the server sends.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	f    *kmsg.RequestFormatter
	corr int32
}

func dialRaw(t testing.TB, network, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawClient{t: t, conn: c, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test"))}
}

// send writes req with the next correlation id and returns that id.
func (c *rawClient) send(req kmsg.Request) int32 {
	c.t.Helper()
	c.corr++
	if _, err := c.conn.Write(c.f.AppendRequest(nil, req, c.corr)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	return c.corr
}

// sendRaw writes bytes as they are.
func (c *rawClient) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readFrame reads one response frame.
func (c *rawClient) readFrame() ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(c.conn, sz[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(sz[:]))
	_, err := io.ReadFull(c.conn, frame)
	return frame, err
}

// recv reads one response to a request like req and decodes it at req's
// version, checking the correlation id.
func (c *rawClient) recv(req kmsg.Request, wantCorr int32) kmsg.Response {
	c.t.Helper()
	frame, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	resp, corr, err := decodeResponse(frame, req.Key(), req.GetVersion())
	if err != nil {
		c.t.Fatal(err)
	}
	if corr != wantCorr {
		c.t.Fatalf("correlation id %d, want %d", corr, wantCorr)
	}
	return resp
}

func decodeResponse(frame []byte, key, version int16) (kmsg.Response, int32, error) {
	if len(frame) < 4 {
		return nil, 0, fmt.Errorf("response frame of %d bytes", len(frame))
	}
	corr := int32(binary.BigEndian.Uint32(frame))
	body := frame[4:]
	resp := kmsg.ResponseForKey(key)
	resp.SetVersion(version)
	if resp.IsFlexible() && key != apiVersionsKey {
		var ok bool
		if body, ok = skipTags(body); !ok {
			return nil, corr, errors.New("bad response header tags")
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, corr, fmt.Errorf("decode %s v%d response: %w", kmsg.NameForKey(key), version, err)
	}
	return resp, corr, nil
}

// expectClosed asserts the server closes the connection (after any
// responses still pending).
func (c *rawClient) expectClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := c.readFrame(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
				return
			}
			c.t.Fatalf("want connection closed by server, got %v", err)
		}
	}
}

// metadataResponse answers a Metadata request with one broker (the
// listener's address) and no topics.
func metadataResponse(req *Request) *Response {
	resp := kmsg.NewPtrMetadataResponse()
	host, portStr, _ := net.SplitHostPort(req.Conn.LocalAddr.String())
	port, _ := strconv.Atoi(portStr)
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = 0, host, int32(port)
	resp.Brokers = append(resp.Brokers, b)
	resp.ClusterID = kmsg.StringPtr("runnel-test")
	resp.ControllerID = 0
	return &Response{Msg: resp}
}

// basicHandler answers Metadata; Produce with acks=0 gets no response and
// otherwise an empty one. extra, if set, runs first and may take over.
func basicHandler(extra func(ctx context.Context, req *Request) (*Response, error, bool)) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
		if extra != nil {
			if resp, err, done := extra(ctx, req); done {
				return resp, err
			}
		}
		switch m := req.Msg.(type) {
		case *kmsg.MetadataRequest:
			return metadataResponse(req), nil
		case *kmsg.ProduceRequest:
			if m.Acks == 0 {
				return nil, nil
			}
			return &Response{Msg: kmsg.NewPtrProduceResponse()}, nil
		}
		return nil, fmt.Errorf("test handler: unexpected %s", kmsg.NameForKey(req.Key))
	})
}

// tempFile writes data to a file in dir and opens it for reading.
func tempFile(t testing.TB, dir string, data []byte) *os.File {
	t.Helper()
	f, err := os.CreateTemp(dir, "segment-*.log")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// pattern returns n bytes that differ by position and seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func strconvItoa(i int) string { return strconv.Itoa(i) }

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// counterSum adds up every series of the named counter in reg.
func counterSum(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
