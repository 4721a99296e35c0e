package kafkaserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pipelineRequests writes n copies of frame (correlation ids 1..n) on c
// while reading the n responses, at most depth outstanding, and returns the
// elapsed time. Each response is read into buf and checked for order.
func pipelineRequests(b *testing.B, c net.Conn, frame []byte, n, depth int) time.Duration {
	b.Helper()
	window := make(chan struct{}, depth)
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		bw := bufio.NewWriterSize(c, 64<<10)
		f := append([]byte(nil), frame...)
		for i := range n {
			window <- struct{}{}
			binary.BigEndian.PutUint32(f[8:], uint32(i+1))
			bw.Write(f)
			if len(window) == cap(window) || i == n-1 {
				bw.Flush()
			}
		}
		bw.Flush()
	})
	br := bufio.NewReaderSize(c, 256<<10)
	var hdr [8]byte
	for i := range n {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			b.Fatalf("response %d: %v", i, err)
		}
		if corr := binary.BigEndian.Uint32(hdr[4:]); corr != uint32(i+1) {
			b.Fatalf("response %d has correlation id %d", i, corr)
		}
		if _, err := br.Discard(int(binary.BigEndian.Uint32(hdr[:])) - 4); err != nil {
			b.Fatal(err)
		}
		<-window
	}
	elapsed := time.Since(start)
	wg.Wait()
	return elapsed
}

func benchServer(b *testing.B, h Handler) (*Server, net.Conn) {
	b.Helper()
	s, addr := startServer(b, Config{
		Handler: h,
		Logger:  slog.New(slog.DiscardHandler),
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return s, c
}

// BenchmarkPipelinedRequests measures requests/s over one connection for a
// trivial handler, with 64 requests outstanding.
func BenchmarkPipelinedRequests(b *testing.B) {
	_, c := benchServer(b, HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
		return &Response{Msg: kmsg.NewPtrMetadataResponse()}, nil
	}))
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 0)
	b.ReportAllocs()
	b.ResetTimer()
	elapsed := pipelineRequests(b, c, frame, b.N, 64)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}

// BenchmarkSendfileVsCopy fetches a 1 MiB region b.N times with sendfile
// and b.N times with the bytes read into memory and written (the path
// without zero copy), over loopback with 4 fetches outstanding, and reports
// both throughputs and their ratio.
func BenchmarkSendfileVsCopy(b *testing.B) {
	const size = 1 << 20
	data := pattern(size, 9)
	f := tempFile(b, b.TempDir(), data)
	bufs := sync.Pool{New: func() any { return make([]byte, size) }}
	s, c := benchServer(b, HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
		fr := req.Msg.(*kmsg.FetchRequest)
		resp := &Response{}
		msg := kmsg.NewPtrFetchResponse()
		p := kmsg.NewFetchResponseTopicPartition()
		if fr.SessionEpoch == 1 {
			buf := bufs.Get().([]byte)
			if _, err := f.ReadAt(buf, 0); err != nil {
				return nil, err
			}
			p.RecordBatches = buf
			resp.Release = func() { bufs.Put(buf) }
		} else {
			p.RecordBatches = resp.Splice([]commitlog.FileSlice{{File: f, Position: 0, Size: size}})
		}
		t := kmsg.NewFetchResponseTopic()
		t.Topic = "bench"
		t.Partitions = append(t.Partitions, p)
		msg.Topics = append(msg.Topics, t)
		resp.Msg = msg
		return resp, nil
	}))
	frameFor := func(epoch int32) []byte {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		req.SessionEpoch = epoch
		return kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 0)
	}
	b.ResetTimer()
	before := s.SendfileBytes()
	sendfile := pipelineRequests(b, c, frameFor(0), b.N, 4)
	copied := pipelineRequests(b, c, frameFor(1), b.N, 4)
	b.StopTimer()
	if got := s.SendfileBytes() - before; got != int64(b.N)*size {
		b.Fatalf("SendfileBytes grew by %d, want %d", got, int64(b.N)*size)
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * size / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(sendfile), "sendfile-MB/s")
	b.ReportMetric(mbps(copied), "copy-MB/s")
	b.ReportMetric(mbps(sendfile)/mbps(copied), "ratio")
}
