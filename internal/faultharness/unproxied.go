package faultharness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// StartUnproxiedCluster starts n "runnel broker" processes like
// StartCluster but with their raft and replication traffic going straight
// from broker to broker, no proxy between: for benchmarks, where a proxy
// would add its copies to every replicated byte. Its Net has no proxies, so
// no network fault can be injected; kill, stop and restart work as in any
// Cluster. Followers fetch from the addresses their leaders registered.
// args are extra flags given to every broker. RUNNEL_BENCH_BIN names a
// runnel binary to run instead of this module's (to compare two builds).
func StartUnproxiedCluster(t testing.TB, n int, args ...string) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("cluster of %d brokers", n)
	}
	bin := os.Getenv("RUNNEL_BENCH_BIN")
	if bin == "" {
		var err error
		if bin, err = BuildRunnel(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	c := &Cluster{t: t, Net: &Network{}, bin: bin}
	t.Cleanup(c.stop)
	var voters []string
	for id := 1; id <= n; id++ {
		b := &Broker{ID: id, Kafka: FreeAddr(t), Raft: FreeAddr(t), Metrics: FreeAddr(t), DataDir: filepath.Join(dir, fmt.Sprintf("broker-%d", id))}
		c.Brokers = append(c.Brokers, b)
		voters = append(voters, fmt.Sprintf("%d@%s", id, b.Raft))
	}
	for _, b := range c.Brokers {
		bargs := append([]string{"broker", "--id", fmt.Sprint(b.ID), "--kafka", b.Kafka, "--raft", b.Raft,
			"--voters", strings.Join(voters, ","), "--data-dir", b.DataDir,
			"--metrics", b.Metrics, "--log-level", "info"}, args...)
		b.Process = NewProcess(fmt.Sprintf("broker-%d", b.ID), bin, filepath.Join(dir, fmt.Sprintf("broker-%d.log", b.ID)), bargs...)
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range c.Brokers {
		c.waitListening(b.Process, b.Kafka)
	}
	c.admin = kadm.NewClient(c.Client())
	c.WaitBrokers(n)
	return c
}
