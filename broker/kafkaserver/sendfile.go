package kafkaserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"golang.org/x/sys/unix"
)

// errShortFile means a file region reached past the end of its file.
var errShortFile = errors.New("file region extends past the end of the file")

// maxSendfileChunk bounds one sendfile(2) call; Linux caps a call at about
// 2 GiB anyway, and smaller calls let EAGAIN hand back to the netpoller.
const maxSendfileChunk = 4 << 20

// sendfileTCP sends r to the socket behind sock with sendfile(2) at r's
// explicit position, looping until all of it is sent. It returns the bytes
// sent. The file's descriptor is used inside File.SyscallConn().Control,
// which holds a reference so a concurrent Close cannot free (and the
// process reuse) the descriptor mid-call; the socket is used inside
// RawConn.Write, so EAGAIN parks on the netpoller and write deadlines and
// Close of the connection apply.
func sendfileTCP(sock syscall.RawConn, r commitlog.FileSlice) (int64, error) {
	fconn, err := r.File.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("file %s: %w", r.File.Name(), err)
	}
	var (
		sent    int64
		sendErr error
	)
	ctlErr := fconn.Control(func(ffd uintptr) {
		writeErr := sock.Write(func(sfd uintptr) bool {
			for sent < r.Size {
				off := r.Position + sent
				n, err := unix.Sendfile(int(sfd), int(ffd), &off, int(min(r.Size-sent, maxSendfileChunk)))
				if n > 0 {
					sent += int64(n)
				}
				switch {
				case err == unix.EAGAIN:
					return false // wait until the socket is writable
				case err == unix.EINTR:
					continue
				case err != nil:
					sendErr = os.NewSyscallError("sendfile", err)
					return true
				case n == 0:
					sendErr = errShortFile
					return true
				}
			}
			return true
		})
		if sendErr == nil && writeErr != nil {
			sendErr = writeErr
		}
	})
	if ctlErr != nil {
		// Control fails only for a file closed under us.
		return sent, fmt.Errorf("file %s: %w (%v)", r.File.Name(), os.ErrClosed, ctlErr)
	}
	if sendErr != nil {
		return sent, fmt.Errorf("sendfile %s [%d,+%d): %w", r.File.Name(), r.Position, r.Size, sendErr)
	}
	return sent, nil
}

// copyRegion is the fallback for connections without a TCP socket
// underneath: it reads r with ReadAt into buf and writes it to w.
func copyRegion(w io.Writer, r commitlog.FileSlice, buf []byte) (int64, error) {
	var sent int64
	for sent < r.Size {
		chunk := buf[:min(int64(len(buf)), r.Size-sent)]
		n, err := r.File.ReadAt(chunk, r.Position+sent)
		if n < len(chunk) {
			if err == nil || errors.Is(err, io.EOF) {
				err = errShortFile
			}
			return sent, fmt.Errorf("read %s [%d,+%d): %w", r.File.Name(), r.Position, r.Size, err)
		}
		if _, err := w.Write(chunk); err != nil {
			return sent, err
		}
		sent += int64(n)
	}
	return sent, nil
}

// tcpRawConn returns the raw socket of c when c is a TCP connection, so
// file regions can go out with sendfile.
func tcpRawConn(c net.Conn) syscall.RawConn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
