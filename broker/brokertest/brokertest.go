// Package brokertest starts in-process Runnel clusters for tests: N broker
// nodes, each with its raftmeta voter, logs in t.TempDir() and a Kafka
// listener on a random loopback port.
package brokertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// Cluster is a set of in-process broker nodes.
type Cluster struct {
	t      testing.TB
	Nodes  []*broker.Node
	dirs   []string
	kafka  []string // fixed Kafka addresses, kept across restarts
	raft   map[uint64]string
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
}

// Start starts n nodes, all raft voters, and waits until every broker is
// registered and unfenced. They are closed at the end of the test.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if opts.SessionTimeout == 0 {
		opts.SessionTimeout = 3 * time.Second
	}
	c := &Cluster{t: t, raft: map[uint64]string{}, opts: opts, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if opts.Verbose || os.Getenv("RUNNEL_TEST_VERBOSE") != "" {
		c.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for i := 1; i <= n; i++ {
		c.raft[uint64(i)] = freeAddr(t)
		c.kafka = append(c.kafka, freeAddr(t))
		c.dirs = append(c.dirs, filepath.Join(t.TempDir(), "node"+strconv.Itoa(i)))
	}
	c.Nodes = make([]*broker.Node, n)
	for i := range n {
		c.startNode(i)
	}
	t.Cleanup(c.Close)
	c.WaitForBrokers(n)
	return c
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func (c *Cluster) startNode(i int) {
	c.t.Helper()
	var node *broker.Node
	var err error
	// The fixed ports were free when picked; retry briefly if another
	// process grabbed one in between.
	for attempt := 0; attempt < 50; attempt++ {
		node, err = broker.StartNode(broker.NodeConfig{
			ID: int32(i + 1), DataDir: c.dirs[i], KafkaListen: c.kafka[i], RaftListen: c.raft[uint64(i+1)],
			Voters: c.raft, ClusterID: 7, AutoCreateTopics: c.opts.AutoCreateTopics,
			SessionTimeout: c.opts.SessionTimeout, Logger: c.logger.With("node", i+1),
		})
		if err == nil {
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

// Restart starts a stopped node i again from its data directory.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.startNode(i)
}

// DataDir returns the data directory of node i (from 0), for tests that
// look at or damage its files while it is stopped.
func (c *Cluster) DataDir(i int) string { return c.dirs[i] }

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
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.Admin().CreateTopic(ctx, partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		c.t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
	testwait.For(c.t, 30*time.Second, 20*time.Millisecond, func() error {
		for i, node := range c.Nodes {
			if node == nil {
				continue
			}
			t, ok := node.Member.Image().Topic(name)
			if !ok || len(t.Partitions) != int(partitions) {
				return fmt.Errorf("node %d does not see topic %s with %d partitions", i+1, name, partitions)
			}
			for _, p := range t.Partitions {
				if p.Leader < 0 {
					return fmt.Errorf("node %d: %s partition %d has no leader", i+1, name, p.Index)
				}
			}
		}
		return nil
	})
}
