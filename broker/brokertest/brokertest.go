// Package brokertest starts in-process Runnel clusters for tests: N broker
// nodes, each with its raftmeta voter, logs in t.TempDir() and a Kafka
// listener on a random loopback port.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/group"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// Cluster is a set of in-process broker nodes.
type Cluster struct {
	t      testing.TB
	Nodes  []*broker.Node
	dirs   []string
	kafka  []string // fixed Kafka addresses, kept across restarts
	raft   map[uint64]string
	regs   []*prometheus.Registry // each running node's metrics
	peers  map[int32]string       // replication proxies' addresses, by broker id
	prox   []*Proxy
	opts   Options
	logger *slog.Logger
}

// Options tune a test cluster.
type Options struct {
	// AutoCreateTopics turns on auto.create.topics.enable.
	AutoCreateTopics bool
	// SessionTimeout is broker.session.timeout.ms (default 3 s in tests).
	SessionTimeout time.Duration
	// Verbose logs to stderr instead of discarding.
	Verbose bool
	// FileDeleteDelay is file.delete.delay.ms (default 60 s).
	FileDeleteDelay time.Duration
	// ReplicaLagTimeMax is replica.lag.time.max.ms (default 30 s).
	ReplicaLagTimeMax time.Duration
	// MinInsyncReplicas is the brokers' min.insync.replicas (default 1).
	MinInsyncReplicas int
	// ReplicationProxies puts a Proxy in front of each broker's Kafka
	// listener for the fetches of its followers (NodeConfig.PeerKafkaAddrs):
	// Cluster.Proxy(i).Block cuts broker i off from its followers while
	// clients still reach it.
	ReplicationProxies bool
	// WrapMember, for StartBroker only, wraps the in-memory metadata member
	// the broker uses: a test puts a controller that answers otherwise
	// between them.
	WrapMember func(broker.Member) broker.Member
	// Groups configures the brokers' group coordinators.
	Groups group.Config
	// Tier configures the brokers' tiered storage (one store shared by
	// all, as a cluster shares its bucket). An empty CacheDir gives each
	// broker its own temporary cache.
	Tier broker.TierConfig
	// RetentionCheckInterval is log.retention.check.interval.ms (default
	// 5 min).
	RetentionCheckInterval time.Duration
	// SASL makes the brokers' listeners SASL ones; the helpers that make
	// their own clients (CreateTopic, Client without options) then cannot
	// authenticate.
	SASL *kafkaserver.SASLConfig
	// SCRAM and SuperUsers add SCRAM mechanisms backed by the brokers'
	// metadata (broker.NodeConfig.SCRAM).
	SCRAM      []string
	SuperUsers []string
	// PeerSASL is the followers' credential on their leaders' listeners
	// (Cluster only).
	PeerSASL sasl.Mechanism
}

// Start starts n nodes, all raft voters, and waits until every broker is
// registered and unfenced. They are closed at the end of the test.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if opts.SessionTimeout == 0 {
		opts.SessionTimeout = 3 * time.Second
	}
	c := &Cluster{t: t, raft: map[uint64]string{}, opts: opts, logger: testLogger(opts.Verbose)}
	// Every node's listeners are bound before the first node starts: each
	// node needs the raft addresses of all the voters.
	kafkaLns := make([]net.Listener, n)
	raftLns := make([]net.Listener, n)
	for i := range n {
		kafkaLns[i], raftLns[i] = listen(t), listen(t)
		c.raft[uint64(i+1)] = raftLns[i].Addr().String()
		c.kafka = append(c.kafka, kafkaLns[i].Addr().String())
		c.dirs = append(c.dirs, filepath.Join(t.TempDir(), "node"+strconv.Itoa(i+1)))
	}
	if opts.ReplicationProxies {
		c.peers = map[int32]string{}
		for i := range n {
			px := NewProxy(t, c.kafka[i])
			c.prox = append(c.prox, px)
			c.peers[int32(i+1)] = px.Addr()
		}
	}
	c.Nodes = make([]*broker.Node, n)
	c.regs = make([]*prometheus.Registry, n)
	t.Cleanup(c.Close)
	for i := range n {
		node, err := c.startNodeWith(i, kafkaLns[i], raftLns[i])
		if err != nil {
			for _, ln := range append(kafkaLns[i+1:], raftLns[i+1:]...) {
				ln.Close()
			}
			t.Fatalf("start node %d: %v", i+1, err)
		}
		c.Nodes[i] = node
	}
	c.WaitForBrokers(n)
	return c
}

// testLogger discards logs unless verbose or RUNNEL_TEST_VERBOSE asks for
// them on stderr.
func testLogger(verbose bool) *slog.Logger {
	if verbose || os.Getenv("RUNNEL_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// listen binds a loopback port the kernel picks.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startNodeWith starts node i on the given listeners, or, when they are
// nil, on its fixed addresses.
func (c *Cluster) startNodeWith(i int, kafkaLn, raftLn net.Listener) (*broker.Node, error) {
	c.regs[i] = prometheus.NewRegistry()
	return broker.StartNode(broker.NodeConfig{
		ID: int32(i + 1), DataDir: c.dirs[i], KafkaListen: c.kafka[i], KafkaListener: kafkaLn,
		RaftListen: c.raft[uint64(i+1)], RaftListener: raftLn,
		Voters: c.raft, ClusterID: 7, AutoCreateTopics: c.opts.AutoCreateTopics,
		SessionTimeout: c.opts.SessionTimeout, FileDeleteDelay: c.opts.FileDeleteDelay,
		ReplicaLagTimeMax: c.opts.ReplicaLagTimeMax, MinInsyncReplicas: c.opts.MinInsyncReplicas, PeerKafkaAddrs: c.peers, Groups: c.opts.Groups,
		Tier: c.opts.Tier, RetentionCheckInterval: c.opts.RetentionCheckInterval,
		SASL: c.opts.SASL, SCRAM: c.opts.SCRAM, SuperUsers: c.opts.SuperUsers, PeerSASL: c.opts.PeerSASL,
		Logger: c.logger.With("node", i+1), Metrics: c.regs[i],
	})
}

// startNode starts node i again on its fixed addresses, which it had
// before it stopped.
func (c *Cluster) startNode(i int) {
	c.t.Helper()
	var node *broker.Node
	var err error
	// The addresses were free when the node stopped; retry briefly if
	// another process grabbed one since.
	for attempt := 0; attempt < 50; attempt++ {
		if node, err = c.startNodeWith(i, nil, nil); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("start node %d: %v", i+1, err)
	}
	c.Nodes[i] = node
}

// Stop closes node i (from 0) cleanly.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if n := c.Nodes[i]; n != nil {
		if err := n.Close(); err != nil {
			c.t.Errorf("close node %d: %v", i+1, err)
		}
		c.Nodes[i] = nil
	}
}

// DataDir returns the data directory of node i (from 0), kept across
// restarts.
func (c *Cluster) DataDir(i int) string { return c.dirs[i] }

// Proxy returns the replication proxy in front of node i (from 0); the
// cluster must have started with Options.ReplicationProxies.
func (c *Cluster) Proxy(i int) *Proxy { return c.prox[i] }

// Metrics returns the metrics registry of node i (from 0); a restart gives
// the node a new one.
func (c *Cluster) Metrics(i int) *prometheus.Registry { return c.regs[i] }

// Restart starts a stopped node i again from its data directory.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.startNode(i)
}

// Close stops every node.
func (c *Cluster) Close() {
	for i := range c.Nodes {
		c.Stop(i)
	}
}

// Addrs returns the Kafka addresses of the running nodes.
func (c *Cluster) Addrs() []string {
	var out []string
	for i, n := range c.Nodes {
		if n != nil {
			out = append(out, c.kafka[i])
		}
	}
	return out
}

// Client returns a franz-go client bootstrapped from the cluster, closed at
// the end of the test.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client { return newClient(c.t, c.Addrs(), opts) }

// newClient returns a franz-go client seeded with addrs, closed at the end
// of the test.
func newClient(t testing.TB, addrs []string, opts []kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm admin client on a new franz-go client.
func (c *Cluster) Admin() *kadm.Client { return kadm.NewClient(c.Client()) }

// WaitForBrokers waits until n brokers are registered and unfenced in the
// metadata of every running node.
func (c *Cluster) WaitForBrokers(n int) {
	c.t.Helper()
	testwait.For(c.t, 30*time.Second, 20*time.Millisecond, func() error {
		for i, node := range c.Nodes {
			if node == nil {
				continue
			}
			live := 0
			for _, b := range node.Member.Image().Brokers() {
				if !b.Fenced {
					live++
				}
			}
			if live < n {
				return fmt.Errorf("node %d sees %d of %d brokers registered", i+1, live, n)
			}
		}
		return nil
	})
}

// CreateTopic creates a topic through the Kafka protocol and waits until every
// partition has a leader serving it.
func (c *Cluster) CreateTopic(name string, partitions int32, configs map[string]*string) {
	c.t.Helper()
	c.CreateReplicatedTopic(name, partitions, 1, configs)
}

// CreateReplicatedTopic creates a topic with replication factor rf through
// the Kafka protocol and waits until every partition has a leader serving
// it and every replica opened it.
func (c *Cluster) CreateReplicatedTopic(name string, partitions int32, rf int16, configs map[string]*string) {
	c.t.Helper()
	createTopic(c.t, c.Admin(), name, partitions, rf, configs)
	testwait.For(c.t, 30*time.Second, 20*time.Millisecond, func() error {
		for i, node := range c.Nodes {
			if node == nil {
				continue
			}
			if err := served(node.Member.Image(), node.Broker, int32(i+1), name, partitions); err != nil {
				return fmt.Errorf("node %d: %w", i+1, err)
			}
		}
		return nil
	})
}

// createTopic creates a topic with replication factor rf through the Kafka
// protocol, asking again while too few brokers are unfenced for rf.
func createTopic(t testing.TB, adm *kadm.Client, name string, partitions int32, rf int16, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		resp, err := adm.CreateTopic(ctx, partitions, rf, configs, name)
		// Too few brokers are unfenced: a broker just restarted, or its
		// heartbeat came late on a loaded machine. Nothing was created;
		// it is asked again until they are back or the time is up.
		if err == nil && errors.Is(resp.Err, kerr.InvalidReplicationFactor) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil || resp.Err != nil {
			t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
		}
		return
	}
}

// served says why broker self (b, whose member has img) does not serve
// every partition of topic name yet, or nil once it does.
func served(img *metadata.Image, b *broker.Broker, self int32, name string, partitions int32) error {
	t, ok := img.Topic(name)
	if !ok || len(t.Partitions) != int(partitions) {
		return fmt.Errorf("topic %s with %d partitions not in the metadata", name, partitions)
	}
	for _, p := range t.Partitions {
		if p.Leader < 0 {
			return fmt.Errorf("%s partition %d has no leader", name, p.Index)
		}
		// The broker applies the image after the member has it: until it
		// opened the partition it answers NOT_LEADER_OR_FOLLOWER.
		if slices.Contains(p.Replicas, self) {
			if _, ok := b.Log(commitlog.TopicPartition{Topic: name, Partition: p.Index}); !ok {
				return fmt.Errorf("%s partition %d not opened yet", name, p.Index)
			}
		}
	}
	return nil
}
