package broker_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// kcat runs the real kcat (librdkafka) against the cluster and returns stdout.
func kcat(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, stderr, err := kcatRun(t, stdin, args...)
	if err != nil {
		t.Fatalf("kcat %v: %v; stderr: %s", args, err, stderr)
	}
	return out
}

// kcatRun runs kcat and returns its stdout, its stderr and how it exited.
func kcatRun(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed: run `make test-deps`")
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("kcat %v timed out; stderr: %s", args, errb.String())
	}
	return out.String(), errb.String(), err
}

func TestKcatMetadata(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("listed", 3, nil)
	out := kcat(t, nil, "-b", c.Addrs()[0], "-L")
	for _, want := range []string{"1 brokers:", "broker 1 at " + c.Addrs()[0], `topic "listed" with 3 partitions:`, "partition 2, leader 1, replicas: 1, isrs: 1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("kcat -L output lacks %q:\n%s", want, out)
		}
	}
}

// TestKcatCodecs produces 10,000 keyed messages with headers in each codec with
// kcat and consumes them back with kcat: every message comes back unchanged, in
// order within its partition, and every batch is stored in the codec kcat was
// asked for (librdkafka sends gzip, snappy and lz4 uncompressed to a broker
// that does not list Produce v0-v2).
func TestKcatCodecs(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	addr := c.Addrs()[0]
	const n = 10000
	var in bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "key-%d\tvalue-%d-%s\n", i%97, i, strings.Repeat("x", i%50))
	}
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			topic := "codec-" + codec
			c.CreateTopic(topic, 3, nil)
			kcat(t, in.Bytes(), "-b", addr, "-P", "-t", topic, "-z", codec, "-K", "\t",
				"-H", "origin=kcat", "-H", "codec="+codec, "-X", "linger.ms=20")
			stored := storedCodecs(t, c.DataDir(0), topic, 3)
			t.Logf("stored batches by codec: %v", stored)
			if len(stored) != 1 || stored[codec] == 0 {
				t.Fatalf("stored batches by codec %v, want all %s", stored, codec)
			}
			out := kcat(t, nil, "-b", addr, "-C", "-t", topic, "-e", "-q", "-f", "%p\t%o\t%k\t%s\t%h\n")
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != n {
				t.Fatalf("consumed %d messages, produced %d", len(lines), n)
			}
			seen := map[string]bool{}
			lastOffset := map[string]int64{}
			lastValue := map[string]int{} // per key: values grow (same key, same partition)
			for _, l := range lines {
				f := strings.Split(l, "\t")
				if len(f) != 5 {
					t.Fatalf("bad line %q", l)
				}
				off, _ := strconv.ParseInt(f[1], 10, 64)
				if prev, ok := lastOffset[f[0]]; ok && off != prev+1 {
					t.Fatalf("partition %s: offset %d after %d", f[0], off, prev)
				}
				lastOffset[f[0]] = off
				var i int
				if _, err := fmt.Sscanf(f[3], "value-%d-", &i); err != nil || f[3] != fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%50)) {
					t.Fatalf("value %q changed", f[3])
				}
				if f[2] != fmt.Sprintf("key-%d", i%97) {
					t.Fatalf("key %q for value %d", f[2], i)
				}
				if f[4] != "origin=kcat,codec="+codec {
					t.Fatalf("headers %q", f[4])
				}
				if prev, ok := lastValue[f[2]]; ok && i <= prev {
					t.Fatalf("key %s: value %d after %d: order lost", f[2], i, prev)
				}
				lastValue[f[2]] = i
				seen[f[3]] = true
			}
			if len(seen) != n {
				t.Fatalf("%d distinct messages, want %d", len(seen), n)
			}
		})
	}
}

// storedCodecs counts the batches of a topic's segment files by codec.
func storedCodecs(t *testing.T, dataDir, topic string, partitions int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for p := 0; p < partitions; p++ {
		segs, err := filepath.Glob(filepath.Join(dataDir, topic+"-"+strconv.Itoa(p), "*.log"))
		if err != nil || len(segs) == 0 {
			t.Fatalf("segments of %s-%d: %v (found %d)", topic, p, err, len(segs))
		}
		for _, seg := range segs {
			buf, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			for len(buf) > 0 {
				batch, rest, err := recordbatch.Next(buf)
				if err != nil {
					t.Fatalf("%s: %v", seg, err)
				}
				h, err := recordbatch.ParseHeader(batch)
				if err != nil {
					t.Fatalf("%s: %v", seg, err)
				}
				out[h.Codec().String()]++
				buf = rest
			}
		}
	}
	return out
}

// TestKcatOffsetsAndTimestamps consumes from an offset and from a timestamp
// (-o s@ms, which uses ListOffsets by timestamp).
func TestKcatOffsetsAndTimestamps(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	addr := c.Addrs()[0]
	c.CreateTopic("times", 1, nil)
	var first, second bytes.Buffer
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&first, "a%d\n", i)
		fmt.Fprintf(&second, "b%d\n", i)
	}
	kcat(t, first.Bytes(), "-b", addr, "-P", "-t", "times", "-p", "0")
	time.Sleep(50 * time.Millisecond)
	mid := time.Now().UnixMilli()
	time.Sleep(50 * time.Millisecond)
	kcat(t, second.Bytes(), "-b", addr, "-P", "-t", "times", "-p", "0")

	out := kcat(t, nil, "-b", addr, "-C", "-t", "times", "-p", "0", "-o", "150", "-e", "-q", "-f", "%o:%s\n")
	if lines := strings.Fields(out); len(lines) != 50 || lines[0] != "150:b50" || lines[49] != "199:b99" {
		t.Fatalf("from offset 150: %d lines, first %q", len(lines), lines)
	}
	out = kcat(t, nil, "-b", addr, "-C", "-t", "times", "-p", "0", "-o", "s@"+strconv.FormatInt(mid, 10), "-e", "-q", "-f", "%o:%s\n")
	if lines := strings.Fields(out); len(lines) != 100 || lines[0] != "100:b0" {
		t.Fatalf("from timestamp: %d lines, first %v", len(lines), lines[:min(3, len(lines))])
	}
	out = kcat(t, nil, "-b", addr, "-C", "-t", "times", "-p", "0", "-o", "-10", "-e", "-q", "-f", "%o\n")
	if lines := strings.Fields(out); len(lines) != 10 || lines[0] != "190" {
		t.Fatalf("last 10: %v", lines)
	}
}
