package faultharness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ClusterOptions describe a cluster to start.
type ClusterOptions struct {
	// Brokers is how many "runnel broker" processes run (3 or 5 usually).
	Brokers int
	// Tags are build tags for the runnel binary (e.g. runnel_unsafe_acks).
	Tags []string
	// BrokerArgs are extra flags given to every broker.
	BrokerArgs []string
	// Gateway starts a "runnel gateway" in front of the brokers.
	Gateway bool
}

// Broker is one broker process of a Cluster.
type Broker struct {
	*Process
	ID          int
	Kafka, Raft string // listen addresses; clients use Kafka directly
	Metrics     string // its --metrics address
	DataDir     string
}

// Cluster is N broker processes whose inter-broker traffic (raft and Kafka
// replication) runs through a Network of proxies, clients connecting to
// the brokers directly. Everything it starts is stopped when the test ends.
type Cluster struct {
	t       testing.TB
	Net     *Network
	Brokers []*Broker // Brokers[id-1]
	Gateway *Gateway  // nil without ClusterOptions.Gateway
	admin   *kadm.Client
	bin     string
}

// listenTimeout bounds the wait for a started process to listen.
const listenTimeout = 60 * time.Second

// StartCluster builds runnel (once per tag set), starts the brokers and waits
// until every one of them is registered in the cluster metadata.
func StartCluster(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	if o.Brokers < 1 {
		t.Fatalf("cluster of %d brokers", o.Brokers)
	}
	bin, err := BuildRunnel(o.Tags...)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The brokers' ports are outside the ephemeral range the proxies'
	// port-0 listeners come from (FreeAddr), so no proxy lands on one.
	raft, kafka, metrics := make([]string, o.Brokers), make([]string, o.Brokers), make([]string, o.Brokers)
	for i := range o.Brokers {
		raft[i], kafka[i], metrics[i] = FreeAddr(t), FreeAddr(t), FreeAddr(t)
	}
	nw, err := NewNetwork(raft, kafka)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, Net: nw, bin: bin}
	t.Cleanup(c.stop)
	for i := range o.Brokers {
		id := i + 1
		b := &Broker{ID: id, Kafka: kafka[i], Raft: raft[i], Metrics: metrics[i], DataDir: filepath.Join(dir, fmt.Sprintf("broker-%d", id))}
		args := append([]string{"broker", "--id", fmt.Sprint(id), "--kafka", b.Kafka, "--raft", b.Raft,
			"--voters", nw.Voters(id), "--peer-kafka-addrs", nw.PeerKafkaAddrs(id), "--data-dir", b.DataDir,
			"--metrics", b.Metrics, "--log-level", "info"}, o.BrokerArgs...)
		b.Process = NewProcess(fmt.Sprintf("broker-%d", id), bin, filepath.Join(dir, fmt.Sprintf("broker-%d.log", id)), args...)
		c.Brokers = append(c.Brokers, b)
	}
	for _, b := range c.Brokers {
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range c.Brokers {
		c.waitListening(b.Process, b.Kafka)
	}
	c.admin = kadm.NewClient(c.Client())
	c.WaitBrokers(o.Brokers)
	if o.Gateway {
		c.Gateway = c.startGateway(bin, dir)
	}
	return c
}

// Ports FreeAddr picks from: below Linux's ephemeral range (32768-60999 by
// default), where the kernel puts the source ports of outgoing connections
// and the listeners on port 0. An address handed out for a process to bind
// later stays free until then; one from the ephemeral range was at times
// taken by a connection of a test running beside it ("address already in
// use").
const (
	freeAddrLow  = 20000
	freeAddrHigh = 32768
)

var handedOut sync.Map // ports FreeAddr gave out in this process

// FreeAddr returns a 127.0.0.1 address that was free a moment ago, on a
// port the kernel does not hand out by itself and this process has not
// handed out before.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 1000 {
		port := freeAddrLow + rand.IntN(freeAddrHigh-freeAddrLow)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return ln.Addr().String()
	}
	t.Fatalf("no free port in %d..%d after 1000 tries", freeAddrLow, freeAddrHigh-1)
	return ""
}

// dialOnce connects to addr and hangs up.
func dialOnce(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	return conn.Close()
}

// waitListening waits until addr accepts connections, failing the test if
// p exits first.
func (c *Cluster) waitListening(p *Process, addr string) {
	c.t.Helper()
	deadline := time.Now().Add(listenTimeout)
	for {
		if dialOnce(addr) == nil {
			return
		}
		select {
		case <-p.Done():
			c.t.Fatalf("%s exited (code %d) before listening on %s:\n%s", p.Name, p.ExitCode(), addr, p.Output(4000))
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s did not listen on %s within %v:\n%s", p.Name, addr, listenTimeout, p.Output(4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills every process and closes the network.
func (c *Cluster) stop() {
	if c.Gateway != nil {
		c.Gateway.Kill()
	}
	for _, b := range c.Brokers {
		b.Kill()
	}
	c.Net.Close()
	if !c.t.Failed() {
		return
	}
	procs := []*Process{}
	for _, b := range c.Brokers {
		procs = append(procs, b.Process)
	}
	if c.Gateway != nil {
		procs = append(procs, c.Gateway.Process)
	}
	// The test's temporary directory goes; the whole logs are kept for the
	// post-mortem.
	keep, err := os.MkdirTemp("", "runnel-faultharness-logs-")
	for _, p := range procs {
		c.t.Logf("=== last output of %s:\n%s", p.Name, p.Output(4000))
		if err == nil {
			if b, rerr := os.ReadFile(p.log); rerr == nil {
				os.WriteFile(filepath.Join(keep, filepath.Base(p.log)), b, 0o644)
			}
		}
	}
	if err == nil {
		c.t.Logf("whole logs of every process kept in %s", keep)
	}
}

// Broker returns broker id (1-based).
func (c *Cluster) Broker(id int) *Broker { return c.Brokers[id-1] }

// KafkaAddrs are the brokers' Kafka addresses, for clients' seeds.
func (c *Cluster) KafkaAddrs() []string {
	var out []string
	for _, b := range c.Brokers {
		out = append(out, b.Kafka)
	}
	return out
}

// Restart starts broker id again (it must have exited) and waits until it
// listens.
func (c *Cluster) Restart(id int) {
	c.t.Helper()
	b := c.Broker(id)
	if err := b.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.waitListening(b.Process, b.Kafka)
}

// Client returns a franz-go client seeded with every broker, closed when the
// test ends.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.KafkaAddrs()...), kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Admin returns the cluster's admin client.
func (c *Cluster) Admin() *kadm.Client { return c.admin }

// WaitBrokers waits until Metadata lists n brokers.
func (c *Cluster) WaitBrokers(n int) {
	c.t.Helper()
	adm := c.Admin()
	c.waitFor(60*time.Second, func(ctx context.Context) error {
		m, err := adm.Metadata(ctx)
		if err != nil {
			return err
		}
		if len(m.Brokers) != n {
			return fmt.Errorf("metadata lists %d brokers, want %d", len(m.Brokers), n)
		}
		return nil
	})
}

// waitFor polls f (each call bounded by 10 s) until it returns nil, failing
// the test with its last error after timeout.
func (c *Cluster) waitFor(timeout time.Duration, f func(ctx context.Context) error) {
	c.t.Helper()
	if err := pollUntil(timeout, f); err != nil {
		c.t.Fatal(err)
	}
}

// pollUntil calls f every 100 ms until it returns nil or timeout passes.
func pollUntil(timeout time.Duration, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CreateTopic creates a topic (retrying while the cluster settles) and waits
// until every partition has a leader and its full replica set in sync.
func (c *Cluster) CreateTopic(name string, partitions int32, rf int16, configs map[string]string) {
	c.t.Helper()
	adm := c.Admin()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	c.waitFor(60*time.Second, func(ctx context.Context) error {
		resp, err := adm.CreateTopic(ctx, partitions, rf, cfg, name)
		if err == nil && resp.Err != nil && !strings.Contains(resp.Err.Error(), "TOPIC_ALREADY_EXISTS") {
			err = resp.Err
		}
		return err
	})
	if err := c.WaitInSync(name, partitions, 60*time.Second); err != nil {
		c.t.Fatal(err)
	}
}

// Partitions returns the topic's partitions as Metadata shows them.
func (c *Cluster) Partitions(ctx context.Context, adm *kadm.Client, topic string) (kadm.PartitionDetails, error) {
	m, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := m.Topics[topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	return td.Partitions, nil
}

// WaitInSync waits until each of the topic's partitions has a leader and
// every replica in its ISR.
func (c *Cluster) WaitInSync(topic string, partitions int32, timeout time.Duration) error {
	adm := c.Admin()
	return pollUntil(timeout, func(ctx context.Context) error {
		ps, err := c.Partitions(ctx, adm, topic)
		if err != nil {
			return err
		}
		if len(ps) != int(partitions) {
			return fmt.Errorf("topic %s has %d partitions, want %d", topic, len(ps), partitions)
		}
		var bad []string
		for _, p := range ps.Sorted() {
			if p.Leader < 0 || p.Err != nil || len(p.ISR) != len(p.Replicas) {
				bad = append(bad, fmt.Sprintf("p%d leader %d replicas %v isr %v err %v", p.Partition, p.Leader, p.Replicas, p.ISR, p.Err))
			}
		}
		if len(bad) > 0 {
			return errors.New("partitions not in sync: " + strings.Join(bad, "; "))
		}
		return nil
	})
}

// DumpLog runs "runnel log dump --records --verify" on broker id's copy of a
// partition (safe while it runs: the files are only read) and returns what
// it printed; an error when the dump fails or finds damage.
func (c *Cluster) DumpLog(id int, topic string, partition int32) (string, error) {
	dir := filepath.Join(c.Broker(id).DataDir, fmt.Sprintf("%s-%d", topic, partition))
	out, err := exec.Command(c.bin, "log", "dump", "--records", "--verify", dir).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("runnel log dump %s: %w\n%s", dir, err, out)
	}
	return string(out), nil
}

// Leader returns the broker leading a partition, per Metadata.
func (c *Cluster) Leader(ctx context.Context, topic string, partition int32) (int, error) {
	ps, err := c.Partitions(ctx, c.Admin(), topic)
	if err != nil {
		return 0, err
	}
	p, ok := ps[partition]
	if !ok || p.Leader < 0 {
		return 0, fmt.Errorf("%s/%d has no leader", topic, partition)
	}
	return int(p.Leader), nil
}
