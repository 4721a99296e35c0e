package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/faultharness"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// brokerProc is a "runnel broker" process started by a test.
type brokerProc struct {
	t      testing.TB
	mode   string // the test binary's modeEnv: "runnel" when empty
	args   []string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	kafka  string
	done   chan struct{}
}

func freePort(t testing.TB) string {
	t.Helper()
	return faultharness.FreeAddr(t)
}

// startBroker runs the test binary as "runnel broker args..." and waits until
// its Kafka port accepts connections. It is killed at the end of the test.
func startBroker(t testing.TB, kafka string, args ...string) *brokerProc {
	t.Helper()
	p := &brokerProc{t: t, args: append([]string{"broker", "--kafka", kafka, "--log-level", "warn"}, args...), kafka: kafka}
	p.start()
	t.Cleanup(p.kill)
	return p
}

// startThreeVoters runs brokers 1, 2 and 3, all voters, on fresh data
// directories and returns their Kafka addresses and processes.
func startThreeVoters(t *testing.T) ([]string, []*brokerProc) {
	t.Helper()
	var kafka, raft []string
	for range 3 {
		kafka, raft = append(kafka, freePort(t)), append(raft, freePort(t))
	}
	voters := fmt.Sprintf("1@%s,2@%s,3@%s", raft[0], raft[1], raft[2])
	var procs []*brokerProc
	for i := range 3 {
		procs = append(procs, startBroker(t, kafka[i], "--id", fmt.Sprint(i+1), "--raft", raft[i], "--voters", voters,
			"--data-dir", filepath.Join(t.TempDir(), fmt.Sprint("n", i+1))))
	}
	return kafka, procs
}

func (p *brokerProc) start() {
	p.t.Helper()
	p.spawn()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", p.kafka, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("broker exited: %s", p.output())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("broker did not listen on %s: %s", p.kafka, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// spawn starts the process; done is closed when it exits.
func (p *brokerProc) spawn() {
	p.t.Helper()
	p.cmd = exec.Command(os.Args[0], p.args...)
	mode := p.mode
	if mode == "" {
		mode = "runnel"
	}
	p.cmd.Env = append(os.Environ(), modeEnv+"="+mode)
	p.stderr = &bytes.Buffer{}
	p.cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(p.cmd, p.done)
}

// kill sends SIGKILL to the process (by PID) and waits for it.
func (p *brokerProc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func createTopic(t testing.TB, cl *kgo.Client, name string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	for {
		resp, err := adm.CreateTopic(ctx, partitions, 1, nil, name)
		if err == nil && resp.Err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Wait until every partition has a leader in the brokers' metadata.
	for {
		md, err := adm.Metadata(ctx, name)
		if err == nil {
			td := md.Topics[name]
			led := 0
			for _, p := range td.Partitions {
				if p.Leader >= 0 && p.Err == nil {
					led++
				}
			}
			if len(td.Partitions) == int(partitions) && led == int(partitions) {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("topic %s never got leaders: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrokerKilledUnderIdempotentProducer keeps an idempotent franz-go
// producer running while the broker process is SIGKILLed and restarted three
// times. Afterwards every acknowledged record is in the log exactly once, in
// order within its partition.
func TestBrokerKilledUnderIdempotentProducer(t *testing.T) {
	kafka, raft := freePort(t), freePort(t)
	dir := filepath.Join(t.TempDir(), "data")
	b := startBroker(t, kafka, "--id", "1", "--raft", raft, "--voters", "1@"+raft, "--data-dir", dir)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RecordRetries(1<<30), kgo.RequestRetries(1<<30),
		kgo.ProducerLinger(2*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	createTopic(t, cl, "durable", 3)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprintf("%06d", i)
			cl.Produce(ctx, &kgo.Record{Topic: "durable", Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[string(r.Value)] = true
					mu.Unlock()
				}
			})
			if i%100 == 99 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	for round := 0; round < 3; round++ {
		time.Sleep(time.Duration(300+round*200) * time.Millisecond)
		b.kill()
		time.Sleep(200 * time.Millisecond)
		b.start()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()
	if nAcked < 1000 {
		t.Fatalf("only %d records acknowledged", nAcked)
	}

	total := checkReadBackOnce(ctx, t, []string{kafka}, "durable", acked)
	t.Logf("%d records acknowledged, %d read back, across 3 SIGKILLs", nAcked, total)
}

// TestThreeBrokerProcesses runs three broker processes (three raft voters):
// partition leaders spread over them, clients reach each leader through
// Metadata, a killed broker's partitions fail with retriable errors rather
// than hanging, and they serve again once it restarts.
func TestThreeBrokerProcesses(t *testing.T) {
	var kafka, raft []string
	for i := 0; i < 3; i++ {
		kafka, raft = append(kafka, freePort(t)), append(raft, freePort(t))
	}
	voters := fmt.Sprintf("1@%s,2@%s,3@%s", raft[0], raft[1], raft[2])
	var procs []*brokerProc
	for i := 0; i < 3; i++ {
		procs = append(procs, startBroker(t, kafka[i], "--id", fmt.Sprint(i+1), "--raft", raft[i], "--voters", voters,
			"--data-dir", filepath.Join(t.TempDir(), fmt.Sprint("n", i+1))))
	}
	// Idempotent producers never give up on a request that got no answer (to
	// keep sequences valid), so this test, which checks that a dead leader's
	// partitions fail fast, turns idempotence off; the SIGKILL test above
	// covers it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka...), kgo.RecordDeliveryTimeout(4*time.Second), kgo.DisableIdempotentWrite(),
		kgo.RecordRetries(4), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	createTopic(t, cl, "spread", 6)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).Metadata(ctx, "spread")
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int32{}
	perBroker := map[int32]int{}
	for _, p := range md.Topics["spread"].Partitions {
		leaders[p.Partition] = p.Leader
		perBroker[p.Leader]++
	}
	if len(perBroker) != 3 || perBroker[1] != 2 || perBroker[2] != 2 || perBroker[3] != 2 {
		t.Fatalf("leaders not spread: %v", leaders)
	}
	// Each attempt is bounded: a partition without a live leader must fail,
	// not hang.
	produceAll := func(tag string) map[int32]error {
		errs := map[int32]error{}
		for p := int32(0); p < 6; p++ {
			pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
			r := &kgo.Record{Topic: "spread", Partition: p, Value: []byte(tag)}
			errs[p] = cl.ProduceSync(pctx, r).FirstErr()
			pcancel()
		}
		return errs
	}
	for p, err := range produceAll("before") {
		if err != nil {
			t.Fatalf("partition %d (leader %d): %v", p, leaders[p], err)
		}
	}
	// Kill broker 2: its partitions fail (retriably, and within the delivery
	// timeout), the others keep working.
	procs[1].kill()
	start := time.Now()
	for p, err := range produceAll("during") {
		if leaders[p] == 2 && err == nil {
			t.Errorf("partition %d led by the killed broker accepted a record", p)
		}
		if leaders[p] == 2 {
			t.Logf("partition %d while its leader is down: %v", p, err)
		}
		if leaders[p] != 2 && err != nil {
			t.Errorf("partition %d (leader %d) failed while broker 2 was down: %v", p, leaders[p], err)
		}
	}
	if d := time.Since(start); d > 40*time.Second {
		t.Fatalf("producing with a broker down took %v: a hang", d)
	}
	procs[1].start()
	deadline := time.Now().Add(60 * time.Second)
	for {
		errs := produceAll("after")
		failed := 0
		for _, err := range errs {
			if err != nil {
				failed++
			}
		}
		if failed == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions did not come back after restart: %v", errs)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Every partition holds its records in order.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(kafka...), kgo.ConsumeTopics("spread"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	// A record before the kill in each partition, one while broker 2 was
	// down in the 4 others, and at least one after (the loop above writes
	// to every partition again while any failed): read until every
	// partition has its "after".
	got := map[int32][]string{}
	complete := func() bool {
		for p := int32(0); p < 6; p++ {
			if !slices.Contains(got[p], "after") {
				return false
			}
		}
		return true
	}
	for !complete() {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %v, want every partition to reach \"after\"", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], string(r.Value)) })
	}
	for p := int32(0); p < 6; p++ {
		vals := strings.Join(got[p], ",")
		if !strings.HasPrefix(vals, "before") || !strings.HasSuffix(vals, "after") {
			t.Errorf("partition %d holds %q", p, vals)
		}
	}
}

// checkReadBackOnce reads topic from the start and checks that every
// acknowledged value is there exactly once, no value twice, and the values
// of each key in ascending order (order within the partition). It returns
// how many records it read.
func checkReadBackOnce(ctx context.Context, t *testing.T, seeds []string, topic string, acked map[string]bool) int {
	t.Helper()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[string]int{}
	lastPerKey := map[string]string{}
	total := 0
	for total < len(acked) {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		fs := consumer.PollFetches(pctx)
		pcancel()
		if pctx.Err() != nil && fs.NumRecords() == 0 {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			seen[v]++
			if prev, ok := lastPerKey[string(r.Key)]; ok && v <= prev {
				t.Errorf("key %s: %s after %s: order within the partition lost", r.Key, v, prev)
			}
			lastPerKey[string(r.Key)] = v
			total++
		})
	}
	for v := range acked {
		if seen[v] != 1 {
			t.Errorf("acknowledged record %s read %d times", v, seen[v])
		}
	}
	for v, n := range seen {
		if n > 1 {
			t.Errorf("record %s written %d times", v, n)
		}
	}
	return total
}
