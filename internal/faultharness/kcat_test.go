package faultharness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// kcatPath finds kcat; the Makefile's test-deps installs it, so a missing
// kcat fails the test.
func kcatPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (make test-deps installs it): %v", err)
	}
	return p
}

// kcatConsume runs "kcat -C" on partition 0 from the beginning, printing
// "offset value" lines, and records every record into h as read by name.
// It stops when ctx ends; with exitAtEnd it stops at the end of the
// partition (-e) instead.
func kcatConsume(ctx context.Context, t *testing.T, c *Cluster, topic, name string, h *History, exitAtEnd bool) (int, error) {
	args := []string{"-C", "-b", strings.Join(c.KafkaAddrs(), ","), "-t", topic, "-p", "0", "-o", "beginning", "-f", "%o %s\\n", "-q"}
	if exitAtEnd {
		args = append(args, "-e")
	}
	cmd := exec.CommandContext(ctx, kcatPath(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	n := 0
	r := bufio.NewReader(out)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // a line cut short by the end of the process is not a record
		}
		off, val, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		o, err := strconv.ParseInt(off, 10, 64)
		if !ok || err != nil {
			return n, fmt.Errorf("kcat printed %q", line)
		}
		id, err := ParseRecordID([]byte(val))
		if err != nil {
			id = RecordID{Producer: "unparsable " + val}
		}
		h.Consumed(Read{Reader: name, ID: id, Partition: 0, Offset: o})
		n++
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		err = nil // stopped by the test
	}
	if err != nil {
		err = fmt.Errorf("kcat -C: %w: %s", err, stderr.String())
	}
	return n, err
}

// kcat (librdkafka) and franz-go produce to and consume from one partition
// of an RF=3 topic while its leader is killed with SIGKILL and restarted:
// both follow Metadata to the new leader, and at the end every record
// kcat sent and every record franz-go had acknowledged is in the log once,
// in order, and no consumer read a record that is gone.
func TestKcatAndFranzThroughLeaderKill(t *testing.T) {
	t.Parallel()
	kcat := kcatPath(t)
	c := StartCluster(t, ClusterOptions{Brokers: 3})
	const topic = "clients"
	c.CreateTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	w := c.StartWorkload(ctx, topic, WorkloadOptions{KafkaProducers: 1, Consumers: 1, Rate: 300})
	consumeCtx, stopConsume := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var kcatReadErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, kcatReadErr = kcatConsume(consumeCtx, t, c, topic, "kcat-consumer", w.History, false)
	}()

	producer := exec.CommandContext(ctx, kcat, "-P", "-b", strings.Join(c.KafkaAddrs(), ","), "-t", topic, "-p", "0",
		"-X", "acks=all", "-X", "enable.idempotence=true", "-X", "message.timeout.ms=120000",
		"-X", "topic.metadata.refresh.interval.ms=1000", "-X", "linger.ms=5")
	var perr bytes.Buffer
	producer.Stderr = &perr
	stdin, err := producer.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := producer.Start(); err != nil {
		t.Fatal(err)
	}
	const kcatRecords = 3000
	feedDone := make(chan error, 1)
	go func() {
		for i := range kcatRecords {
			if _, err := io.WriteString(stdin, RecordID{Producer: "kcat", Seq: i}.String()+"\n"); err != nil {
				feedDone <- err
				return
			}
			time.Sleep(3 * time.Millisecond)
		}
		feedDone <- stdin.Close()
	}()

	time.Sleep(3 * time.Second)
	leader, err := c.Leader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Broker(leader).Kill()
	t.Logf("killed leader %d", leader)
	time.Sleep(4 * time.Second)
	c.Restart(leader)

	if err := <-feedDone; err != nil {
		t.Fatalf("feeding kcat: %v", err)
	}
	if err := producer.Wait(); err != nil || strings.Contains(perr.String(), "Delivery failed") {
		t.Fatalf("kcat -P: %v\n%s", err, perr.String())
	}
	if err := w.Stop(); err != nil {
		t.Errorf("franz-go workload: %v", err)
	}
	t.Log(w.Summary())
	if err := c.WaitInSync(topic, 1, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	// Let the concurrent kcat consumer reach the end, then read once more
	// with kcat -e.
	time.Sleep(2 * time.Second)
	stopConsume()
	wg.Wait()
	if kcatReadErr != nil {
		t.Errorf("concurrent kcat consumer: %v", kcatReadErr)
	}
	final := NewHistory()
	n, err := kcatConsume(ctx, t, c, topic, "kcat-final", final, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range final.Reads() {
		w.History.Consumed(r)
	}

	report, err := c.Verify(ctx, 0, topic, 1, w.History)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(report)
	if len(report.Violations) > 0 {
		t.Errorf("kcat and franz-go through a leader kill:\n%s", report)
	}
	if n != report.Records {
		t.Errorf("kcat -e read %d records, the log holds %d", n, report.Records)
	}
	seen := map[int]int{}
	for _, r := range final.Reads() {
		if r.ID.Producer == "kcat" {
			seen[r.ID.Seq]++
		}
	}
	for i := range kcatRecords {
		if seen[i] != 1 {
			t.Errorf("kcat record %d is in the log %d times", i, seen[i])
		}
	}
	if ackedBy(w.History, "kafka") < 1000 {
		t.Errorf("franz-go got only %d acknowledgements", ackedBy(w.History, "kafka"))
	}
}
