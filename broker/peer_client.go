package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// maxPeerResponseBytes bounds a response a peer broker may send: a fetch
// response is bounded by the request's max_bytes, plus framing.
const maxPeerResponseBytes = 256 << 20

// maxKeptResponseBuffer is the largest response buffer a peerConn keeps
// for the next call: a replica fetch response is at most
// replicaFetchResponseBytes plus framing.
const maxKeptResponseBuffer = replicaFetchResponseBytes + 1<<20

// peerConn is one Kafka protocol connection to another broker, used by a
// replica fetcher: one request at a time, answered in order. It is not safe
// for concurrent use; its owner (one fetcher goroutine) serializes calls.
type peerConn struct {
	nc     net.Conn
	r      *bufio.Reader
	format *kmsg.RequestFormatter
	corr   int32
	buf    []byte
	// body holds the last response read. The response's byte fields (a
	// fetch's record batches) alias it until the next call reads into
	// it: a caller is done with a response before it calls again (the
	// fetcher appends the batches, which copies them to the log), so a
	// follower does not allocate a buffer of a fetch's size per fetch.
	body []byte
	// sessionEnd is when the SASL session ends; zero without one.
	sessionEnd time.Time
}

// dialPeer connects to the Kafka listener of a peer broker, with TLS
// (handshake included) when tlsCfg is set and, with mech set,
// authenticates with SASL.
func dialPeer(ctx context.Context, addr string, self int32, tlsCfg *tls.Config, mech sasl.Mechanism) (*peerConn, error) {
	var (
		nc  net.Conn
		err error
	)
	if tlsCfg != nil {
		d := tls.Dialer{Config: tlsCfg}
		nc, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial peer %s: %w", addr, err)
	}
	c := &peerConn{
		nc: nc, r: bufio.NewReaderSize(nc, 64<<10),
		format: kmsg.NewRequestFormatter(kmsg.FormatterClientID("runnel-replica-" + strconv.Itoa(int(self)))),
	}
	if mech != nil {
		if err := c.authenticate(ctx, mech); err != nil {
			nc.Close()
			return nil, err
		}
	}
	return c, nil
}

// close closes the connection.
func (c *peerConn) close() error { return c.nc.Close() }

// call sends req and reads its response into resp (of the same key; its
// version is set to req's). The deadline bounds the write and the read.
// resp's byte fields are valid until the next call.
func (c *peerConn) call(deadline time.Time, req kmsg.Request, resp kmsg.Response) error {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return fmt.Errorf("peer %s: %w", c.nc.RemoteAddr(), err)
	}
	c.corr++
	c.buf = c.format.AppendRequest(c.buf[:0], req, c.corr)
	if _, err := c.nc.Write(c.buf); err != nil {
		return fmt.Errorf("peer %s: write %s: %w", c.nc.RemoteAddr(), kmsg.NameForKey(req.Key()), err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return fmt.Errorf("peer %s: read %s response: %w", c.nc.RemoteAddr(), kmsg.NameForKey(req.Key()), err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxPeerResponseBytes {
		return fmt.Errorf("peer %s: %s response of %d bytes", c.nc.RemoteAddr(), kmsg.NameForKey(req.Key()), n)
	}
	body := c.body
	if int(n) > cap(body) {
		body = make([]byte, n)
		if n <= maxKeptResponseBuffer {
			c.body = body
		}
	}
	body = body[:n]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return fmt.Errorf("peer %s: read %s response: %w", c.nc.RemoteAddr(), kmsg.NameForKey(req.Key()), err)
	}
	rd := kbin.Reader{Src: body}
	if corr := rd.Int32(); corr != c.corr {
		return fmt.Errorf("peer %s: response correlation id %d, want %d", c.nc.RemoteAddr(), corr, c.corr)
	}
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		kmsg.SkipTags(&rd)
	}
	if err := rd.Complete(); err != nil {
		return fmt.Errorf("peer %s: %s response header: %w", c.nc.RemoteAddr(), kmsg.NameForKey(req.Key()), err)
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		return fmt.Errorf("peer %s: decode %s response: %w", c.nc.RemoteAddr(), kmsg.NameForKey(req.Key()), err)
	}
	return nil
}

// errPeerUnknown means the metadata does not know the address of the
// broker to fetch from (yet).
var errPeerUnknown = errors.New("peer broker address unknown")
