package brokertest

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/raftmetatest"
)

// Broker is one broker over in-memory metadata (raftmetatest.Member)
// instead of a raft group: it starts in milliseconds, and a test sets
// partition leaders, ISRs and epochs through Member. Its Kafka listener is
// on a loopback port the kernel picks. For tests of the broker's handlers;
// Cluster runs real nodes.
type Broker struct {
	*broker.Broker
	Member  *raftmetatest.Member
	Server  *kafkaserver.Server
	Metrics *prometheus.Registry

	t      testing.TB
	ln     net.Listener
	served chan error
	closed sync.Once
}

// StartBroker starts broker 1 over in-memory metadata with opts
// (SessionTimeout does not apply: nothing fences it). It is closed at the
// end of the test.
func StartBroker(t testing.TB, opts Options) *Broker {
	t.Helper()
	logger := testLogger(opts.Verbose)
	ln := listen(t)
	m, err := raftmetatest.New(raftmetatest.Options{BrokerID: 1, Addr: ln.Addr().String(), Logger: logger.With("component", "raftmeta")})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var member broker.Member = m
	if opts.WrapMember != nil {
		member = opts.WrapMember(m)
	}
	var srv *kafkaserver.Server
	b, err := broker.New(broker.Config{
		BrokerID: 1, DataDir: t.TempDir(), Member: member, AutoCreateTopics: opts.AutoCreateTopics,
		FileDeleteDelay: opts.FileDeleteDelay, ReplicaLagTimeMax: opts.ReplicaLagTimeMax,
		Tier: opts.Tier, RetentionCheckInterval: opts.RetentionCheckInterval,
		Logger: logger.With("component", "broker"), Metrics: reg,
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	sasl, err := broker.SCRAMListener(opts.SASL, opts.SCRAM, broker.NewScramUsers(m, opts.SuperUsers))
	if err == nil {
		srv, err = kafkaserver.New(kafkaserver.Config{
			Handler: b, APIs: broker.APIs(), Logger: logger.With("component", "kafka"), Metrics: reg, SASL: sasl,
		})
	}
	if err != nil {
		b.Close()
		ln.Close()
		t.Fatal(err)
	}
	b.Start()
	tb := &Broker{Broker: b, Member: m, Server: srv, Metrics: reg, t: t, ln: ln, served: make(chan error, 1)}
	go func() { tb.served <- srv.Serve(ln) }()
	t.Cleanup(tb.Close)
	return tb
}

// Close stops serving and closes the broker's logs cleanly; the test's
// cleanup calls it too, so calling it earlier is optional.
func (b *Broker) Close() {
	b.closed.Do(func() {
		err := b.Server.Close()
		if serr := <-b.served; serr != nil && !errors.Is(serr, net.ErrClosed) && !errors.Is(serr, kafkaserver.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		if err = errors.Join(err, b.Broker.Close()); err != nil {
			b.t.Errorf("close broker: %v", err)
		}
	})
}

// Addr returns the address of the Kafka listener.
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// Client returns a franz-go client seeded with the broker, closed at the end
// of the test.
func (b *Broker) Client(opts ...kgo.Opt) *kgo.Client {
	return newClient(b.t, []string{b.Addr()}, opts)
}

// Admin returns a kadm admin client on a new franz-go client.
func (b *Broker) Admin() *kadm.Client { return kadm.NewClient(b.Client()) }

// CreateTopic creates a topic through the Kafka protocol and waits until the
// broker serves every partition.
func (b *Broker) CreateTopic(name string, partitions int32, configs map[string]*string) {
	b.t.Helper()
	createTopic(b.t, b.Admin(), name, partitions, 1, configs)
	testwait.For(b.t, 10*time.Second, 5*time.Millisecond, func() error {
		return served(b.Member.Image(), b.Broker, 1, name, partitions)
	})
}
