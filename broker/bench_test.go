package broker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/broker/recordbatch/recordbatchtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

const (
	// rawBenchBytes are produced, and appended, per iteration, each to a
	// fresh log that is deleted afterwards: the dirty pages of both stay
	// below where the kernel starts writing back in the background (about
	// 600 MiB in the test machines' memory cgroup; it throttles writers at
	// 1.2 GiB, after which both run at the disk's speed and the ratio says
	// nothing).
	rawBenchBytes     = 128 << 20
	rawChunk          = 16 << 20 // produce and append alternate in chunks of this
	rawFetchBytes     = 8 << 20  // fetch.max.bytes and max.partition.fetch.bytes
	rawPipelineFrames = 64       // produce requests the client writes at once
)

// frame encodes a request with its header, as a client sends it.
func frame(req kmsg.Request, correlation int32) []byte {
	b := make([]byte, 4, 64)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(correlation))
	b = binary.BigEndian.AppendUint16(b, 5)
	b = append(b, "bench"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// readFrame reads one response frame into buf (grown as needed).
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// processCPU is the user and system CPU time this process has used: the
// broker's and the benchmark client's together.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// phase accumulates the wall and CPU time of one measured kind of work, and
// the rate of each run.
type phase struct {
	wall, cpu time.Duration
	bytes     int64
	rates     []float64 // MB/s of each run
}

// run measures f, which moves n bytes.
func (p *phase) run(b *testing.B, f func() int64) {
	c0, t0 := processCPU(b), time.Now()
	n := f()
	p.add(time.Since(t0), processCPU(b)-c0, n)
}

func (p *phase) add(wall, cpu time.Duration, n int64) {
	p.wall += wall
	p.cpu += cpu
	p.bytes += n
	p.rates = append(p.rates, float64(n)/1e6/wall.Seconds())
}

// medianRatio is the median over runs of p's rate over base's in the run
// beside it: a burst of load from elsewhere on the machine that hits one run
// moves it less than the ratio of the totals.
func medianRatio(p, base *phase) float64 {
	r := make([]float64, len(p.rates))
	for i := range r {
		r[i] = p.rates[i] / base.rates[i]
	}
	slices.Sort(r)
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

func (p *phase) mbps() float64 { return float64(p.bytes) / 1e6 / p.wall.Seconds() }

// cpuPerMiB is milliseconds of process CPU per MiB moved.
func (p *phase) cpuPerMiB() float64 {
	return p.cpu.Seconds() * 1e3 / (float64(p.bytes) / (1 << 20))
}

// BenchmarkBrokerRaw measures the broker itself, driven over the Kafka
// protocol by requests encoded with franz-go's kmsg rather than a full client
// (whose per-record work would share the two cores): pipelined produce of
// pre-built 16 KiB batches of 1 KiB records with acks=1, against the log
// engine's own append of the same batches in the same run; and fetch from the
// page cache through sendfile, against a copy between two loopback sockets in
// the same run. Produce alternates with append, and fetch with the loopback
// copy, in chunks, so that page cache state and other load on the machine
// weigh on both alike. CPU is the whole process's (getrusage): broker and
// benchmark client.
func BenchmarkBrokerRaw(b *testing.B) {
	c := brokertest.Start(b, 1, brokertest.Options{})
	addr := c.Addrs()[0]
	batch := rawBatch(b)
	produceConn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer produceConn.Close()
	fetchConn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer fetchConn.Close()
	fetchBuf := make([]byte, 1<<20) // as the loopback baseline's reader

	for i := 0; i < b.N; i++ {
		topic := fmt.Sprintf("raw-%d", i)
		c.CreateTopic(topic, 1, nil)
		brokerLog, ok := c.Nodes[0].Broker.Log(commitlog.TopicPartition{Topic: topic, Partition: 0})
		if !ok {
			b.Fatal("no local log")
		}
		l, err := commitlog.Open(b.TempDir(), commitlog.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		f := frame(produceRequest(topic, batch), 1)
		pipelined := bytes.Repeat(f, rawPipelineFrames)
		var produce, appendP, fetch, loop, ceiling phase
		// Warm up, unmeasured: the connection's buffers and TCP windows
		// grow, the broker's slab pool and heap fill.
		rawProduce(b, produceConn, pipelined, len(f), rawChunk)
		appendChunk(b, l, batch, rawChunk)
		for n := 0; n < rawBenchBytes; n += rawChunk {
			produce.run(b, func() int64 { return rawProduce(b, produceConn, pipelined, len(f), rawChunk) })
			appendP.run(b, func() int64 { return appendChunk(b, l, batch, rawChunk) })
		}
		// Fetch what was produced (all in the page cache) in four parts,
		// each followed by a loopback copy of the same size and by the
		// same bytes sent from the segment file with sendfile(2) alone,
		// without the broker: the kernel's ceiling for this path.
		o := brokerLog.Offsets()
		from, end := o.LogStart, o.HighWatermark
		part := brokerLog.Size() / 4
		segment := brokerLog.Segments()[0].Path
		var sent int64
		for from < end {
			var got int64
			fetch.run(b, func() int64 {
				from, got = rawFetch(b, fetchConn, fetchBuf, topic, from, end, part)
				return got
			})
			ceiling.run(b, func() int64 { return sendfileLoopback(b, segment, sent, got, fetchBuf) })
			sent += got
			c0 := processCPU(b)
			mbps := brokertest.LoopbackMBps(b, int(got))
			loop.add(time.Duration(float64(got)/1e6/mbps*float64(time.Second)), processCPU(b)-c0, got)
		}
		b.StopTimer()
		// Outside the measurement: let the two logs go, so that the next
		// iteration starts with as few dirty pages.
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Admin().DeleteTopics(context.Background(), topic); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		b.ReportMetric(produce.mbps(), "produce-MB/s")
		b.ReportMetric(appendP.mbps(), "log-append-MB/s")
		b.ReportMetric(produce.mbps()/appendP.mbps(), "produce/append")
		b.ReportMetric(medianRatio(&produce, &appendP), "produce/append-median")
		b.ReportMetric(fetch.mbps(), "fetch-MB/s")
		b.ReportMetric(loop.mbps(), "loopback-MB/s")
		b.ReportMetric(fetch.mbps()/loop.mbps(), "fetch/loopback")
		b.ReportMetric(medianRatio(&fetch, &loop), "fetch/loopback-median")
		b.ReportMetric(ceiling.mbps(), "sendfile-only-MB/s")
		b.ReportMetric(fetch.mbps()/ceiling.mbps(), "fetch/sendfile-only")
		b.ReportMetric(produce.cpuPerMiB(), "produce-cpu-ms/MiB")
		b.ReportMetric(appendP.cpuPerMiB(), "append-cpu-ms/MiB")
		b.ReportMetric(fetch.cpuPerMiB(), "fetch-cpu-ms/MiB")
		b.ReportMetric(loop.cpuPerMiB(), "loopback-cpu-ms/MiB")
	}
}

// sendfileLoopback sends n bytes of the file at path from off to a loopback
// socket with sendfile(2), as the broker does but without it, reads them with
// buf as rawFetch does and returns n.
func sendfileLoopback(b *testing.B, path string, off, n int64, buf []byte) int64 {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	sendErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sendErr <- err
			return
		}
		defer c.Close()
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			sendErr <- err
			return
		}
		pos, stop := off, off+n
		var serr error
		err = rc.Write(func(fd uintptr) bool {
			for pos < stop {
				_, err := unix.Sendfile(int(fd), int(f.Fd()), &pos, int(min(stop-pos, 4<<20)))
				if err == unix.EAGAIN {
					return false
				}
				if err != nil && err != unix.EINTR {
					serr = err
					return true
				}
			}
			return true
		})
		sendErr <- errors.Join(err, serr)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.CopyBuffer(io.Discard, io.LimitReader(conn, n), buf); err != nil {
		b.Fatal(err)
	}
	if err := <-sendErr; err != nil {
		b.Fatal(err)
	}
	return n
}

// rawBatch is the record batch the raw benchmarks produce: 16 records of
// 1000 bytes.
func rawBatch(b *testing.B) []byte {
	recs := make([]recordbatch.Record, 16)
	for i := range recs {
		recs[i] = recordbatch.Record{Value: bytes.Repeat([]byte("x"), 1000), Timestamp: time.Now().UnixMilli()}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		b.Fatal(err)
	}
	return batch
}

// produceRequest is an acks=1 produce of records to partition 0 of topic.
func produceRequest(topic string, records []byte) *kmsg.ProduceRequest {
	return onePartitionProduce(9, 1, 30*time.Second, topic, 0, records)
}

// appendChunk appends size bytes of batch to the log engine directly.
func appendChunk(b *testing.B, l *commitlog.Log, batch []byte, size int) int64 {
	var n int64
	for n < int64(size) {
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
		n += int64(len(batch))
	}
	return n
}

// rawProduce sends pipelined produce requests on conn, writing pipelined
// (frames of frameLen bytes, back to back) whole, until size bytes of
// requests are sent, and waits for every answer. It returns the bytes sent.
func rawProduce(b *testing.B, conn net.Conn, pipelined []byte, frameLen, size int) int64 {
	n := size / frameLen
	n -= n % (len(pipelined) / frameLen)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		br := bufio.NewReaderSize(conn, 64<<10)
		pr := kmsg.NewPtrProduceResponse()
		var err error
		for i := 0; i < n && err == nil; i++ {
			var resp []byte
			if resp, err = readFrame(br, buf); err == nil {
				pr.Default()
				pr.Version = 9
				// After the correlation id, the response header's empty tags.
				if err = pr.ReadFrom(resp[4+1:]); err == nil && pr.Topics[0].Partitions[0].ErrorCode != 0 {
					p := pr.Topics[0].Partitions[0]
					err = fmt.Errorf("%w (%v)", kerr.ErrorForCode(p.ErrorCode), p.ErrorMessage)
					if p.ErrorMessage != nil {
						err = fmt.Errorf("%w: %s", kerr.ErrorForCode(p.ErrorCode), *p.ErrorMessage)
					}
				}
			}
		}
		done <- err
	}()
	for sent := 0; sent < n; sent += len(pipelined) / frameLen {
		if _, err := conn.Write(pipelined); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatalf("produce responses: %v", err)
	}
	return int64(n * frameLen)
}

// rawFetch fetches from offset on, rawFetchBytes at a time, until about want
// bytes of batches came or end is reached. It returns the offset after the
// last batch read and the bytes of batches read. The client is as cheap as
// the loopback baseline's reader: it reads the record bytes in pieces of
// len(buf) into buf and only looks at batch headers on the way.
func rawFetch(b *testing.B, conn net.Conn, buf []byte, topic string, offset, end, want int64) (int64, int64) {
	var got int64
	for offset < end && got < want {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes = 11, -1, rawFetchBytes
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = topic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = offset, rawFetchBytes, -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		if _, err := conn.Write(frame(req, 2)); err != nil {
			b.Fatal(err)
		}
		next, n, err := readFetchStream(conn, buf, len(topic))
		if err != nil {
			b.Fatalf("fetch at %d: %v", offset, err)
		}
		if n == 0 || next <= offset {
			b.Fatalf("fetch at %d returned %d bytes, next offset %d", offset, n, next)
		}
		offset, got = next, got+n
	}
	return offset, got
}

// readFetchStream reads a FetchResponse v11 for one partition of a topic
// whose name has topicLen bytes, streaming its record bytes through buf, and
// returns the offset after the last whole batch and the record bytes read.
func readFetchStream(r io.Reader, buf []byte, topicLen int) (int64, int64, error) {
	// size, correlation id, throttle, error, session id, topic count, topic
	// name, partition count, partition, error, high watermark, last stable
	// offset, log start offset, aborted transactions count.
	head := buf[:4+4+4+2+4+4+2+topicLen+4+4+2+8+8+8+4]
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, 0, err
	}
	if code := int16(binary.BigEndian.Uint16(head[len(head)-34:])); code != 0 {
		return 0, 0, fmt.Errorf("partition error %d", code)
	}
	if aborted := int32(binary.BigEndian.Uint32(head[len(head)-4:])); aborted > 0 {
		if _, err := io.ReadFull(r, buf[:16*aborted]); err != nil {
			return 0, 0, err
		}
	}
	tail := buf[:8] // preferred read replica, records length
	if _, err := io.ReadFull(r, tail); err != nil {
		return 0, 0, err
	}
	size := int64(int32(binary.BigEndian.Uint32(tail[4:])))
	if size < 0 {
		size = 0
	}
	const hdrLen = 27 // base offset, length, leader epoch, magic, crc, attributes, last offset delta
	var (
		hdr        [hdrLen]byte
		inHdr      int   // header bytes gathered
		skip       int64 // body bytes of the current batch still to pass
		batchStart int64 // stream position of the current batch
		pos        int64
		next       int64 = -1
	)
	for pos < size {
		p := buf[:min(int64(len(buf)), size-pos)]
		n, err := r.Read(p)
		if n == 0 && err != nil {
			return 0, 0, err
		}
		for i := 0; i < n; {
			if skip > 0 {
				k := min(skip, int64(n-i))
				skip -= k
				i += int(k)
				continue
			}
			k := copy(hdr[inHdr:], p[i:n])
			inHdr += k
			i += k
			if inHdr == hdrLen {
				length := int64(binary.BigEndian.Uint32(hdr[8:]))
				if batchStart+12+length <= size { // a whole batch
					next = int64(binary.BigEndian.Uint64(hdr[0:])) + int64(binary.BigEndian.Uint32(hdr[23:])) + 1
				}
				skip = 12 + length - hdrLen
				batchStart += 12 + length
				inHdr = 0
			}
		}
		pos += int64(n)
	}
	return next, size, nil
}

// produceBenchPipeline is how many produce requests BenchmarkBrokerProduce
// writes at once, as a client pipelines them on one connection.
const produceBenchPipeline = 16

// BenchmarkBrokerProduce measures the produce path alone, from the Kafka
// port to the page cache, for each codec: pipelined acks=1 produce requests
// of one batch of compressible text records (2 to 3 times smaller compressed, as JSON events
// compress) to one partition. Two shapes: 16 records of 1 KB, and 160 of
// 100 bytes, where the per-record work weighs most. Bytes are wire bytes
// (compressed); records/s counts records. Each run writes to a fresh topic
// that is deleted afterwards, so that dirty pages do not pile up.
func BenchmarkBrokerProduce(b *testing.B) {
	c := brokertest.Start(b, 1, brokertest.Options{})
	addr := c.Addrs()[0]
	shapes := []struct {
		name      string
		n, valLen int
	}{{"16x1KB", 16, 1000}, {"160x100B", 160, 100}}
	codecs := []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecSnappy, recordbatch.CodecLZ4, recordbatch.CodecZstd, recordbatch.CodecGzip}
	run := 0
	for _, s := range shapes {
		for _, codec := range codecs {
			b.Run(s.name+"/"+codec.String(), func(b *testing.B) {
				run++
				topic := fmt.Sprintf("produce-%d", run)
				c.CreateTopic(topic, 1, nil)
				batch, err := recordbatch.Build(recordbatch.BuildOptions{Codec: codec}, textRecords(s.n, s.valLen))
				if err != nil {
					b.Fatal(err)
				}
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				f := frame(produceRequest(topic, batch), 1)
				pipelined := bytes.Repeat(f, produceBenchPipeline)
				rawProduce(b, conn, pipelined, len(f), len(pipelined)) // warm up
				b.SetBytes(int64(produceBenchPipeline * len(batch)))
				b.ReportAllocs()
				for b.Loop() {
					rawProduce(b, conn, pipelined, len(f), len(pipelined))
				}
				b.ReportMetric(float64(b.N*produceBenchPipeline*s.n)/b.Elapsed().Seconds(), "records/s")
				b.StopTimer()
				if _, err := c.Admin().DeleteTopics(context.Background(), topic); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// textRecords returns n records of valLen bytes of compressible text
// (recordbatchtest.TextValues), stamped now.
func textRecords(n, valLen int) []recordbatch.Record {
	now := time.Now().UnixMilli()
	recs := make([]recordbatch.Record, n)
	for i, v := range recordbatchtest.TextValues(n, valLen) {
		recs[i] = recordbatch.Record{Key: strconv.AppendInt(nil, int64(i), 10), Value: v, Timestamp: now}
	}
	return recs
}
