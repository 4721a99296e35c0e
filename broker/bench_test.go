package broker_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const rawBenchBytes = 512 << 20

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

// BenchmarkBrokerRaw measures the broker itself, driven over the Kafka
// protocol by requests encoded with franz-go's kmsg rather than a full client
// (whose per-record work would share the two cores): pipelined produce of
// pre-built 16 KiB batches of 1 KiB records with acks=1, against the log
// engine's own append in the same run; and fetch from the page cache through
// sendfile, against a copy between two loopback sockets in the same run.
func BenchmarkBrokerRaw(b *testing.B) {
	c := brokertest.Start(b, 1, brokertest.Options{})
	c.CreateTopic("raw", 1, map[string]*string{"retention.bytes": kmsgString("2147483648")})
	addr := c.Addrs()[0]
	recs := make([]recordbatch.Record, 16)
	for i := range recs {
		recs[i] = recordbatch.Record{Value: bytes.Repeat([]byte("x"), 1000), Timestamp: time.Now().UnixMilli()}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		b.Fatal(err)
	}
	l, err := commitlog.Open(b.TempDir(), commitlog.Options{RetentionBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < b.N; i++ {
		// Produce and the log engine's own append alternate in 32 MiB chunks,
		// so that page cache state (dirty pages awaiting writeback) weighs on
		// both alike.
		var tProduce, tAppend time.Duration
		const chunk = 32 << 20
		for n := 0; n < rawBenchBytes; n += chunk {
			tProduce += rawProduce(b, conn, batch, chunk)
			tAppend += appendChunk(b, l, batch, chunk)
			l.DeleteExpired()
		}
		loop := brokertest.LoopbackMBps(b, rawBenchBytes)
		fetch := rawFetch(b, addr, c)
		mb := float64(rawBenchBytes) / 1e6
		b.ReportMetric(mb/tProduce.Seconds(), "produce-MB/s")
		b.ReportMetric(mb/tAppend.Seconds(), "log-append-MB/s")
		b.ReportMetric(tAppend.Seconds()/tProduce.Seconds(), "produce/append")
		b.ReportMetric(fetch, "fetch-MB/s")
		b.ReportMetric(loop, "loopback-MB/s")
		b.ReportMetric(fetch/loop, "fetch/loopback")
	}
}

func kmsgString(s string) *string { return &s }

// appendChunk appends size bytes of batch to the log engine directly.
func appendChunk(b *testing.B, l *commitlog.Log, batch []byte, size int) time.Duration {
	start := time.Now()
	for n := 0; n < size; n += len(batch) {
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// rawProduce sends size bytes of batch as pipelined acks=1 produce requests on
// conn and waits for every answer.
func rawProduce(b *testing.B, conn net.Conn, batch []byte, size int) time.Duration {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 30000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "raw"
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = batch
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	f := frame(req, 1)
	n := size / len(batch)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		br := bufio.NewReaderSize(conn, 64<<10)
		var err error
		for i := 0; i < n && err == nil; i++ {
			var resp []byte
			if resp, err = readFrame(br, buf); err == nil {
				pr := kmsg.NewPtrProduceResponse()
				pr.Version = 9
				if err = pr.ReadFrom(resp[4+1:]); err == nil && pr.Topics[0].Partitions[0].ErrorCode != 0 {
					err = io.ErrUnexpectedEOF
				}
			}
		}
		done <- err
	}()
	start := time.Now()
	w := make([]byte, 0, 64*len(f))
	for i := 0; i < n; i += 64 {
		w = w[:0]
		for j := i; j < min(i+64, n); j++ {
			w = append(w, f...)
		}
		if _, err := conn.Write(w); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatalf("produce responses: %v", err)
	}
	return time.Since(start)
}

func rawFetch(b *testing.B, addr string, c *brokertest.Cluster) float64 {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	l, ok := c.Nodes[0].Broker.Log(commitlog.TopicPartition{Topic: "raw", Partition: 0})
	if !ok {
		b.Fatal("no local log")
	}
	o := l.Offsets()
	offset, end := o.LogStart, o.HighWatermark // what the produce phase wrote
	buf := make([]byte, 33<<20)
	var got int64
	start := time.Now()
	for offset < end {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes = 11, -1, 32<<20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "raw"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = offset, 32<<20, -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		if _, err := conn.Write(frame(req, 2)); err != nil {
			b.Fatal(err)
		}
		resp, err := readFrame(conn, buf)
		if err != nil {
			b.Fatal(err)
		}
		fr := kmsg.NewPtrFetchResponse()
		fr.Version = 11
		if err := fr.UnsafeReadFrom(resp[4:]); err != nil { // decode in place, as consumers do
			b.Fatal(err)
		}
		rb := fr.Topics[0].Partitions[0].RecordBatches
		if len(rb) == 0 {
			b.Fatalf("empty fetch at %d (error %d)", offset, fr.Topics[0].Partitions[0].ErrorCode)
		}
		got += int64(len(rb))
		// The next offset follows the last whole batch.
		for rest := rb; len(rest) > 0; {
			bt, r, err := recordbatch.Next(rest)
			if err != nil {
				break
			}
			h, _ := recordbatch.ParseHeader(bt)
			offset = h.NextOffset()
			rest = r
		}
	}
	return float64(got) / 1e6 / time.Since(start).Seconds()
}
