package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"
)

// The workload of issue 4's targets, and the client configuration used for it.
const (
	// benchBytes of record values are produced per iteration, to a fresh
	// topic, and as much is appended to a fresh log directly: together
	// below the dirty page cache at which the kernel starts writing back
	// in the background (about 600 MiB in the test machines' memory
	// cgroup), so both measure CPU, not the disk.
	benchBytes  = 128 << 20
	benchChunk  = 32 << 20 // produce and log append alternate in chunks of this
	benchRecord = 1000     // value bytes: 1 KiB records with their framing
	benchBatch  = 16 << 10 // ProducerBatchMaxBytes
)

// Client settings, each overridable from the environment for sweeps. The
// defaults were the fastest on the 2-core test machine: with one partition
// franz-go sends one 16 KiB batch per request and reaches about 600 MB/s,
// with 4 partitions (a batch for each in every request) about 850, with 8 or
// 16 no more.
var (
	benchPartitions = envInt("RUNNEL_BENCH_PARTITIONS", 4)
	// benchInflight is MaxProduceRequestsInflightPerBroker.
	benchInflight = envInt("RUNNEL_BENCH_INFLIGHT", 32)
	// benchFetchBytes is FetchMaxBytes and FetchMaxPartitionBytes.
	benchFetchBytes = envInt("RUNNEL_BENCH_FETCH_BYTES", 8<<20)
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// pin restricts every thread of process pid to one CPU, or with cpu -1
// lets it run on all of them again.
func pin(b *testing.B, pid, cpu int) {
	var set unix.CPUSet
	for c := range runtime.NumCPU() {
		if cpu < 0 || c == cpu {
			set.Set(c)
		}
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			b.Fatalf("pin thread %d of %d: %v", tid, pid, err)
		}
	}
}

// procCPU returns the CPU time (user and system, all threads) a process has
// used, in nanoseconds: the kernel's process CPU clock of pid, as
// clock_getcpuclockid(3) names it (/proc/<pid>/stat counts 10 ms ticks).
func procCPU(b *testing.B, pid int) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^pid<<3|2), &ts); err != nil { // CPUCLOCK_SCHED of the process
		b.Fatalf("CPU clock of process %d: %v", pid, err)
	}
	return time.Duration(ts.Nano())
}

// benchLogBatch is what the log engine's own append is measured with: 16 KiB
// batches of 1 KiB records.
func benchLogBatch(b *testing.B) []byte {
	recs := make([]recordbatch.Record, benchBatch/(benchRecord+24))
	for i := range recs {
		recs[i] = recordbatch.Record{Value: bytes.Repeat([]byte("x"), benchRecord), Timestamp: time.Now().UnixMilli()}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		b.Fatal(err)
	}
	return batch
}

// BenchmarkBrokerProduceConsume runs a broker process and measures, with
// franz-go: produce of 1 KiB records with acks=1 in 16 KiB batches against the
// log engine's own append of such batches (alternating in chunks, same run),
// and consume from the page cache through sendfile against a copy between two
// loopback sockets (measured right before and after); plus the broker
// process's CPU per MiB for each (utime+stime from /proc/<pid>/stat).
func BenchmarkBrokerProduceConsume(b *testing.B) {
	kafka, raft := freePort(b), freePort(b)
	p := startBroker(b, kafka, "--id", "1", "--raft", raft, "--voters", "1@"+raft, "--data-dir", filepath.Join(b.TempDir(), "d"))
	pid := p.cmd.Process.Pid
	// With RUNNEL_BENCH_PIN set, the broker runs on CPU 1 and the franz-go
	// client (this process) on CPU 0 while it produces or consumes, as
	// taskset would place them; the baselines run unpinned.
	pinned := os.Getenv("RUNNEL_BENCH_PIN") != ""
	pinClient := func(on bool) {
		if pinned {
			pin(b, os.Getpid(), map[bool]int{true: 0, false: -1}[on])
		}
	}
	if pinned {
		pin(b, pid, 1)
	}
	// acks=1 means no idempotence; without it franz-go allows several
	// produce requests in flight per broker.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchMaxBytes(benchBatch), kgo.ProducerLinger(time.Millisecond),
		kgo.MaxProduceRequestsInflightPerBroker(benchInflight), kgo.MaxBufferedRecords(1<<16),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	batch := benchLogBatch(b)
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), benchRecord)
	failed := make(chan error, 1)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			select {
			case failed <- err:
			default:
			}
		}
	}
	for i := 0; i < b.N; i++ {
		topic := fmt.Sprintf("bench-%d", i)
		createTopic(b, cl, topic, int32(benchPartitions))
		l, err := commitlog.Open(b.TempDir(), commitlog.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		var tProduce, tAppend, produceCPU, producerCPU time.Duration
		var appended int64
		for n := 0; n < benchBytes; n += benchChunk {
			// The client's garbage is collected between the measurements,
			// not during the next one.
			runtime.GC()
			pinClient(true)
			cpu0, client0, start := procCPU(b, pid), procCPU(b, os.Getpid()), time.Now()
			for m := 0; m < benchChunk; m += len(value) {
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, promise)
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			tProduce += time.Since(start)
			produceCPU += procCPU(b, pid) - cpu0
			producerCPU += procCPU(b, os.Getpid()) - client0
			pinClient(false)

			runtime.GC()
			start = time.Now()
			for m := 0; m < benchChunk; m += len(batch) {
				if _, err := l.Append(batch, 0); err != nil {
					b.Fatal(err)
				}
				appended += int64(len(batch))
			}
			tAppend += time.Since(start)
		}
		select {
		case err := <-failed:
			b.Fatalf("produce: %v", err)
		default:
		}
		produce := float64(benchBytes) / 1e6 / tProduce.Seconds()
		base := float64(appended) / 1e6 / tAppend.Seconds()

		loop1 := brokertest.LoopbackMBps(b, benchBytes/2)
		consumer, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(int32(benchFetchBytes)), kgo.FetchMaxPartitionBytes(int32(benchFetchBytes)))
		if err != nil {
			b.Fatal(err)
		}
		pinClient(true)
		cpu0, client0, start := procCPU(b, pid), procCPU(b, os.Getpid()), time.Now()
		var got int64
		for got < benchBytes {
			fs := consumer.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				b.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { got += int64(len(r.Value)) })
		}
		tConsume := time.Since(start)
		consumeCPU := procCPU(b, pid) - cpu0
		consumerCPU := procCPU(b, os.Getpid()) - client0
		pinClient(false)
		consumer.Close()
		loop2 := brokertest.LoopbackMBps(b, benchBytes/2)
		consume := float64(got) / 1e6 / tConsume.Seconds()
		loop := (loop1 + loop2) / 2

		b.StopTimer()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		if _, err := kadm.NewClient(cl).DeleteTopics(ctx, topic); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		mib := float64(benchBytes) / (1 << 20)
		b.ReportMetric(produce, "produce-MB/s")
		b.ReportMetric(base, "log-append-MB/s")
		b.ReportMetric(produce/base, "produce/append")
		b.ReportMetric(consume, "consume-MB/s")
		b.ReportMetric(loop, "loopback-MB/s")
		b.ReportMetric(consume/loop, "consume/loopback")
		b.ReportMetric(produceCPU.Seconds()*1e3/mib, "broker-cpu-ms/produced-MiB")
		b.ReportMetric(consumeCPU.Seconds()*1e3/mib, "broker-cpu-ms/fetched-MiB")
		// The franz-go client's own CPU (this process) shares the two
		// cores with the broker.
		b.ReportMetric(producerCPU.Seconds()*1e3/mib, "client-cpu-ms/produced-MiB")
		b.ReportMetric(consumerCPU.Seconds()*1e3/mib, "client-cpu-ms/fetched-MiB")
	}
}
