package listen

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"time"
)

// errNoHead is returned for a connection that closed or timed out before
// its first request line.
var errNoHead = errors.New("no request head")

// peek reads c until it can tell whether the first request is a WebSocket
// upgrade to path, and returns the bytes read. It decides as early as it
// can: a request line that is not "GET <path>" needs no headers. A head
// longer than maxBytes is not an upgrade. It fails when c sends nothing
// decisive within timeout, or closes.
func peek(c net.Conn, path string, timeout time.Duration, maxBytes int) (head []byte, isWS bool, err error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, false, err
	}
	buf := make([]byte, 0, min(maxBytes, 2048))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), maxBytes-cap(buf)))...)[:len(buf)]
		}
		n, rerr := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		decided, ws := classify(buf, path)
		if !decided && len(buf) >= maxBytes {
			decided, ws = true, false
		}
		if decided {
			if err := c.SetReadDeadline(time.Time{}); err != nil {
				return nil, false, err
			}
			return buf, ws, nil
		}
		if rerr != nil {
			return nil, false, fmt.Errorf("%w after %d bytes: %w", errNoHead, len(buf), rerr)
		}
	}
}

// classify looks at the start of a connection. decided is false while more
// bytes are needed.
func classify(buf []byte, path string) (decided, isWS bool) {
	const get = "GET "
	if n := min(len(buf), len(get)); !bytes.Equal(buf[:n], []byte(get[:n])) {
		return true, false
	}
	line, rest, ok := cutLine(buf)
	if !ok {
		// An origin-form target so far must still be able to become
		// path; other forms wait for the whole line.
		target := buf[min(len(buf), len(get)):]
		if n := min(len(target), len(path)); n > 0 && target[0] == '/' && !bytes.Equal(target[:n], []byte(path[:n])) {
			return true, false
		}
		return false, false
	}
	target, proto, ok := bytes.Cut(line[len(get):], []byte(" "))
	if !ok || !bytes.HasPrefix(proto, []byte("HTTP/1.")) || string(requestPath(target)) != path {
		return true, false
	}
	upgrade := false
	for {
		line, rest, ok = cutLine(rest)
		if !ok {
			return false, false
		}
		if len(line) == 0 {
			return true, upgrade
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Upgrade")) && hasToken(value, "websocket") {
			upgrade = true
		}
	}
}

// cutLine splits off the first line of b, without its "\r\n" or "\n".
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, b, false
	}
	return bytes.TrimSuffix(b[:i], []byte("\r")), b[i+1:], true
}

// requestPath returns the path of a request target: without the query,
// and without scheme and authority in the absolute form proxies send.
func requestPath(target []byte) []byte {
	for _, scheme := range []string{"http://", "https://"} {
		if len(target) >= len(scheme) && bytes.EqualFold(target[:len(scheme)], []byte(scheme)) {
			target = target[len(scheme):]
			if i := bytes.IndexByte(target, '/'); i >= 0 {
				target = target[i:]
			} else {
				target = []byte("/")
			}
			break
		}
	}
	if i := bytes.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	return target
}

// hasToken reports whether a comma-separated header value holds token,
// compared without case.
func hasToken(value []byte, token string) bool {
	for len(value) > 0 {
		var item []byte
		item, value, _ = bytes.Cut(value, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(item), []byte(token)) {
			return true
		}
	}
	return false
}
