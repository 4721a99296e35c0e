package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kgo"
)

const benchBytes = 256 << 20 // per measured phase

// procCPU returns the user+system CPU time a process has used.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// logAppendMBps measures the log engine alone: 16 KiB batches of 1 KiB records.
func logAppendMBps(b *testing.B) float64 {
	recs := make([]recordbatch.Record, 16)
	for i := range recs {
		recs[i] = recordbatch.Record{Value: bytes.Repeat([]byte("x"), 1000), Timestamp: time.Now().UnixMilli()}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		b.Fatal(err)
	}
	l, err := commitlog.Open(b.TempDir(), commitlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	for n := 0; n < benchBytes; n += len(batch) {
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	return float64(benchBytes) / 1e6 / time.Since(start).Seconds()
}

// BenchmarkBrokerProduceConsume runs a broker process and measures, with
// franz-go: produce of 1 KiB records with acks=1 in 16 KiB batches against the
// log engine's own append (same run), and consume from the page cache through
// sendfile against a loopback socket copy (same run); plus the broker's CPU
// per MiB for each.
func BenchmarkBrokerProduceConsume(b *testing.B) {
	kafka, raft := freePort(b), freePort(b)
	p := startBroker(b, kafka, "--id", "1", "--raft", raft, "--voters", "1@"+raft, "--data-dir", filepath.Join(b.TempDir(), "d"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(1<<16),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.AllowAutoTopicCreation())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	createTopic(b, cl, "bench", 1)
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), 1000)
	for i := 0; i < b.N; i++ {
		base := logAppendMBps(b)
		cpu0 := procCPU(b, p.cmd.Process.Pid)
		start := time.Now()
		for n := 0; n < benchBytes; n += len(value) {
			cl.Produce(ctx, &kgo.Record{Topic: "bench", Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Errorf("produce: %v", err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		produce := float64(benchBytes) / 1e6 / time.Since(start).Seconds()
		produceCPU := procCPU(b, p.cmd.Process.Pid) - cpu0

		loop := brokertest.LoopbackMBps(b, benchBytes)
		consumer, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics("bench"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(64<<20))
		if err != nil {
			b.Fatal(err)
		}
		cpu0 = procCPU(b, p.cmd.Process.Pid)
		start = time.Now()
		var got int64
		for got < benchBytes {
			fs := consumer.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { got += int64(len(r.Value)) })
		}
		consume := float64(got) / 1e6 / time.Since(start).Seconds()
		consumeCPU := procCPU(b, p.cmd.Process.Pid) - cpu0
		consumer.Close()

		mib := float64(benchBytes) / (1 << 20)
		b.ReportMetric(produce, "produce-MB/s")
		b.ReportMetric(base, "log-append-MB/s")
		b.ReportMetric(produce/base, "produce/append")
		b.ReportMetric(consume, "consume-MB/s")
		b.ReportMetric(loop, "loopback-MB/s")
		b.ReportMetric(consume/loop, "consume/loopback")
		b.ReportMetric(float64(produceCPU.Milliseconds())/mib, "broker-cpu-ms/produced-MiB")
		b.ReportMetric(float64(consumeCPU.Milliseconds())/mib, "broker-cpu-ms/fetched-MiB")
	}
}
