package brokertest

import (
	"io"
	"net"
	"testing"
	"time"
)

// LoopbackMBps copies size bytes between two loopback sockets of this process
// (1 MiB writes and reads) and returns the rate in MB/s: the baseline that
// fetch benchmarks compare sendfile against, measured in the same run.
func LoopbackMBps(tb testing.TB, size int) float64 {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		for n := 0; n < size; n += len(buf) {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.CopyBuffer(io.Discard, io.LimitReader(conn, int64(size)), make([]byte, 1<<20)); err != nil {
		tb.Fatal(err)
	}
	return float64(size) / 1e6 / time.Since(start).Seconds()
}
